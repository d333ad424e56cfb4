"""The per-model `prompt_caching` setting: `off` by default, `auto` to have translated
requests to Anthropic cache their prompt; a bare YAML `off` (a YAML 1.1 boolean) reads as
the word, and any other value is a config error naming the allowed ones."""

from __future__ import annotations

import pytest

from polyrelay.settings import ConfigError, Settings, parse_settings

PROVIDER = "providers:\n  a: {type: anthropic, base_url: http://x}\n"


def _parse(model: str) -> Settings:
    return parse_settings(f"{PROVIDER}models:\n  c: {model}\n", source="polyrelay.yaml", env={})


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("{provider: a}", "off"),
        ("{provider: a, prompt_caching: auto}", "auto"),
        ("{provider: a, prompt_caching: off}", "off"),
        ('{provider: a, prompt_caching: "off"}', "off"),
    ],
)
def test_prompt_caching_values(model: str, expected: str) -> None:
    assert _parse(model).models["c"].prompt_caching == expected


@pytest.mark.parametrize("value", ["always", "true", "yes"])
def test_a_bad_value_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        _parse(f"{{provider: a, prompt_caching: {value}}}")
    assert str(info.value) == (
        f"polyrelay.yaml:4: models.c.prompt_caching: invalid value {value!r} (allowed: auto, off)"
    )
