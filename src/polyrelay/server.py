"""`polyrelay serve`: open the database, print the banner, run uvicorn.

With several workers uvicorn needs an import string, so the settings travel to each
worker process through an environment variable as JSON and `app_from_env` rebuilds them.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys

import msgspec
import uvicorn
from starlette.applications import Starlette

from polyrelay import codec
from polyrelay.app import Deps, create_app
from polyrelay.http_protocol import HeadJoiningProtocol
from polyrelay.settings import ConfigError, Settings
from polyrelay.signals import redis_address
from polyrelay.storage import describe_database, is_postgres_url, open_configured

__all__ = ["app_from_env", "configure_logging", "serve"]

_SETTINGS_ENV = "POLYRELAY_WORKER_SETTINGS"
DEMO_KEY_NAME = "demo"


def app_from_env() -> Starlette:
    """A worker's app (`--workers N`). Each worker is a spawned process, which inherits
    nothing of `serve`'s logging set-up, so it makes its own."""
    settings = msgspec.json.decode(os.environ[_SETTINGS_ENV], type=Settings)
    configure_logging(settings)
    return served_app(settings)


def configure_logging(settings: Settings) -> None:
    """The gateway's log lines on stderr, at the configured level, in this process. Does
    nothing where the root logger has a handler already, so never a second one."""
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def served_app(settings: Settings) -> Starlette:
    """The app as `serve` runs it: its heap frozen once start-up is done."""
    app = create_app(settings, Deps(open_configured(settings)))
    app.state.gateway.on_startup.append(_freeze_heap)  # after every other start-up step
    return app


async def _freeze_heap() -> None:
    """Move what start-up made (modules, the app, its caches) to the collector's permanent
    generation, so that a full collection walks only what requests made since. Otherwise
    every full collection walked each function and dict of every loaded module: ≈ 20 M
    instructions, milliseconds on the event loop, every few hundred requests
    (bench/README.md)."""
    gc.collect()
    gc.freeze()


def _demo_key(settings: Settings) -> str:
    """A fresh demo key for the emulator-only default; the demo keys earlier starts made
    are revoked. They are told by their mark (ApiKey.demo), never by their name: an
    operator's own key named demo is the operator's."""
    database = open_configured(settings)
    try:
        for key in database.keys.list():
            if key.demo and key.revoked_at is None:
                database.keys.revoke(key.id)
        _, secret = database.keys.create(DEMO_KEY_NAME, None, demo=True)
        return secret
    finally:
        database.close()


def banner(settings: Settings, demo_secret: str | None) -> str:
    base = f"http://{settings.host}:{settings.port}"
    lines = [f"polyrelay listening on {base}  (config: {settings.source})"]
    lines.append(f"  database: {describe_database(settings.database)}")
    if settings.redis:
        lines.append(f"  redis: {redis_address(settings.redis)} (signals between processes)")
    elif settings.signals_through_postgres:
        lines.append("  signals between processes: PostgreSQL LISTEN/NOTIFY")
    elif is_postgres_url(settings.database):  # pooled per transaction: no LISTEN
        lines.append("  signals between processes: none (they poll; set redis for signals)")
    lines += [f"  model {name} -> {m.provider}" for name, m in settings.models.items()]
    if demo_secret is None:
        return "\n".join(lines)
    key = demo_secret
    lines += [
        "",
        "!! No provider API key is set (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY):",
        "!! every model is served by the BUILT-IN EMULATOR, which echoes 'You said: ...'.",
        f"!! Demo key (shown once): {key}",
        "",
        f"  curl {base}/v1/chat/completions -H 'Authorization: Bearer {key}' \\",
        "    -H 'content-type: application/json' \\",
        '    -d \'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}\'',
        "",
        f"  python -c \"import openai; c = openai.OpenAI(base_url='{base}/v1', api_key='{key}');"
        " print(c.chat.completions.create(model='claude-opus-4-6',"
        " messages=[{'role': 'user', 'content': 'Hello'}]).choices[0].message.content)\"",
    ]
    return "\n".join(lines)


def _check_address(host: str, port: int) -> None:
    """Bind host:port once, as uvicorn will, so that a port in use or a host that is no
    address is one clear error (exit 2) before the banner says it listens (and before
    the emulator default revokes the demo key of a gateway that holds the port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
            " (choose another with --host/--port or listen: in the config)"
        ) from None


def serve(settings: Settings) -> None:
    configure_logging(settings)
    _check_address(settings.host, settings.port)
    if settings.embedded_emulator:
        demo_secret: str | None = _demo_key(settings)
    else:
        # Before the banner and the workers: a database that cannot be opened is one clear
        # error (exit 2), not every worker failing and being restarted; and the schema is
        # migrated once, not by workers racing.
        open_configured(settings).close()
        demo_secret = None
    if settings.redis is not None:
        from polyrelay.signals_redis import check_login  # only deployments with Redis load it

        # A refused login is a configuration error (exit 2); an unreachable Redis is an
        # outage, which the server rides out (its replicas poll meanwhile).
        check_login(settings.redis)
    print(banner(settings, demo_secret), flush=True)  # noqa: T201
    common = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        # httptools, with each response's head joined to its first body write
        "http": HeadJoiningProtocol,
        "log_level": "warning",
        "access_log": False,
        # Nothing reads the client's address, so uvicorn's X-Forwarded-* middleware
        # would only add a layer to every request.
        "proxy_headers": False,
        "timeout_graceful_shutdown": 5,
        # The Responses WebSocket mode: a message is a request body, with its size limit.
        "ws": "websockets-sansio",
        "ws_max_size": settings.max_body_bytes,
    }
    if settings.workers == 1:
        uvicorn.run(served_app(settings), **common)  # type: ignore[arg-type]
        return
    os.environ[_SETTINGS_ENV] = codec.encode_str(settings)
    uvicorn.run(
        "polyrelay.server:app_from_env",
        factory=True,
        workers=settings.workers,
        **common,  # type: ignore[arg-type]
    )
