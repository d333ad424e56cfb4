"""A stored response's token logprobs come back from `GET /v1/responses/{id}` only when the
GET asks for them (`include=message.output_text.logprobs`), as the openai SDK's retrieve
documents `include`: "Additional fields to include in the response", as on create. Without
it, every `output_text` part has `logprobs: []`, as a create that did not ask gets; the
replayed stream of a background response (`stream=true`) likewise, its text deltas and
done events included. Through the real gateway and emulator, with the openai SDK, on the
Responses fast path and a translated path (a Chat upstream)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import MODELS_BY_PROVIDER, STATIC_KEY
from tests.integration.tasks_support import running

INCLUDE: Any = ["message.output_text.logprobs"]
MODELS = pytest.mark.parametrize(
    "model", [MODELS_BY_PROVIDER["openai-responses"], MODELS_BY_PROVIDER["openai"]]
)


@pytest.fixture(scope="module")
def client(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    for gateway in running(tmp_path_factory.mktemp("retrieve-logprobs"), emulator.url):
        yield openai.OpenAI(base_url=gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)


def _scores(response: Any) -> list[list[Any]]:
    """Each output_text part's logprobs."""
    return [
        part.logprobs
        for item in response.output
        if item.type == "message"
        for part in item.content
        if part.type == "output_text"
    ]


@MODELS
def test_a_get_returns_the_logprobs_only_when_it_includes_them(
    client: openai.OpenAI, model: str
) -> None:
    created = client.responses.create(model=model, input="one two", include=INCLUDE)
    [scored] = _scores(created)
    assert scored
    assert _scores(client.responses.retrieve(created.id)) == [[]]
    assert _scores(client.responses.retrieve(created.id, include=INCLUDE)) == [scored]


def test_a_get_cannot_include_logprobs_the_create_did_not_ask_for(client: openai.OpenAI) -> None:
    created = client.responses.create(model=MODELS_BY_PROVIDER["openai"], input="one two")
    assert _scores(created) == [[]]
    assert _scores(client.responses.retrieve(created.id, include=INCLUDE)) == [[]]


def _replayed_scores(events: list[Any]) -> list[Any]:
    """The logprobs of every replayed event that carries output text's."""
    found: list[Any] = []
    for event in events:
        if event.type in ("response.output_text.delta", "response.output_text.done"):
            found.append(event.logprobs)
        elif event.type == "response.content_part.done":
            found.append(event.part.logprobs)
        elif event.type == "response.output_item.done":
            found += [part.logprobs for part in event.item.content]
        elif event.type == "response.completed":
            found += _scores(event.response)
    return found


@MODELS
def test_a_replayed_stream_carries_the_logprobs_only_when_it_includes_them(
    client: openai.OpenAI, model: str
) -> None:
    asked: Any = {"model": model, "input": "one two", "include": INCLUDE, "background": True}
    with client.responses.stream(**asked) as stream:
        original = _replayed_scores(list(stream))
        response_id = stream.get_final_response().id
    assert len(original) >= 5 and all(original)
    plain = list(client.responses.retrieve(response_id, stream=True))
    assert [event.type for event in plain] and _replayed_scores(plain) == [[]] * len(original)
    included = list(client.responses.retrieve(response_id, stream=True, include=INCLUDE))
    assert _replayed_scores(included) == original
