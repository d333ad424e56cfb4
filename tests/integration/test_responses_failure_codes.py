"""A Responses upstream whose response fails for the request's own fault (a context too
long): the client gets a 400 in its own protocol, which SDKs do not retry and Claude Code
reads as a prompt too long, not a 500 they retry in vain. Official SDKs → a real gateway
→ an upstream that serves these exact bytes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.integration.conftest import Gateway
from tests.integration.exact_upstream import Answer, json_answer, serving, stream_answer
from tests.integration.servers import STATIC_KEY

MODEL = "overlong-responses"
MESSAGE = "Your input exceeds the context window of this model."
_SHELL = {"id": "resp_x", "object": "response", "created_at": 1, "model": "gpt-5", "output": []}
_FAILED = {
    **_SHELL,
    "status": "failed",
    "error": {"code": "context_length_exceeded", "message": MESSAGE},
}


def _event(number: int, kind: str, **members: Any) -> bytes:
    data = json.dumps({"type": kind, "sequence_number": number, **members})
    return f"event: {kind}\ndata: {data}\n\n".encode()


STREAM = _event(0, "response.created", response={**_SHELL, "status": "in_progress"})
FAILED_STREAM = STREAM + _event(1, "response.failed", response=_FAILED)
ERROR_STREAM = STREAM + _event(1, "error", code="context_length_exceeded", message=MESSAGE)


def _answer(path: str, body: bytes) -> Answer:
    sent = json.loads(body)
    if not sent.get("stream"):
        return json_answer(_FAILED)
    return stream_answer(ERROR_STREAM if sent.get("user") == "error" else FAILED_STREAM)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(
        _answer,
        tmp_path_factory.mktemp("failure-codes"),
        {"overlong": "openai-responses"},
        {MODEL: "provider: overlong, model: gpt-5"},
    )


@pytest.mark.parametrize(
    ("stream", "user"),
    [(False, "plain"), (True, "failed"), (True, "error")],
    ids=["plain", "response.failed", "error event"],
)
def test_a_context_too_long_is_a_400(gateway: Gateway, stream: bool, user: str) -> None:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=STATIC_KEY, max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="exceeds the context window"):
        client.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=[{"role": "user", "content": "hi"}],
            metadata={"user_id": user},
            stream=stream,
        )
