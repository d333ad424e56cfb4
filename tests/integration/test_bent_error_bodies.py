"""A 429 whose error body holds fields of types the provider never documents (OpenAI's
`code` as the float 429.0, `param` a number; Anthropic's `request_id` a number; Gemini's
`code` a string and `details` an object): every client, of every upstream type, gets the
429 with the upstream's own message (it got the body's JSON text as the message).
Official SDKs → a real gateway → an upstream serving these
exact bytes (tests/integration/bent_upstream.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.bent_upstream import CHAT, GEMINI, MESSAGES, ODD_ERROR, RESPONSES, serve
from tests.integration.exact_upstream import Metered

_SAY: Any = [{"role": "user", "content": "hi SCEN:odd_error"}]
_MODELS = [CHAT, RESPONSES, MESSAGES, GEMINI]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from serve(tmp_path_factory.mktemp("bent-errors"))


def _openai(served: Metered) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=served.new_key()[1], max_retries=0)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("model", _MODELS)
def test_a_chat_client_gets_the_message(served: Metered, model: str, stream: bool) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        list(_openai(served).chat.completions.create(model=model, messages=_SAY, stream=stream))
    assert caught.value.status_code == 429
    assert caught.value.body["message"] == ODD_ERROR  # type: ignore[index]


@pytest.mark.parametrize("model", _MODELS)
def test_a_responses_client_gets_the_message(served: Metered, model: str) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        _openai(served).responses.create(model=model, input="hi SCEN:odd_error")
    assert caught.value.body["message"] == ODD_ERROR  # type: ignore[index]


@pytest.mark.parametrize("model", _MODELS)
def test_a_messages_client_gets_the_message(served: Metered, model: str) -> None:
    key = served.new_key()[1]
    client = anthropic.Anthropic(base_url=served.url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model=model, max_tokens=100, messages=_SAY)
    body: Any = caught.value.body
    assert body["error"] == {"type": "rate_limit_error", "message": ODD_ERROR}
