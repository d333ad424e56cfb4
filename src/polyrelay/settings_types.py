"""The configuration's types: providers, models, static keys and the Settings they make
up, whether read from the YAML file (polyrelay.settings_reader) or the embedded default
(polyrelay.settings_embedded); polyrelay.settings gathers them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, ClassVar, Literal

import msgspec

from polyrelay.database_url import PoolMode, is_postgres_url
from polyrelay.fetch.settings import FetchSettings
from polyrelay.media.settings import MediaSettings
from polyrelay.search.settings import SearchSettings
from polyrelay.settings_values import (
    check_header_value,
    check_headers,
    check_http_url,
    require_name,
)
from polyrelay.tasks.settings import TasksSettings

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ConfigError",
    "LogLevel",
    "ModelConfig",
    "NonNegative",
    "Positive",
    "ProviderConfig",
    "ProviderType",
    "ResponsesSettings",
    "Settings",
    "StaticKey",
    "emulator_providers",
]

ProviderType = Literal["openai", "openai-responses", "anthropic", "gemini"]
LogLevel = Literal["critical", "error", "warning", "info", "debug", "trace"]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Positive = Annotated[int, msgspec.Meta(ge=1)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


class ConfigError(Exception):
    """The configuration cannot be used; the message says where and what to fix."""


class ProviderConfig(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    type: ProviderType
    base_url: str
    api_key: str | None = None
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 600.0
    connect_timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    headers: dict[str, str] = {}
    pdf: bool | None = None
    """Whether the upstream reads PDFs natively; None means the provider type's default."""

    def __post_init__(self) -> None:
        check_http_url("base_url", self.base_url)
        check_headers(self.headers)
        check_header_value("api_key", self.api_key)  # sent in a header too


class ModelConfig(msgspec.Struct, frozen=True, kw_only=True):
    key_defaults: ClassVar[tuple[str, ...]] = ("model",)

    name: str
    provider: str
    model: str
    """The upstream's own model name; defaults to the public `name`."""
    context_window: Positive | None = None
    max_output_tokens: Positive | None = None
    input_price: NonNegative | None = None
    """USD per million input tokens."""
    output_price: NonNegative | None = None
    """USD per million output tokens."""
    cache_read_price: NonNegative | None = None
    """USD per million input tokens read from the provider's prompt cache; unset,
    `input_price`."""
    cache_write_price: NonNegative | None = None
    """USD per million input tokens written to the prompt cache; unset, `input_price`."""
    cache_write_1h_price: NonNegative | None = None
    """USD per million input tokens written to the prompt cache for one hour (Anthropic's
    `ttl: 1h`, billed above a 5-minute write); unset, `cache_write_price`."""
    vision: bool = True
    pdf: bool | None = None
    reasoning: bool = True
    """False for a model that takes no reasoning settings (OpenAI refuses
    `reasoning_effort` for gpt-4o-mini): a translated request's are left out, warned."""
    prompt_caching: Literal["off", "auto"] = "off"
    """`auto`: a translated request to an upstream that caches only where told
    (Anthropic) asks it to cache the prompt up to its end, unless the request marks
    breakpoints of its own (cache writes cost more than input, reads far less)."""

    def __post_init__(self) -> None:
        require_name("model", self.model)  # else every request asks the upstream for ''


class StaticKey(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    name: str
    models: tuple[str, ...] | None = None
    rpm: Positive | None = None
    tpm: Positive | None = None
    token_budget: Positive | None = None
    expires_at: str | None = None
    """An ISO 8601 date or time (UTC unless it names its offset) from which the key is
    refused, e.g. 2027-01-31 or 2027-01-31T18:00:00+01:00."""

    def __post_init__(self) -> None:
        require_name("name", self.name)  # it is the key's identity (static:NAME)
        if self.expires_at is not None:
            self.expiry()  # refuse a malformed one when the config is read

    def expiry(self) -> int | None:
        """`expires_at` as Unix time."""
        if self.expires_at is None:
            return None
        try:
            moment = datetime.fromisoformat(self.expires_at)
        except ValueError:
            raise ValueError(
                f"expires_at: {self.expires_at!r} is not an ISO 8601 date or time"
            ) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp())


RedisUrl = Annotated[str, msgspec.Meta(pattern=r"^(redis|rediss|unix)://")]


class ResponsesSettings(msgspec.Struct, frozen=True, kw_only=True):
    retention_seconds: Annotated[int, msgspec.Meta(ge=0)] = 30 * 24 * 3600
    """Stored Responses are deleted this long after they were created (OpenAI's 30 days);
    0 keeps them forever."""
    websocket_max_seconds: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    """A Responses WebSocket connection lasts at most this long (OpenAI's 60 minutes): its
    turns under way finish, then it closes with `websocket_connection_limit_reached`."""
    websocket_memory_bytes: Annotated[int, msgspec.Meta(gt=0)] = 128 * 1024 * 1024
    """What the WebSocket connections of a server process remember of their responses
    together (turns' bodies and answers as sent), for `store: false` chains; past it the
    oldest across connections are forgotten. Connections per key are not limited, and
    each may hold twice max_body_bytes for its hour. 128 MiB is 4 of the default 32 MB
    bodies; kept, a response takes 2 to 3 times its JSON, so this bounds the memories
    near 400 MB of RSS (100 idle connections after a 2 MB turn each: 53 -> 424 MB, was
    1305), while the newest turns of hundreds of Codex connections (tens of KB each) fit."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = DEFAULT_HOST
    port: Port = DEFAULT_PORT
    database: str = "sqlite:///polyrelay.db"
    redis: RedisUrl | None = None
    """Redis for signals between replicas and worker processes (polyrelay.signals_redis):
    followers, task waiters and key caches react at once to another process's change.
    None: on PostgreSQL the database carries them (LISTEN/NOTIFY); on SQLite each
    process polls the database instead."""
    database_pool_mode: PoolMode = "session"
    """How a pooler between the gateway and PostgreSQL hands out server connections.
    `transaction` (PgBouncer's pool_mode = transaction, most managed poolers): psycopg
    prepares no statement on the server, and replicas cannot LISTEN for each other's
    signals (set `redis` for those; without it they poll)."""
    default_model: str = "claude-opus-4-6"
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    keys: tuple[StaticKey, ...] = ()
    max_body_bytes: Positive = 32 * 1024 * 1024
    stream_keepalive_seconds: NonNegative = 10.0
    """Silence after which a stream gets a keep-alive frame (ping / SSE comment); 0: never."""
    workers: Positive = 1
    embedded_emulator: bool = False
    source: str
    """The config file's path, or "embedded default"."""
    log_level: LogLevel = "info"
    fetch: FetchSettings = FetchSettings()
    """The hardened URL fetcher: allow-list, size cap, timeouts."""
    media: MediaSettings = MediaSettings()
    """Limits on reading PDFs for models that cannot (time, memory, processes)."""
    search: SearchSettings = SearchSettings()
    """The web search backend."""
    tasks: TasksSettings = TasksSettings()
    """The async task mode."""
    responses: ResponsesSettings = ResponsesSettings()
    """Stored OpenAI Responses."""

    @property
    def signals_through_postgres(self) -> bool:
        """Whether processes signal each other through PostgreSQL's LISTEN/NOTIFY: no Redis
        is set and the database is PostgreSQL, reached per session (LISTEN needs one)."""
        postgres = is_postgres_url(self.database)
        return self.redis is None and postgres and self.database_pool_mode == "session"

    def with_listen(self, host: str, port: int) -> Settings:
        """A copy listening on host:port; emulator providers follow the new address."""
        if not self.embedded_emulator:
            return msgspec.structs.replace(self, host=host, port=port)
        providers = emulator_providers(host, port, self.embedded_emulator_key)
        return msgspec.structs.replace(self, host=host, port=port, providers=providers)

    @property
    def embedded_emulator_key(self) -> str | None:
        """The secret the mounted emulator asks of every caller: the API key its providers
        send. Workers get it with the rest of the settings, so each accepts every other's."""
        if not self.embedded_emulator:
            return None
        return next(iter(self.providers.values())).api_key


_EMULATOR_PROVIDERS: tuple[tuple[str, ProviderType, str], ...] = (
    ("emulator-openai", "openai", "/v1"),
    ("emulator-responses", "openai-responses", "/v1"),
    ("emulator-anthropic", "anthropic", ""),
    ("emulator-gemini", "gemini", ""),
)


def emulator_providers(host: str, port: int, api_key: str | None) -> dict[str, ProviderConfig]:
    """The emulator mounted inside the gateway itself, reached over real HTTP with the
    secret `api_key` that the mount asks for."""
    # A wildcard bind address accepts connections but is no address to connect to.
    connect = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in connect:
        connect = f"[{connect}]"
    base = f"http://{connect}:{port}/_upstream/emulator"
    return {
        name: ProviderConfig(name=name, type=type_, base_url=base + suffix, api_key=api_key)
        for name, type_, suffix in _EMULATOR_PROVIDERS
    }
