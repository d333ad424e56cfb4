"""Mutated requests to the three protocol endpoints of a real gateway (and to Anthropic's
token count and Message Batches), for every upstream type: whatever the body, the answer is
a success or an error in the client's own protocol, never a 500, and the gateway logs no
unhandled error. The seeds are the richest requests the tests have (every Anthropic block
type, Claude Code's and Codex's own requests, Chat with tools); hypothesis mutates 1 to 3
places in each (POLYRELAY_FUZZ_EXAMPLES examples a test, 60 by default)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, strategies as st

from tests.fuzz_support import (
    FUZZ,
    UNHANDLED,
    LogReader,
    assert_protocol_answer,
    mutated,
)
from tests.integration.conftest import Emulator, Gateway, serving
from tests.integration.servers import MODELS_BY_PROVIDER, STATIC_KEY

CLIENTS = Path(__file__).resolve().parent.parent / "fixtures" / "clients"
MODELS = sorted(MODELS_BY_PROVIDER.values())


def seed(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((CLIENTS / name).read_text())
    return document.get("body", document) if "body_bytes" in document else document


BLOCKS = seed("anthropic/all-blocks.json")
HELLO = {"max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
SEEDS = {
    "messages-blocks": ("/v1/messages", BLOCKS),
    "count-tokens": ("/v1/messages/count_tokens", seed("anthropic/claude_code_first_turn.json")),
    "batches": (
        "/v1/messages/batches",
        {
            "requests": [
                {"custom_id": "one", "params": BLOCKS},
                {"custom_id": "two", "params": HELLO},
            ]
        },
    ),
    "messages-claude-code": ("/v1/messages", seed("anthropic/claude_code_tool_result_turn.json")),
    "chat-tools": ("/v1/chat/completions", seed("openai_chat/tools.json")),
    "responses-multiturn": ("/v1/responses", seed("openai-responses/multiturn.json")),
    "responses-codex": (
        "/v1/responses",
        seed("codex/codex_responses_function_call_output_turn.json"),
    ),
}


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(tmp_path_factory.mktemp("fuzz"), emulator)


@pytest.fixture(scope="module")
def client(gateway: Gateway) -> Iterator[httpx.Client]:
    headers = {"authorization": f"Bearer {STATIC_KEY}", "x-api-key": STATIC_KEY}
    with httpx.Client(base_url=gateway.url, headers=headers, timeout=60) as session:
        yield session


def with_choices(document: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    """The seed asking `model`, streamed or not (mutations may undo either); a batch's
    requests ask `model`, none streamed."""
    if "requests" in document:
        requests = [dict(r, params=dict(r["params"], model=model)) for r in document["requests"]]
        for request in requests:
            request["params"].pop("stream", None)
        return {"requests": requests}
    chosen = dict(document, model=model, stream=stream)
    chosen.pop("previous_response_id", None)  # a stored response no test made
    return chosen


@pytest.mark.parametrize("name", sorted(SEEDS))
@FUZZ
@given(data=st.data(), model=st.sampled_from(MODELS), stream=st.booleans())
def test_a_mutated_request_gets_an_answer_in_its_protocol(
    name: str,
    data: st.DataObject,
    model: str,
    stream: bool,
    gateway: Gateway,
    client: httpx.Client,
) -> None:
    path, document = SEEDS[name]
    body = data.draw(mutated(with_choices(document, model, stream)), label="body")
    log = LogReader(gateway.log)
    content = json.dumps(body).encode()
    with client.stream("POST", path, content=content) as reply:
        reply.read()
    assert_protocol_answer(reply, anthropic=path.startswith("/v1/messages"))
    logged = log.new_text()
    assert not any(marker in logged for marker in UNHANDLED), logged
