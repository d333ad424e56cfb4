"""An upstream's 429 reaches the client with the upstream's rate-limit headers
(`x-ratelimit-*`, `anthropic-ratelimit-*`, `retry-after-ms`) beside `retry-after`, on the
fast path and translated: clients that pace themselves read them. Official SDKs → a real
gateway → an upstream that refuses every call with a 429 in its own protocol."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Gateway, serving_config

KEY = "sk-rate-limit-test-key"
OPENAI_LIMITS = {
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "120ms",
    "x-ratelimit-remaining-tokens": "0",
}
ANTHROPIC_LIMITS = {
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "0",
    "anthropic-ratelimit-requests-reset": "2026-12-05T10:00:00Z",
}
COMMON = {"retry-after": "0", "retry-after-ms": "120"}


class RefusingUpstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        if self.path.endswith("/messages"):
            limits = ANTHROPIC_LIMITS
            error: Any = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}
        else:
            limits = OPENAI_LIMITS
            error = {
                "error": {"message": "slow", "type": "requests", "code": "rate_limit_exceeded"}
            }
        body = json.dumps(error).encode()
        self.send_response(429)
        for name, value in {**limits, **COMMON, "content-type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusingUpstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    workdir: Path = tmp_path_factory.mktemp("rate-limits")
    config = workdir / "polyrelay.yaml"
    config.write_text(
        f"database: sqlite:///{workdir / 'db.sqlite'}\n"
        f"keys: [{{name: t, key: {KEY}}}]\n"
        "providers:\n"
        f'  chat: {{type: openai, base_url: "{base}/v1", api_key: up}}\n'
        f'  messages: {{type: anthropic, base_url: "{base}", api_key: up}}\n'
        "models:\n"
        "  u-chat: {provider: chat, model: up}\n"
        "  u-messages: {provider: messages, model: up}\n"
    )
    yield from serving_config(config)
    server.shutdown()


def _limits(headers: Any, expected: dict[str, str]) -> dict[str, str]:
    return {name: headers.get(name) for name in {**expected, **COMMON}}


@pytest.mark.parametrize("model", ["u-chat", "u-messages"])
def test_a_chat_client_gets_the_upstreams_rate_limit_headers(gateway: Gateway, model: str) -> None:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=KEY, max_retries=0)
    with pytest.raises(openai.RateLimitError) as error:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
    expected = OPENAI_LIMITS if model == "u-chat" else ANTHROPIC_LIMITS
    assert _limits(error.value.response.headers, expected) == {**expected, **COMMON}


@pytest.mark.parametrize("model", ["u-chat", "u-messages"])
def test_a_messages_client_gets_the_upstreams_rate_limit_headers(
    gateway: Gateway, model: str
) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=KEY, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as error:
        client.messages.create(
            model=model, max_tokens=10, messages=[{"role": "user", "content": "hi"}], stream=True
        )
    expected = OPENAI_LIMITS if model == "u-chat" else ANTHROPIC_LIMITS
    assert _limits(error.value.response.headers, expected) == {**expected, **COMMON}
