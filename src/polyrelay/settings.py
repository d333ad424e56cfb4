"""Typed configuration: the YAML file (DESIGN.md "Config file") or the embedded default.

The types are in polyrelay.settings_types, the file's reading in polyrelay.settings_reader
(every error names its line), the default without a file in polyrelay.settings_embedded.
Top-level `max_body_bytes`, `stream_keepalive_seconds` and `log_level` are accepted besides the
DESIGN.md keys.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from polyrelay.settings_embedded import embedded_settings
from polyrelay.settings_reader import parse_settings
from polyrelay.settings_types import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    ConfigError,
    LogLevel,
    ModelConfig,
    ProviderConfig,
    ProviderType,
    ResponsesSettings,
    Settings,
    StaticKey,
)

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "ConfigError",
    "LogLevel",
    "ModelConfig",
    "ProviderConfig",
    "ProviderType",
    "ResponsesSettings",
    "Settings",
    "StaticKey",
    "embedded_settings",
    "load_settings",
    "parse_settings",
]


def load_settings(path: str | None, env: Mapping[str, str]) -> Settings:
    """Explicit path, else $POLYRELAY_CONFIG, else ./polyrelay.yaml if present, else default."""
    path = path or env.get("POLYRELAY_CONFIG") or None
    if path is None and os.path.isfile("polyrelay.yaml"):
        path = "polyrelay.yaml"
    if path is None:
        return embedded_settings(env)
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    return parse_settings(text, source=path, env=env)
