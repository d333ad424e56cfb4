from __future__ import annotations

from pathlib import Path

import pytest

from polyrelay.settings import (
    ConfigError,
    ModelConfig,
    ProviderConfig,
    Settings,
    StaticKey,
    embedded_settings,
    load_settings,
    parse_settings,
)

DESIGN_EXAMPLE = """\
listen: 127.0.0.1:8080
database: sqlite:///polyrelay.db          # postgresql://... for several replicas
default_model: claude-opus-4-6
providers:
  anthropic: {type: anthropic, base_url: https://api.anthropic.com, api_key: "${ANTHROPIC_API_KEY}"}
  openai:    {type: openai, base_url: https://api.openai.com/v1, api_key: "${OPENAI_API_KEY}"}
  openai-r:  {type: openai-responses, base_url: https://api.openai.com/v1,
              api_key: "${OPENAI_API_KEY}"}
  gemini:    {type: gemini, base_url: https://generativelanguage.googleapis.com,
              api_key: "${GEMINI_API_KEY}"}
  local:     {type: openai, base_url: http://127.0.0.1:11434/v1}     # Ollama, vLLM, llama.cpp, ...
models:
  claude-opus-4-6: {provider: anthropic}
  gpt-5-mini:      {provider: openai-r}
  gemini-2.5-flash: {provider: gemini}
  qwen:            {provider: local, model: "qwen2.5:0.5b", context_window: 32768}
keys:                                      # optional static client keys
  - {key: "${CLIENT_KEY}", name: ci}
"""

MINIMAL = "providers:\n  p: {type: openai, base_url: http://x/v1}\nmodels:\n  m: {provider: p}\n"


def parse(text: str, env: dict[str, str] | None = None) -> Settings:
    return parse_settings(text, source="polyrelay.yaml", env=env or {})


def config_error(text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    return str(info.value)


def test_design_example_parses_with_env_expansion() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant", "OPENAI_API_KEY": "sk-oai", "CLIENT_KEY": "sk-client"}
    settings = parse(DESIGN_EXAMPLE, env)
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.providers["anthropic"] == ProviderConfig(
        name="anthropic", type="anthropic", base_url="https://api.anthropic.com", api_key="sk-ant"
    )
    assert settings.providers["openai-r"].api_key == "sk-oai"
    assert settings.models["qwen"] == ModelConfig(
        name="qwen", provider="local", model="qwen2.5:0.5b", context_window=32768
    )
    assert settings.models["gpt-5-mini"].model == "gpt-5-mini"
    assert settings.keys == (StaticKey(key="sk-client", name="ci"),)
    assert settings.source == "polyrelay.yaml"
    assert not settings.embedded_emulator


def test_unset_variable_means_no_api_key_and_no_static_key() -> None:
    settings = parse(DESIGN_EXAMPLE, {})
    assert settings.providers["gemini"].api_key is None
    assert settings.keys == ()


def test_plain_variable_is_typed_after_expansion() -> None:
    text = "providers:\n  p:\n    type: openai\n    base_url: http://x\n    timeout: ${T}\n"
    text += "models: {}\n"
    assert parse(text, {"T": "12"}).providers["p"].timeout == 12.0


def test_listen_max_body_and_log_level() -> None:
    settings = parse(f"listen: '[::1]:9000'\nmax_body_bytes: 1024\nlog_level: debug\n{MINIMAL}")
    assert (settings.host, settings.port) == ("::1", 9000)
    assert (settings.max_body_bytes, settings.log_level) == (1024, "debug")


def test_provider_options() -> None:
    text = (
        "providers:\n  p:\n    type: anthropic\n    base_url: http://x\n    connect_timeout: 2\n"
        "    headers: {x-extra: '1'}\n    pdf: false\nmodels:\n"
        "  m: {provider: p, input_price: 3, output_price: 15.5, vision: false, pdf: true}\n"
    )
    settings = parse(text)
    assert settings.providers["p"].headers == {"x-extra": "1"}
    assert settings.providers["p"].connect_timeout == 2.0
    assert settings.providers["p"].pdf is False
    model = settings.models["m"]
    assert (model.input_price, model.output_price, model.vision, model.pdf) == (
        3.0,
        15.5,
        False,
        True,
    )


def test_unknown_key_names_key_line_and_allowed_keys() -> None:
    text = (
        "providers:\n  openai: {type: openai, base_url: http://x}\nmodels:\n"
        "  gpt-5-mini:\n    provider: openai\n    providr: openai\n"
    )
    message = config_error(text)
    assert message.startswith("polyrelay.yaml:6: unknown key 'providr' in models.gpt-5-mini")
    assert "(allowed: provider, model, context_window," in message


def test_unknown_top_level_key() -> None:
    message = config_error(f"{MINIMAL}prot: 1\n")
    assert message.startswith("polyrelay.yaml:5: unknown key 'prot' at top level (allowed:")
    assert "listen" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "providers:\n  p: {type: grpc, base_url: http://x}\nmodels: {}\n",
            "polyrelay.yaml:2: providers.p.type: invalid value 'grpc' (allowed:",
        ),
        (
            "providers:\n  p: {type: openai, base_url: http://x}\nmodels:\n  m: {provider: q}\n",
            "polyrelay.yaml:4: models.m.provider: undefined provider 'q' (defined: p)",
        ),
        (
            "providers:\n  p: {type: openai, base_url: http://x, timeout: soon}\nmodels: {}\n",
            "polyrelay.yaml:2: providers.p.timeout: expected a number > 0, got 'soon'",
        ),
        (
            "providers:\n  p: {type: openai, base_url: '${LOCAL_URL}'}\nmodels: {}\n",
            "polyrelay.yaml:2: providers.p: base_url: expected an http:// or https:// URL, got ''",
        ),
        (
            "providers:\n  p: {type: openai, base_url: api.openai.com/v1}\nmodels: {}\n",
            "polyrelay.yaml:2: providers.p: base_url: expected an http:// or https:// URL,"
            " got 'api.openai.com/v1'",
        ),
        (
            "providers:\n  p: {type: openai, base_url: http://x, api_key: '${K:-sk-1}'}\n"
            "models: {}\n",
            "polyrelay.yaml:2: only ${NAME} expands from the environment (no ${NAME:-default}",
        ),
        (
            "providers:\n  p: {type: openai}\nmodels: {}\n",
            "polyrelay.yaml:2: providers.p: missing required key 'base_url'",
        ),
        (f"{MINIMAL}listen: nowhere\n", "polyrelay.yaml:5: listen: expected HOST:PORT"),
        (f"{MINIMAL}max_body_bytes: 0\n", "polyrelay.yaml:5: max_body_bytes: 0 is out of range"),
        (
            f"{MINIMAL}database: sqlite:///\n",
            "polyrelay.yaml:5: database: sqlite:/// names no file (e.g. sqlite:///polyrelay.db)",
        ),
        (f"{MINIMAL}log_level: loud\n", "polyrelay.yaml:5: log_level: invalid value 'loud'"),
        (f"{MINIMAL}default_model: x\n", "polyrelay.yaml:5: default_model: 'x' is not among"),
        (
            f"{MINIMAL}database_pool_mode: statement\n",
            "polyrelay.yaml:5: database_pool_mode: invalid value 'statement'",
        ),
        (
            f"{MINIMAL}database_pool_mode: transaction\n",
            "polyrelay.yaml:5: database_pool_mode: applies to a PostgreSQL database only",
        ),
        (
            f"{MINIMAL}redis: cache:6379\n",
            "polyrelay.yaml:5: redis: expected a string matching ^(redis|rediss|unix)://,"
            " got 'cache:6379'",
        ),
        (
            f"{MINIMAL}media: {{pdf_seconds: 0}}\n",
            "polyrelay.yaml:5: media.pdf_seconds: 0 is out of range",
        ),
        (
            f"{MINIMAL}media: {{pdf_memory_bytes: 1000}}\n",
            "polyrelay.yaml:5: media.pdf_memory_bytes: 1000 is out of range",
        ),
        (
            f"{MINIMAL}media: {{pdf_processes: 0}}\n",
            "polyrelay.yaml:5: media.pdf_processes: 0 is out of range",
        ),
        ("providers: []\nmodels: {}\n", "polyrelay.yaml:1: providers: expected a mapping"),
        ("providers: {}\n", "polyrelay.yaml:1: missing required key 'models'"),
        ("providers: {}\nmodels: {}\nmodels: {}\n", "polyrelay.yaml:3: duplicate key 'models'"),
        ("providers: {\n", "polyrelay.yaml:2: invalid YAML:"),
        ("", "polyrelay.yaml: the file is empty"),
        (
            f"{MINIMAL}keys:\n  - {{key: abc, name: ''}}\n",
            "polyrelay.yaml:6: keys[0]: name: must not be empty",
        ),
        (
            f"{MINIMAL}keys:\n  - {{key: abc}}\n",
            "polyrelay.yaml:6: keys[0]: missing required key 'name'",
        ),
        (
            f"{MINIMAL}keys:\n  - {{key: abc, name: ci, models: [m]}}\n"
            "  - {key: def, name: cd,\n     models: [m, gtp-4o]}\n",
            "polyrelay.yaml:8: keys[1].models: unknown model 'gtp-4o' (configured: m)",
        ),
        (
            "providers:\n  p: {type: openai, base_url: http://x}\n"
            "models:\n  m: {provider: p, vision: 2}\n",
            "polyrelay.yaml:4: models.m.vision: expected true or false, got '2'",
        ),
    ],
)
def test_invalid_config_names_line_and_problem(text: str, expected: str) -> None:
    assert config_error(text).startswith(expected)


@pytest.mark.parametrize(
    ("extra", "through_postgres"),
    [
        ("", False),  # SQLite: processes poll
        ("database: postgresql://db/x\n", True),
        ("database: postgresql://db/x\ndatabase_pool_mode: transaction\n", False),
        ("database: postgresql://db/x\nredis: redis://cache:6379/0\n", False),
    ],
)
def test_signals_go_through_postgresql_only_without_redis_and_per_session(
    extra: str, through_postgres: bool
) -> None:
    settings = parse(MINIMAL + extra)
    assert settings.signals_through_postgres is through_postgres


@pytest.mark.parametrize(
    "database",
    [
        "postgresql://relay:hunter@2@db.internal:5432/polyrelay",
        "postgresql://relay:hunter/2@db.internal:5432/polyrelay",
        "postgres://relay:hun@ter/2@db.internal/polyrelay?sslmode=require",
    ],
)
def test_a_postgresql_password_with_a_raw_at_or_slash_is_refused_unquoted(database: str) -> None:
    message = config_error(f"{MINIMAL}database: {database}\n")
    assert message.startswith("polyrelay.yaml:5: database: the user name or password has")
    assert "hunter" not in message and "ter/2" not in message


def test_a_percent_encoded_postgresql_password_is_taken() -> None:
    text = f"{MINIMAL}database: postgresql://relay:hunter%402%2F@db/x?user=a@b\n"
    assert parse(text).database == "postgresql://relay:hunter%402%2F@db/x?user=a@b"


def test_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(None, {}).source == "embedded default"
    (tmp_path / "polyrelay.yaml").write_text(MINIMAL)
    assert load_settings(None, {}).source == "polyrelay.yaml"
    other = tmp_path / "other.yaml"
    other.write_text(MINIMAL)
    assert load_settings(None, {"POLYRELAY_CONFIG": str(other)}).source == str(other)
    explicit = tmp_path / "explicit.yaml"
    explicit.write_text(MINIMAL)
    assert load_settings(str(explicit), {"POLYRELAY_CONFIG": str(other)}).source == str(explicit)


def test_missing_config_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*missing\.yaml"):
        load_settings(str(tmp_path / "missing.yaml"), {})


def test_embedded_default_without_keys_is_the_emulator() -> None:
    settings = embedded_settings({})
    assert settings.embedded_emulator
    assert settings.source == "embedded default"
    assert settings.database == "sqlite:///polyrelay.db"
    base = "http://127.0.0.1:8080/_upstream/emulator"
    assert {(p.name, p.type, p.base_url) for p in settings.providers.values()} == {
        ("emulator-openai", "openai", f"{base}/v1"),
        ("emulator-responses", "openai-responses", f"{base}/v1"),
        ("emulator-anthropic", "anthropic", base),
        ("emulator-gemini", "gemini", base),
    }
    routes = {name: model.provider for name, model in settings.models.items()}
    assert routes["claude-opus-4-6"] == "emulator-anthropic"
    assert routes["gpt-4o-mini"] == "emulator-openai"
    assert routes["gpt-5-mini"] == "emulator-responses"
    assert routes["gemini-2.5-flash"] == "emulator-gemini"
    assert settings.default_model == "claude-opus-4-6"


def test_with_listen_moves_emulator_providers() -> None:
    settings = embedded_settings({}).with_listen("0.0.0.0", 9999)
    assert (settings.host, settings.port) == ("0.0.0.0", 9999)
    assert settings.providers["emulator-anthropic"].base_url == (
        "http://127.0.0.1:9999/_upstream/emulator"
    )
    ipv6 = embedded_settings({}).with_listen("::1", 9999)
    assert ipv6.providers["emulator-openai"].base_url.startswith("http://[::1]:9999/")


def test_the_embedded_emulator_is_called_with_a_fresh_secret() -> None:
    settings = embedded_settings({})
    key = settings.embedded_emulator_key
    assert key and len(key) >= 40
    assert {p.api_key for p in settings.providers.values()} == {key}
    assert embedded_settings({}).embedded_emulator_key != key
    assert settings.with_listen("0.0.0.0", 9999).embedded_emulator_key == key
    real = embedded_settings({"OPENAI_API_KEY": "o"})
    assert real.embedded_emulator_key is None


def test_with_listen_leaves_real_providers_alone() -> None:
    settings = parse(MINIMAL).with_listen("0.0.0.0", 1)
    assert settings.providers["p"].base_url == "http://x/v1"
    assert settings.port == 1


def test_embedded_default_uses_real_providers_for_set_keys() -> None:
    settings = embedded_settings({"ANTHROPIC_API_KEY": "a", "OPENAI_API_KEY": "o"})
    assert not settings.embedded_emulator
    assert set(settings.providers) == {"anthropic", "openai", "openai-responses"}
    assert settings.providers["openai"].base_url == "https://api.openai.com/v1"
    assert settings.providers["anthropic"].api_key == "a"
    assert settings.models["gpt-5-mini"].provider == "openai-responses"
    assert settings.models["gpt-4o-mini"].provider == "openai"
    assert {"claude-opus-4-6", "claude-sonnet-4-5"} <= set(settings.models)
    assert "gemini-2.5-flash" not in settings.models


def test_embedded_default_model_falls_back_to_an_available_model() -> None:
    settings = embedded_settings({"GEMINI_API_KEY": "g"})
    assert settings.default_model == "gemini-2.5-flash"
    assert settings.providers["gemini"].base_url == "https://generativelanguage.googleapis.com"


def test_static_keys_take_an_expiry() -> None:
    def expiring(when: str) -> str:
        return f"{MINIMAL}keys:\n  - {{key: sk-x, name: ci, expires_at: {when}}}\n"

    [key] = parse(expiring('"2027-01-31"')).keys
    assert key.expiry() == 1_801_353_600  # midnight UTC
    [key] = parse(expiring('"2027-01-31T01:00:00+01:00"')).keys
    assert key.expiry() == 1_801_353_600
    message = config_error(expiring('"next tuesday"'))
    assert "expires_at" in message and "ISO 8601" in message


def test_static_keys_take_limits() -> None:
    settings = parse(f"{MINIMAL}keys:\n  - {{key: sk-x, name: ci, rpm: 60, token_budget: 900}}\n")
    [key] = settings.keys
    assert (key.rpm, key.tpm, key.token_budget) == (60, None, 900)
    message = config_error(f"{MINIMAL}keys:\n  - {{key: sk-x, name: ci, rpm: 0}}\n")
    assert "rpm" in message and ">= 1" in message


def test_variables_expand_in_names_as_in_values() -> None:
    """A provider, model or header name written as ${NAME} is the variable's value."""
    text = (
        "providers:\n"
        "  ${PROVIDER}: {type: openai, base_url: http://x/v1, headers: {'${HEADER}': v}}\n"
        "models:\n  ${MODEL}: {provider: '${PROVIDER}'}\n"
    )
    env = {"PROVIDER": "local", "HEADER": "X-Team", "MODEL": "qwen"}
    settings = parse(text, env)
    assert settings.providers["local"].name == "local"
    assert settings.providers["local"].headers == {"X-Team": "v"}
    assert settings.models["qwen"].provider == "local" and settings.models["qwen"].model == "qwen"
    assert config_error(text, {**env, "MODEL": ""}) == (
        "polyrelay.yaml:4: models: entry name: must not be empty"
        " (${MODEL} expands to nothing: set the variable)"
    )


@pytest.mark.parametrize(
    ("extra", "path", "value"),
    [
        ("", "providers.p.timeout", ".inf"),
        ("", "providers.p.connect_timeout", ".inf"),
        ("", "providers.p.timeout", "-.inf"),
        ("models:\n  m: {provider: p, input_price: .inf}\n", "models.m.input_price", None),
        ("stream_keepalive_seconds: .inf\n", "stream_keepalive_seconds", None),
        ("responses: {websocket_max_seconds: .inf}\n", "responses.websocket_max_seconds", None),
        ("fetch: {total_timeout: .inf}\n", "fetch.total_timeout", None),
        ("search: {timeout: .inf}\n", "search.timeout", None),
        ("media: {pdf_seconds: .inf}\n", "media.pdf_seconds", None),
    ],
)
def test_durations_sizes_and_prices_are_finite(extra: str, path: str, value: str | None) -> None:
    """YAML's .inf passed every lower bound: `timeout: .inf` meant no timeout at all."""
    provider = "  p: {type: openai, base_url: http://x/v1" + (
        f", {path.rsplit('.', 1)[1]}: {value}}}\n" if value else "}\n"
    )
    models = "" if extra.startswith("models") else "models:\n  m: {provider: p}\n"
    error = config_error(f"providers:\n{provider}{models}{extra}")
    assert f": {path}: expected a finite number, got " in error, error


@pytest.mark.parametrize(
    ("provider", "problem"),
    [
        ('headers: {X-Team: "a\\r\\nX-Evil: 1"}', "headers: X-Team: the value has a line break"),
        ('headers: {X-Team: "a\\nb"}', "headers: X-Team: the value has a line break"),
        ("headers: {X-Team: '${VALUE}'}", "headers: X-Team: the value has a line break"),
        ("headers: {'X Team': a}", "headers: 'X Team' is not a header name"),
        ('headers: {"X-A: 1\\r\\nX-Evil": a}', "headers: 'X-A: 1\\r\\nX-Evil' is not a"),
        ('api_key: "sk-1\\r\\nX-Evil: 1"', "api_key: the value has a line break"),
    ],
)
def test_upstream_header_fields_are_one_line(provider: str, problem: str) -> None:
    """They go into every upstream request: a line break would add a header of its own."""
    text = f"providers:\n  p: {{type: openai, base_url: http://x/v1, {provider}}}\n"
    error = config_error(text + "models:\n  m: {provider: p}\n", {"VALUE": "a\r\nX-Evil: 1"})
    assert error.startswith(f"polyrelay.yaml:2: providers.p: {problem}"), error
    assert "X-Evil: 1" not in error  # the value is not shown: it may be a secret


@pytest.mark.parametrize(
    ("models", "expected"),
    [
        ("  m: {provider: p, model: ''}\n", "polyrelay.yaml:4: models.m: model: must not be empty"),
        (
            "  m: {provider: p, model: '${UPSTREAM}'}\n",
            "polyrelay.yaml:4: models.m: model: must not be empty",
        ),
        ("  '': {provider: p}\n", "polyrelay.yaml:4: models: entry name: must not be empty"),
        ("  ' ': {provider: p}\n", "polyrelay.yaml:4: models: entry name: must not be empty"),
    ],
)
def test_names_are_not_empty(models: str, expected: str) -> None:
    assert config_error(MINIMAL.split("models:")[0] + "models:\n" + models) == expected
    provider = "providers:\n  '': {type: openai, base_url: http://x/v1}\nmodels: {}\n"
    assert config_error(provider).startswith("polyrelay.yaml:2: providers: entry name: must")


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        (
            "{backend: brave, api_key: '${VALUE}'}",
            "polyrelay.yaml:5: search: api_key: the value has a line break",
        ),
        (
            "{backend: searxng, base_url: 'searx.local:8888'}",
            "polyrelay.yaml:5: search: base_url: expected an http:// or https:// URL",
        ),
    ],
)
def test_the_search_backends_url_and_key_are_checked_as_a_providers(
    search: str, expected: str
) -> None:
    """The search backend's key goes into a header of every search, as a provider's key
    does into every request: it was sent with its line breaks."""
    error = config_error(MINIMAL + f"search: {search}\n", {"VALUE": "a\r\nX-Evil: 1"})
    assert error.startswith(expected), error
    assert "X-Evil" not in error
