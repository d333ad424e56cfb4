"""`polyrelay check`: is this configuration ready to serve?

It loads the config (a bad one is already a clear error), opens the database, logs in to
Redis, and asks every provider for its model list with the configured key and headers,
then checks that each model's upstream name is listed. One line per finding; exit 2 when
Redis refuses the login or the signals' commands (a configuration error, on which `serve`
stops too), 1 when something would fail requests (a database that cannot be opened, a
provider that refuses the key or cannot be reached), 0 otherwise. An unreachable Redis is
only a warning (the replicas poll), and so is a model its provider does not list: local
servers (Ollama, vLLM) may serve names they do not list.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, NamedTuple

from polyrelay import codec
from polyrelay.cli_common import Actions, table
from polyrelay.providers import upstream_headers
from polyrelay.providers.anthropic.request import API_VERSION
from polyrelay.settings import ConfigError, ProviderConfig, Settings
from polyrelay.signals import redis_address
from polyrelay.storage import StorageError, open_configured

__all__ = ["Finding", "add_check_parser", "findings"]

Status = Literal["ok", "warn", "FAIL"]
SettingsOf = Callable[[argparse.Namespace, Mapping[str, str]], Settings]

_MAX_LISTING_BYTES = 8 * 1024 * 1024
_MAX_MESSAGE = 160
_REDIS_TIMEOUT_SECONDS = 3.0
# The model list of each provider type: path and query, and where the names are.
_LISTINGS = {
    "openai": "/models",
    "openai-responses": "/models",
    "anthropic": "/v1/models?limit=1000",
    "gemini": "/v1beta/models?pageSize=1000",
}


class Finding(NamedTuple):
    status: Status
    part: str
    name: str
    detail: str


class Listing(NamedTuple):
    finding: Finding
    models: frozenset[str] | None
    """The upstream's model names; None when it could not be read."""


def add_check_parser(
    commands: Actions, common: argparse.ArgumentParser, settings_of: SettingsOf
) -> None:
    parser = commands.add_parser(
        "check",
        parents=[common],
        help="check the config, database, Redis and providers",
        description="Open the database, ping Redis, ask every provider for its model list "
        "and check each model's upstream name; exit 1 when something would fail requests.",
    )
    parser.add_argument(
        "--offline", action="store_true", help="do not call the providers (config, database, Redis)"
    )

    def run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
        results = findings(settings_of(args, env), upstreams=not args.offline)
        sys.stdout.write(table([tuple(f) for f in results]) + "\n")
        failed = {f.part for f in results if f.status == "FAIL"}
        if "redis" in failed:  # refused: a configuration error, on which `serve` stops
            return 2
        return 1 if failed else 0

    parser.set_defaults(handler=run)


def findings(settings: Settings, *, upstreams: bool) -> list[Finding]:
    found = [
        Finding(
            "ok",
            "config",
            settings.source,
            f"{len(settings.providers)} providers, {len(settings.models)} models,"
            f" {len(settings.keys)} static keys",
        ),
        _database(settings),
        _redis(settings.redis),
    ]
    if settings.embedded_emulator:
        found.append(
            Finding("ok", "providers", "emulator", "the built-in emulator serves every model")
        )
        return found
    if not upstreams:
        return found
    providers = list(settings.providers.values())
    with ThreadPoolExecutor(max(1, min(8, len(providers)))) as pool:
        listings = dict(
            zip((p.name for p in providers), pool.map(_listing, providers), strict=True)
        )
    found += [listing.finding for listing in listings.values()]
    for name, model in settings.models.items():
        listed = listings[model.provider].models
        if listed is None:
            found.append(Finding("FAIL", "model", name, f"{model.provider} could not be asked"))
        elif model.model in listed:
            found.append(Finding("ok", "model", name, f"{model.provider} lists {model.model}"))
        else:
            detail = f"{model.provider} does not list {model.model!r} (it may serve it anyway)"
            found.append(Finding("warn", "model", name, detail))
    return found


def _database(settings: Settings) -> Finding:
    url = settings.database
    engine = url.split(":", 1)[0]
    try:
        open_configured(settings).close()
    except StorageError as exc:
        return Finding("FAIL", "database", engine, str(exc).splitlines()[0])
    return Finding("ok", "database", engine, "opened and migrated")


def _redis(url: str | None) -> Finding:
    if url is None:
        return Finding(
            "ok", "redis", "-", "not set: each process polls for other processes' changes"
        )
    from polyrelay.signals_redis import check_login

    try:
        unreachable = check_login(url, _REDIS_TIMEOUT_SECONDS)
    except ConfigError as exc:  # a refused login: `serve` does not start either
        return Finding("FAIL", "redis", redis_address(url), str(exc))
    if unreachable is not None:
        # Not a failure: without Redis the replicas poll, a fraction of a second later.
        return Finding(
            "warn",
            "redis",
            redis_address(url),
            f"unreachable ({unreachable}); replicas poll instead",
        )
    return Finding("ok", "redis", redis_address(url), "logged in; may publish and subscribe")


def _listing(provider: ProviderConfig) -> Listing:
    url = provider.base_url.rstrip("/") + _LISTINGS[provider.type]
    request = urllib.request.Request(url, headers=_auth_headers(provider))  # noqa: S310
    where = f"{provider.type} at {_without_credentials(provider.base_url)}"
    try:
        with urllib.request.urlopen(request, timeout=provider.connect_timeout + 10) as answer:  # noqa: S310
            body = answer.read(_MAX_LISTING_BYTES)
    except urllib.error.HTTPError as exc:
        message = _error_message(exc.read(64 * 1024)) or exc.reason
        detail = f"{where}: HTTP {exc.code}: {message}"[: _MAX_MESSAGE * 2]
        return Listing(Finding("FAIL", "provider", provider.name, detail), None)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        detail = f"{where}: cannot be reached ({reason})"
        return Listing(Finding("FAIL", "provider", provider.name, detail), None)
    names = _model_names(body)
    if names is None:
        detail = f"{where}: the model list is not {provider.type} JSON"
        return Listing(Finding("FAIL", "provider", provider.name, detail), None)
    finding = Finding("ok", "provider", provider.name, f"{where}: {len(names)} models listed")
    return Listing(finding, frozenset(names))


def _without_credentials(url: str) -> str:
    """`url` without a `user:password@` in it: the output may be pasted anywhere."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def _auth_headers(provider: ProviderConfig) -> dict[str, str]:
    """As the provider's requests carry them."""
    headers = {"accept": "application/json"}
    if provider.type == "anthropic":
        headers["anthropic-version"] = API_VERSION
    return upstream_headers(provider, headers)


def _model_names(body: bytes) -> list[str] | None:
    """`data[].id` (OpenAI, Anthropic) or `models[].name` without `models/` (Gemini)."""
    try:
        document = codec.decode(body)
    except codec.DecodeError:
        return None
    if not isinstance(document, dict):
        return None
    entries = document.get("data", document.get("models"))
    if not isinstance(entries, list):
        return None
    names = []
    for entry in entries:
        if isinstance(entry, dict):
            name = entry.get("id") or entry.get("name")
            if isinstance(name, str):
                names.append(name.removeprefix("models/"))
    return names


def _error_message(body: bytes) -> str:
    """The upstream's error message, in any of the three protocols' shapes."""
    try:
        document = codec.decode(body)
    except codec.DecodeError:
        return body[:_MAX_MESSAGE].decode(errors="replace")
    error = document.get("error") if isinstance(document, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return str(message)[:_MAX_MESSAGE] if message else ""
