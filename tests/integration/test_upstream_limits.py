"""What a broken upstream can make the gateway hold is bounded: an answer past
MAX_BODY_BYTES, or a stream event past MAX_EVENT_BYTES, is a 502 in the client's protocol,
and the gateway goes on serving."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from polyrelay.providers.transport import MAX_BODY_BYTES
from polyrelay.sse import MAX_EVENT_BYTES
from tests.integration.conftest import Gateway, serving_config
from tests.integration.servers import STATIC_KEY

PIECE = b"x" * (1 << 20)
HEADERS = {"authorization": f"Bearer {STATIC_KEY}"}


class Endless(BaseHTTPRequestHandler):
    """A 200 that never stops: a JSON string, or one SSE event, past the gateway's limit."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        request = self.rfile.read(int(self.headers.get("content-length") or 0))
        streamed = b'"stream":true' in request.replace(b" ", b"")
        self.send_response(200)
        self.send_header("content-type", "text/event-stream" if streamed else "application/json")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        start = b'data: {"id":"' if streamed else b'{"id":"'
        limit = MAX_EVENT_BYTES if streamed else MAX_BODY_BYTES
        try:
            self._chunk(start)
            for _ in range(limit // len(PIECE) + 2):
                self._chunk(PIECE)
        except OSError:
            return  # the gateway hung up, as it should

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Endless)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    workdir = tmp_path_factory.mktemp("upstream-limits")
    config = workdir / "polyrelay.yaml"
    config.write_text(
        f"database: sqlite:///{workdir / 'db.sqlite'}\n"
        f"providers:\n  endless: {{type: openai, base_url: "
        f'"http://127.0.0.1:{server.server_address[1]}/v1", api_key: up}}\n'
        "models:\n  endless: {provider: endless}\n"
        f'keys:\n  - {{key: "{STATIC_KEY}", name: ci}}\n'
    )
    yield from serving_config(config)
    server.shutdown()


def chat(gateway: Gateway, stream: bool) -> httpx.Response:
    body = {"model": "endless", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return httpx.post(f"{gateway.url}/v1/chat/completions", json=body, headers=HEADERS, timeout=60)


def test_an_answer_past_the_limit_is_a_502(gateway: Gateway) -> None:
    response = chat(gateway, stream=False)
    assert response.status_code == 502, response.text[:200]
    assert response.json()["error"]["message"] == (
        "the upstream's answer is larger than 64 MiB, the most the gateway reads"
    )


def test_a_stream_event_past_the_limit_ends_the_stream_with_an_error(gateway: Gateway) -> None:
    response = chat(gateway, stream=True)
    assert response.status_code == 200  # the headers went out with the upstream's
    last = response.text.strip().split("\n\n")[-1]
    assert last.startswith("data: ")
    error = httpx.Response(200, content=last[6:]).json()["error"]
    assert error["message"] == (
        "the upstream sent a stream event larger than 64 MiB, the most the gateway holds"
    )
    assert chat(gateway, stream=False).status_code == 502  # and it still serves
