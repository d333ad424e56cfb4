"""The embedded default: no config file. Real providers for the API keys in the
environment, each with a small catalogue of its models, else the built-in emulator mounted
in the gateway itself."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

import msgspec

from polyrelay.settings_types import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ModelConfig,
    ProviderConfig,
    ProviderType,
    Settings,
    emulator_providers,
)

__all__ = ["embedded_settings"]

_EMBEDDED = "embedded default"
_CATALOGUE_FIELDS = (
    "name",
    "context_window",
    "max_output_tokens",
    "input_price",
    "output_price",
    "cache_read_price",
    "cache_write_price",
    "cache_write_1h_price",
)
_Row = tuple[str, int, int, float, float, float, float, float]
# The providers' list prices. Anthropic's cache writes cost 1.25x the input for the
# 5-minute lifetime (the default), 2x for one hour; OpenAI (whatever the retention) and
# Gemini charge none beyond the input price.
_CATALOGUE: dict[str, tuple[_Row, ...]] = {
    "anthropic": (
        ("claude-opus-4-6", 1_000_000, 128_000, 5.0, 25.0, 0.5, 6.25, 10.0),
        ("claude-sonnet-4-5", 200_000, 64_000, 3.0, 15.0, 0.3, 3.75, 6.0),
    ),
    "openai": (("gpt-4o-mini", 128_000, 16_384, 0.15, 0.6, 0.075, 0.15, 0.15),),
    "openai-responses": (("gpt-5-mini", 400_000, 128_000, 0.25, 2.0, 0.025, 0.25, 0.25),),
    "gemini": (("gemini-2.5-flash", 1_048_576, 65_536, 0.3, 2.5, 0.03, 0.3, 0.3),),
}
_REAL_PROVIDERS: tuple[tuple[str, ProviderType, str, str], ...] = (
    ("anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_API_KEY"),
    ("openai", "openai", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    ("openai-responses", "openai-responses", "https://api.openai.com/v1", "OPENAI_API_KEY"),
    ("gemini", "gemini", "https://generativelanguage.googleapis.com", "GEMINI_API_KEY"),
)


def embedded_settings(env: Mapping[str, str]) -> Settings:
    """No config file: real providers for the API keys in `env`, else the built-in emulator."""
    providers = {
        name: ProviderConfig(name=name, type=type_, base_url=url, api_key=env[var])
        for name, type_, url, var in _REAL_PROVIDERS
        if env.get(var)
    }
    emulator = not providers
    if emulator:
        # Random per start: anyone who can reach the gateway's port can reach the mount.
        providers = emulator_providers(DEFAULT_HOST, DEFAULT_PORT, secrets.token_urlsafe(32))
    models = {
        model.name: model
        for provider in providers.values()
        for model in _catalogue_models(provider)
    }
    default = "claude-opus-4-6" if "claude-opus-4-6" in models else next(iter(models))
    return Settings(
        providers=providers,
        models=models,
        default_model=default,
        source=_EMBEDDED,
        embedded_emulator=emulator,
    )


def _catalogue_models(provider: ProviderConfig) -> list[ModelConfig]:
    rows = [dict(zip(_CATALOGUE_FIELDS, row, strict=True)) for row in _CATALOGUE[provider.type]]
    extra = {"provider": provider.name}
    return [msgspec.convert({**row, **extra, "model": row["name"]}, ModelConfig) for row in rows]
