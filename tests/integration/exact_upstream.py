"""An upstream that answers exact bytes, and a gateway in front of it: for the tests whose
upstream must say what the emulator's scripts never do (a proxy's HTML page, a legacy
body, a 429 with rate-limit headers, a stream cut mid-frame). Each body is written at
once with its length, so its last chunk reaches the gateway together with its end (unless
it holds a PAUSE)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from tests.integration.conftest import Gateway, serving_config
from tests.integration.servers import STATIC_KEY, new_key

Answer = tuple[int, dict[str, str], bytes]
"""Status, headers (content-type among them) and body."""
Answering = Callable[[str, bytes], Answer]
"""The answer to a POST of that path (query left out) and body."""

_OPENAI_TYPES = ("openai", "openai-responses")

PAUSE = b"\0pause\0"
"""In a body, where the upstream stops writing for a moment (the gateway reads the part
before it on its own): a stream whose later events come later."""
_PAUSE_SECONDS = 0.2


def sse(data: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def json_answer(document: object, status: int = 200, **headers: str) -> Answer:
    return status, {"content-type": "application/json", **headers}, json.dumps(document).encode()


def stream_answer(body: bytes) -> Answer:
    return 200, {"content-type": "text/event-stream"}, body


def _handler(answering: Answering) -> type[BaseHTTPRequestHandler]:
    class Upstream(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status, headers, content = answering(self.path.split("?")[0], body)
            parts = content.split(PAUSE)
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(sum(map(len, parts))))
            self.end_headers()
            for i, part in enumerate(parts):
                if i:
                    self.wfile.flush()
                    time.sleep(_PAUSE_SECONDS)
                self.wfile.write(part)

        def log_message(self, *args: Any) -> None:
            pass

    return Upstream


def serving(
    answering: Answering,
    workdir: Path,
    providers: Mapping[str, str],
    models: Mapping[str, str],
) -> Iterator[Gateway]:
    """A gateway (on a SQLite file in `workdir`, taking STATIC_KEY) whose `providers`
    (name → provider type) all are the exact upstream; `models` maps each public name to
    the fields of its YAML mapping (`provider: NAME, model: up`). For a fixture to
    `yield from`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(answering))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    lines = [f"database: sqlite:///{workdir / 'db.sqlite'}", "providers:"]
    for name, kind in providers.items():
        url = base + "/v1" if kind in _OPENAI_TYPES else base
        lines.append(f'  {name}: {{type: {kind}, base_url: "{url}", api_key: up}}')
    lines.append("models:")
    lines += [f"  {name}: {{{fields}}}" for name, fields in models.items()]
    lines.append(f'keys:\n  - {{key: "{STATIC_KEY}", name: ci}}')
    config = workdir / "polyrelay.yaml"
    config.write_text("\n".join(lines) + "\n")
    try:
        yield from serving_config(config)
    finally:
        server.shutdown()


class Metered:
    """A gateway from `serving`, and the usage rows of keys made for one test each."""

    def __init__(self, gateway: Gateway, workdir: Path) -> None:
        self.url = gateway.url
        self.log = gateway.log
        self.db = workdir / "db.sqlite"

    def new_key(self) -> tuple[str, str]:
        """A fresh key (id, secret), so each test sees only its own usage."""
        return new_key(self.db, "metered")

    def recorded(self, key: tuple[str, str]) -> tuple[int, int, int]:
        """(input tokens, output tokens, status) of the key's one row, once it is in (a
        stream's row is written when its response closes, just after the client read
        its end; GET /v1/usage commits the rows parked for writing)."""
        key_id, secret = key
        deadline = time.monotonic() + 5
        headers = {"authorization": f"Bearer {secret}"}
        while not httpx.get(self.url + "/v1/usage", headers=headers).json()["data"]:
            assert time.monotonic() < deadline, "no usage row"
            time.sleep(0.02)
        with sqlite3.connect(self.db) as conn:
            [row] = conn.execute(
                "SELECT input_tokens, output_tokens, status FROM usage WHERE key_id = ?",
                (key_id,),
            ).fetchall()
        return row


def metered(
    answering: Answering,
    workdir: Path,
    providers: Mapping[str, str],
    models: Mapping[str, str],
) -> Iterator[Metered]:
    """`serving`, as a Metered gateway."""
    for gateway in serving(answering, workdir, providers, models):
        yield Metered(gateway, workdir)


FOUR_TYPES = {
    "chat": "openai",
    "responses": "openai-responses",
    "messages": "anthropic",
    "gemini": "gemini",
}
"""A provider of each upstream type, all the exact upstream."""


def metered_four(answering: Answering, workdir: Path, prefix: str) -> Iterator[Metered]:
    """`metered` with a model on each upstream type: `<prefix>-chat`, `-responses`,
    `-messages` (max_output_tokens 1000) and `-gemini`, each the upstream's model `up`."""
    models = {f"{prefix}-{name}": f"provider: {name}, model: up" for name in FOUR_TYPES}
    models[f"{prefix}-messages"] += ", max_output_tokens: 1000"
    yield from metered(answering, workdir, FOUR_TYPES, models)
