"""An upstream error body whose message holds a lone UTF-16 surrogate escape (`"bad
\\ud83d"`, half an emoji, as a server that cuts text by UTF-16 units writes it), which
msgspec refuses: every client, of every upstream type, gets the upstream's status and its
message with U+FFFD for the half (it got the generic "not an error of the API" text).
Official SDKs → a real gateway → an upstream serving these exact bytes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.exact_upstream import Answer, Metered, metered_four

_BODIES = {
    "chat": rb'{"error": {"message": "bad \ud83d", "type": "rate_limit_error", "code": null}}',
    "messages":
        rb'{"type": "error", "error": {"type": "rate_limit_error", "message": "bad \ud83d"}}',
    "gemini":
        rb'{"error": {"code": 429, "message": "bad \ud83d", "status": "RESOURCE_EXHAUSTED"}}',
}  # fmt: skip
_MODELS = ["se-chat", "se-responses", "se-messages", "se-gemini"]
_READ = "bad \ufffd"


def _answering(path: str, body: bytes) -> Answer:
    del body
    if path.endswith("/messages"):
        kind = "messages"
    elif path.endswith(("/chat/completions", "/responses")):
        kind = "chat"  # OpenAI's one error shape
    else:
        kind = "gemini"
    return 429, {"content-type": "application/json"}, _BODIES[kind]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from metered_four(_answering, tmp_path_factory.mktemp("error-surrogates"), "se")


_SAY: Any = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("model", _MODELS)
def test_a_chat_client_gets_the_message(served: Metered, model: str, stream: bool) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=served.new_key()[1], max_retries=0)
    with pytest.raises(openai.RateLimitError) as caught:
        list(client.chat.completions.create(model=model, messages=_SAY, stream=stream))
    assert caught.value.status_code == 429
    assert caught.value.body["message"] == _READ  # type: ignore[index]


@pytest.mark.parametrize("model", _MODELS)
def test_a_responses_client_gets_the_message(served: Metered, model: str) -> None:
    client = openai.OpenAI(base_url=served.url + "/v1", api_key=served.new_key()[1], max_retries=0)
    with pytest.raises(openai.RateLimitError) as caught:
        client.responses.create(model=model, input="hi")
    assert caught.value.body["message"] == _READ  # type: ignore[index]


@pytest.mark.parametrize("model", _MODELS)
def test_a_messages_client_gets_the_message(served: Metered, model: str) -> None:
    key = served.new_key()[1]
    client = anthropic.Anthropic(base_url=served.url, api_key=key, max_retries=0)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model=model, max_tokens=100, messages=_SAY)
    body: Any = caught.value.body
    assert body["error"] == {"type": "rate_limit_error", "message": _READ}
