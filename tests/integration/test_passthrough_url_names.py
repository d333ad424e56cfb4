"""A media URL passed through to an upstream that fetches it itself is never resolved by
the gateway, so `localhost` and `*.localhost` (RFC 6761: always loopback) are refused by
name, as 127.0.0.1 is, in every protocol and on every upstream that takes URLs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import MODELS_BY_PROVIDER, STATIC_KEY

URLS = [
    "http://localhost:8000/admin.png",
    "http://LOCALHOST.:8000/admin.png",
    "http://foo.localhost:8000/a.png",
    "http://a.b.LocalHost./a.png",
]


def _send(gateway: Gateway, protocol: str, provider: str, url: str) -> httpx.Response:
    model = MODELS_BY_PROVIDER[provider]
    body: dict[str, Any]
    if protocol == "chat":
        part = {"type": "image_url", "image_url": {"url": url}}
        body = {"model": model, "messages": [{"role": "user", "content": [part]}]}
        path = "/v1/chat/completions"
    elif protocol == "messages":
        part = {"type": "image", "source": {"type": "url", "url": url}}
        content = [{"type": "text", "text": "look"}, part]
        body = {"model": model, "max_tokens": 9, "messages": [{"role": "user", "content": content}]}
        path = "/v1/messages"
    else:
        part = {"type": "input_image", "image_url": url}
        body = {"model": model, "input": [{"role": "user", "content": [part]}]}
        path = "/v1/responses"
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    return httpx.post(gateway.url + path, json=body, headers=headers)


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize(
    ("protocol", "provider"),
    [("chat", "openai"), ("chat", "anthropic"), ("messages", "anthropic"),
     ("responses", "openai-responses")],
)  # fmt: skip
def test_a_localhost_name_is_refused_as_127_0_0_1_is(
    gateway: Gateway, emulator: Emulator, protocol: str, provider: str, url: str
) -> None:
    emulator.clear()
    response = _send(gateway, protocol, provider, url)
    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert f"URL refused: {url} names " in message
    assert message.endswith(", a loopback address; allow it with fetch.allow in the config")
    assert emulator.requests() == []  # nothing reached the upstream


def test_a_name_that_only_contains_localhost_still_passes(
    gateway: Gateway, emulator: Emulator
) -> None:
    emulator.clear()
    url = "http://localhost.example.com/a.png"
    response = _send(gateway, "chat", "openai", url)
    assert response.status_code == 200, response.text
    sent = emulator.last()["body"]["messages"][0]["content"][0]
    assert sent == {"type": "image_url", "image_url": {"url": url}}
