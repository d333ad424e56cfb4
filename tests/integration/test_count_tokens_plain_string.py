"""count_tokens takes the service's plain-string `messages` (DESIGN.md `/v1/messages`) on
every upstream type, as `POST /v1/messages` does: an Anthropic upstream, which gets the
client's body, is sent it as one user message (the API refuses a string)."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import MODELS_BY_PROVIDER


@pytest.mark.parametrize("provider", list(MODELS_BY_PROVIDER))
def test_a_plain_string_is_counted_on_every_upstream(
    gateway: Gateway, emulator: Emulator, api_key: str, provider: str
) -> None:
    body = {"model": MODELS_BY_PROVIDER[provider], "messages": "one two three"}
    headers = {"x-api-key": api_key, "anthropic-version": "2023-06-01"}
    emulator.clear()
    response = httpx.post(
        f"{gateway.url}/v1/messages/count_tokens", json=body, headers=headers, timeout=30
    )
    assert response.status_code == 200, response.text
    assert response.json()["input_tokens"] > 0
    if provider == "anthropic":
        sent = emulator.last()["body"]
        assert sent["messages"] == [{"role": "user", "content": "one two three"}]
        assert response.json() == {"input_tokens": 3}
