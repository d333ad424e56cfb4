"""The `polyrelay` command line (DESIGN.md "Command line").

Every subcommand reads the same settings (`--config`, else $POLYRELAY_CONFIG, else
./polyrelay.yaml, else the embedded default), so `keys` acts on the database `serve` uses.
The server and the emulator are imported only by their own subcommands, keeping `keys` fast.
Errors print one line to stderr and exit with status 2; nothing prints a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Mapping

import msgspec

from polyrelay.cli_common import Actions, action_group, database, table, when
from polyrelay.settings import ConfigError, Settings, load_settings
from polyrelay.storage import STATIC_KEY_ID_PREFIX, ApiKey, KeyLimits, StorageError

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace, Mapping[str, str]], int]
_EMULATOR_PORT = 8090
_CONFIG_HELP = (
    "config file (default: $POLYRELAY_CONFIG, else ./polyrelay.yaml when present, "
    "else the embedded default)"
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args, os.environ)
    except (ConfigError, StorageError) as exc:
        print(f"polyrelay: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: with a default, `keys create` would reset a --config given before `create`.
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=_CONFIG_HELP)
    parser = argparse.ArgumentParser(
        prog="polyrelay",
        description="Self-hosted LLM API gateway: Anthropic Messages, OpenAI Chat Completions "
        "and Responses in, any provider out.",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    serve = commands.add_parser(
        "serve", parents=[common], help="run the gateway", description="Run the gateway."
    )
    serve.add_argument("--host", help="address to listen on (default: from the config)")
    serve.add_argument("--port", type=_port, help="port to listen on (default: from the config)")
    serve.add_argument(
        "--workers", type=_workers, help=f"worker processes, 1 to {_MOST_WORKERS} (default: 1)"
    )
    serve.set_defaults(handler=_serve)
    _add_emulator(commands, common)
    _add_keys(commands, common)
    _add_search(commands, common)
    _add_tasks(commands, common)
    _add_usage(commands, common)
    _add_check(commands, common)
    return parser


def _add_search(commands: Actions, common: argparse.ArgumentParser) -> None:
    actions = action_group(
        commands,
        common,
        "search",
        help="manage the local web search index",
        description="Manage the local full-text index behind the web search tool.",
    )
    ingest = actions.add_parser(
        "ingest",
        parents=[common],
        help="add pages to the index",
        description="Add HTML, Markdown and text pages (files, directories or http(s) URLs)"
        " to the local search index named by search.index_path.",
    )
    ingest.add_argument("targets", nargs="+", metavar="PATH|URL", help="files, dirs or URLs")
    ingest.set_defaults(handler=_search_ingest)


def _add_tasks(commands: Actions, common: argparse.ArgumentParser) -> None:
    from polyrelay.tasks.cli import add_tasks_parser

    add_tasks_parser(commands, common, _settings)


def _add_usage(commands: Actions, common: argparse.ArgumentParser) -> None:
    from polyrelay.usage_cli import add_usage_parser

    add_usage_parser(commands, common, _settings)


def _add_check(commands: Actions, common: argparse.ArgumentParser) -> None:
    from polyrelay.check import add_check_parser

    add_check_parser(commands, common, _settings)


def _search_ingest(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from polyrelay.search.cli import run_ingest

    targets: list[str] = args.targets
    return run_ingest(_settings(args, env).search, targets)


def _add_emulator(commands: Actions, common: argparse.ArgumentParser) -> None:
    emulator = commands.add_parser(
        "emulator",
        parents=[common],
        help="run the deterministic provider emulator",
        description="Serve the OpenAI, Anthropic and Gemini wire protocols with scripted, "
        "deterministic replies, for tests, benchmarks and offline demos.",
    )
    emulator.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    emulator.add_argument("--port", type=_port, default=_EMULATOR_PORT, help="default: 8090")
    emulator.add_argument(
        "--latency-ms", type=_non_negative, default=0, metavar="N", help="delay before answering"
    )
    emulator.add_argument(
        "--tokens-per-second",
        type=_rate,
        default=None,
        metavar="N",
        help="pace streamed words (default: as fast as possible)",
    )
    emulator.set_defaults(handler=_emulator)


def _add_keys(commands: Actions, common: argparse.ArgumentParser) -> None:
    actions = action_group(
        commands,
        common,
        "keys",
        help="manage client API keys",
        description="Manage the client API keys stored in the configured database.",
    )
    create = actions.add_parser(
        "create",
        parents=[common],
        help="create a key and print its secret once",
        description="Create a client API key. The secret is printed once and never stored.",
    )
    create.add_argument("--name", required=True, help="a label for the key's owner or use")
    create.add_argument(
        "--models", type=_model_list, help="comma-separated models the key may use (default: all)"
    )
    create.add_argument(
        "--expires-in",
        type=_duration,
        metavar="DURATION",
        help="the key stops working this long from now: e.g. 90m, 12h, 30d",
    )
    create.add_argument("--rpm", type=_positive, metavar="N", help="requests per minute")
    create.add_argument(
        "--tpm", type=_positive, metavar="N", help="tokens (input + output) per minute"
    )
    create.add_argument(
        "--token-budget", type=_positive, metavar="N", help="tokens over the key's whole life"
    )
    create.set_defaults(handler=_keys_create)
    listing = actions.add_parser(
        "list", parents=[common], help="list keys", description="List every key, revoked too."
    )
    listing.set_defaults(handler=_keys_list)
    revoke = actions.add_parser(
        "revoke", parents=[common], help="revoke a key", description="Revoke a key by its id."
    )
    revoke.add_argument("id", metavar="ID", help="the key id shown by `keys create`/`keys list`")
    revoke.set_defaults(handler=_keys_revoke)


def _serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = _settings(args, env)
    host: str = args.host or settings.host
    port: int = settings.port if args.port is None else args.port
    settings = settings.with_listen(host, port)
    if args.workers is not None:
        settings = msgspec.structs.replace(settings, workers=args.workers)
    from polyrelay.server import serve

    serve(settings)
    return 0


def _emulator(args: argparse.Namespace, _env: Mapping[str, str]) -> int:
    from polyrelay.emulator import run_emulator

    host: str = args.host
    port: int = args.port
    latency_ms: int = args.latency_ms
    tokens_per_second: float | None = args.tokens_per_second
    run_emulator(host, port, latency_ms, tokens_per_second)
    return 0


def _keys_create(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    settings = _settings(args, env)
    name: str = args.name.strip()
    models: tuple[str, ...] | None = args.models
    if not name:
        raise ConfigError("--name must not be empty")
    unknown = [m for m in models or () if m not in settings.models]
    if unknown:
        known = ", ".join(settings.models) or "none"
        raise ConfigError(f"unknown model {unknown[0]!r} in --models (configured: {known})")
    expires_in: int | None = args.expires_in
    limits = KeyLimits(
        expires_at=None if expires_in is None else int(time.time()) + expires_in,
        rpm=args.rpm,
        tpm=args.tpm,
        token_budget=args.token_budget,
    )
    with database(settings) as opened:
        key, secret = opened.keys.create(name, models, limits)
    print(
        f"Created key {key.id} (name: {key.name}, models: {_models_text(key)},"
        f" limits: {_limits_text(key)})"
    )
    print(secret)
    print("Copy the secret now: it is stored only as a hash and cannot be shown again.")
    return 0


def _keys_list(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    with database(_settings(args, env)) as opened:
        keys = opened.keys.list()
    if not keys:
        print("No keys yet; create one with: polyrelay keys create --name NAME")
        return 0
    header = ("ID", "NAME", "PREFIX", "MODELS", "LIMITS", "CREATED", "REVOKED")
    rows = [
        (
            k.id,
            k.name,
            k.prefix,
            _models_text(k),
            _limits_text(k),
            when(k.created_at),
            when(k.revoked_at),
        )
        for k in keys
    ]
    print(table([header, *rows]))
    return 0


def _keys_revoke(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    key_id: str = args.id
    settings = _settings(args, env)
    if key_id.startswith(STATIC_KEY_ID_PREFIX):
        where = f"keys: in {settings.source}"
        raise ConfigError(
            f"{key_id} is a static key, not in the database: remove it from {where}"
            " (or let its expires_at pass) and restart the servers"
        )
    with database(settings) as opened:
        revoked = opened.keys.revoke(key_id)
    if not revoked:
        print(
            f"polyrelay: no active key with id {key_id!r} (see: polyrelay keys list)",
            file=sys.stderr,
        )
        return 1
    print(f"Revoked key {key_id}")
    _signal_revocation(settings, key_id)
    return 0


def _signal_revocation(settings: Settings, key_id: str) -> None:
    """Tell running servers to drop their cached lookups, as they would signal it."""
    from polyrelay.auth import KEY_CACHE_SECONDS
    from polyrelay.signals import KEYS_CHANGED

    if settings.redis is not None:
        from polyrelay.signals_redis import publish_once

        problem = publish_once(settings.redis, KEYS_CHANGED, key_id)
    elif settings.signals_through_postgres:
        from polyrelay.signals_postgres import publish_once as notify_once

        problem = notify_once(settings.database, KEYS_CHANGED, key_id)
    else:
        return  # no channel: the servers' caches expire on their own
    if problem is not None:
        print(
            f"polyrelay: running servers were not told ({problem}): they refuse the key once"
            f" their {KEY_CACHE_SECONDS:g}-second key cache expires",
            file=sys.stderr,
        )


def _settings(args: argparse.Namespace, env: Mapping[str, str]) -> Settings:
    config: str | None = getattr(args, "config", None)
    if config is not None and not config.strip():
        raise ConfigError("--config names no file; give a path, or leave --config out")
    return load_settings(config, env)


def _models_text(key: ApiKey) -> str:
    return "all" if key.models is None else ",".join(key.models)


def _limits_text(key: ApiKey) -> str:
    limits = key.limits
    parts = [
        f"{name} {value}"
        for name, value in (
            ("rpm", limits.rpm),
            ("tpm", limits.tpm),
            ("token budget", limits.token_budget),
        )
        if value is not None
    ]
    if limits.expires_at is not None:
        parts.append(f"expires {when(limits.expires_at)}")
    return ", ".join(parts) or "none"


_UNITS = {"m": 60, "h": 3600, "d": 86400}
_LONGEST = 36500 * 86400
"""100 years: past it the expiry would not fit a stored or printed date."""


def _duration(text: str) -> int:
    """`90m`, `12h`, `30d` → seconds."""
    number, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not (number.isascii() and number.isdigit()) or int(number) < 1:
        raise argparse.ArgumentTypeError(
            f"expected a duration such as 90m, 12h or 30d, got {text!r}"
        )
    if int(number) * _UNITS[unit] > _LONGEST:
        raise argparse.ArgumentTypeError(f"expected at most 100 years (36500d), got {text!r}")
    return int(number) * _UNITS[unit]


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0-65535, got {text!r}")
    return int(text)


_LARGEST = 2**53
"""A count's limit: it is stored as a 64-bit integer, and read back as JSON numbers are."""


def _positive(text: str) -> int:
    return _counted(text, _LARGEST, "an integer from 1 to 2**53")


def _counted(text: str, most: int, expected: str) -> int:
    """`text` as an integer from 1 to `most` written in ASCII digits, else a usage error
    saying what was `expected`."""
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= most:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return int(text)


_MOST_WORKERS = 256
"""A typo's extra digit (`--workers 100000`) would otherwise spawn processes until the
machine stalls."""


def _workers(text: str) -> int:
    return _counted(text, _MOST_WORKERS, f"a number of processes from 1 to {_MOST_WORKERS}")


def _rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not (math.isfinite(rate) and rate > 0):
        raise argparse.ArgumentTypeError(f"expected a number of tokens > 0, got {text!r}")
    return rate


def _non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return int(text)


def _model_list(text: str) -> tuple[str, ...]:
    models = tuple(m.strip() for m in text.split(",") if m.strip())
    if not models:
        raise argparse.ArgumentTypeError("expected comma-separated model names, e.g. a,b")
    return models
