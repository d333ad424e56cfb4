"""Request shapes real OpenAI Chat Completions refuses with 400, which a translated request
to an `openai` upstream must not take there (the emulator refuses each as OpenAI does)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.integration.conftest import Emulator, Gateway
from tests.integration.servers import MODELS_BY_PROVIDER

CHAT_MODEL = MODELS_BY_PROVIDER["openai"]
TAGS = {"team": "relay", "ticket": "42"}


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)


def _posts(emulator: Emulator) -> list[dict[str, Any]]:
    return [r["body"] for r in emulator.requests() if r["method"] == "POST"]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_responses_metadata_is_not_sent_to_a_chat_upstream(
    client: openai.OpenAI, emulator: Emulator, stream: bool
) -> None:
    """OpenAI takes Chat `metadata` only with `store: true`; a Responses client's metadata
    (its response keeps it, stored by the gateway) once made every such request a 400."""
    emulator.clear()
    raw = client.responses.with_raw_response.create(
        model=CHAT_MODEL, input="hi", metadata=TAGS, stream=stream
    )
    assert raw.status_code == 200
    if not stream:
        assert raw.parse().metadata == TAGS
    assert "metadata is not supported" in raw.headers.get("polyrelay-warnings", "")
    (sent,) = _posts(emulator)
    assert "metadata" not in sent


def test_the_emulator_refuses_chat_metadata_without_store(client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError, match="only allowed when 'store' is enabled"):
        client.chat.completions.create(model=CHAT_MODEL, messages=messages, metadata=TAGS)
    stored = client.chat.completions.create(
        model=CHAT_MODEL, messages=messages, metadata=TAGS, store=True
    )
    assert stored.choices[0].message.content
