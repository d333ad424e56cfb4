"""A Gemini answer with no output that stopped for a reason the request causes
(finishReason LANGUAGE, UNEXPECTED_TOOL_CALL, MISSING_THOUGHT_SIGNATURE) is the client's
400 invalid_request_error naming the reason, which an SDK does not retry (it was a 502,
which it does); the model's or service's failures (MALFORMED_FUNCTION_CALL, OTHER) stay a
502, and a refusal (SAFETY) a 200 whose stop reason says so. Streamed and not, in each
client protocol. Official SDKs → a real gateway → an upstream serving these exact bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.exact_upstream import (
    Answer,
    Metered,
    json_answer,
    metered,
    sse,
    stream_answer,
)

MODEL = "gemini-stops"
_USAGE = {"promptTokenCount": 5, "candidatesTokenCount": 0, "totalTokenCount": 5}
REQUEST_CAUSED = ["LANGUAGE", "UNEXPECTED_TOOL_CALL", "MISSING_THOUGHT_SIGNATURE"]
UPSTREAM_CAUSED = ["MALFORMED_FUNCTION_CALL", "OTHER"]


def _answering(path: str, body: bytes) -> Answer:
    found = re.search(rb"SCEN:(\w+)", body)
    assert found is not None
    reason = found.group(1).decode()
    answer = {"candidates": [{"finishReason": reason, "index": 0}], "usageMetadata": _USAGE}
    if path.endswith(":streamGenerateContent"):
        return stream_answer(sse(answer))
    return json_answer(answer)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from metered(
        _answering,
        tmp_path_factory.mktemp("gemini-stops"),
        {"google": "gemini"},
        {MODEL: "provider: google, model: gemini-2.5-flash"},
    )


def _say(reason: str) -> Any:
    return [{"role": "user", "content": f"hi SCEN:{reason}"}]


def _openai(served: Metered, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=key, max_retries=0)


def _chat(served: Metered, key: str, reason: str, stream: bool) -> None:
    answer = _openai(served, key).chat.completions.create(
        model=MODEL, messages=_say(reason), stream=stream
    )
    if stream:
        list(answer)  # type: ignore[arg-type]


def _responses(served: Metered, key: str, reason: str, stream: bool) -> None:
    answer = _openai(served, key).responses.create(model=MODEL, input=_say(reason), stream=stream)
    if stream:
        list(answer)  # type: ignore[arg-type]


def _messages(served: Metered, key: str, reason: str, stream: bool) -> None:
    client = anthropic.Anthropic(base_url=served.url, api_key=key, max_retries=0)
    if stream:
        with client.messages.stream(model=MODEL, max_tokens=50, messages=_say(reason)) as s:
            list(s)
    else:
        client.messages.create(model=MODEL, max_tokens=50, messages=_say(reason))


CLIENTS = {"chat": _chat, "responses": _responses, "messages": _messages}


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("reason", REQUEST_CAUSED)
def test_a_request_caused_stop_without_output_is_a_400(
    served: Metered, reason: str, client: str, stream: bool
) -> None:
    key = served.new_key()
    errors = (openai.BadRequestError, anthropic.BadRequestError)
    with pytest.raises(errors) as caught:
        CLIENTS[client](served, key[1], reason, stream)
    assert caught.value.status_code == 400
    body = json.dumps(caught.value.body)
    assert "invalid_request_error" in body and f"finishReason {reason}" in body
    assert served.recorded(key) == (5, 0, 400)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("client", list(CLIENTS))
@pytest.mark.parametrize("reason", UPSTREAM_CAUSED)
def test_an_upstream_caused_stop_without_output_stays_a_502(
    served: Metered, reason: str, client: str, stream: bool
) -> None:
    key = served.new_key()
    with pytest.raises((openai.InternalServerError, anthropic.InternalServerError)) as caught:
        CLIENTS[client](served, key[1], reason, stream)
    assert caught.value.status_code == 502
    assert f"finishReason {reason}" in json.dumps(caught.value.body)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_safety_without_output_stays_a_refusal(served: Metered, stream: bool) -> None:
    key = served.new_key()[1]
    client = anthropic.Anthropic(base_url=served.url, api_key=key, max_retries=0)
    if stream:
        with client.messages.stream(model=MODEL, max_tokens=50, messages=_say("SAFETY")) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(model=MODEL, max_tokens=50, messages=_say("SAFETY"))
    assert message.stop_reason == "refusal"
