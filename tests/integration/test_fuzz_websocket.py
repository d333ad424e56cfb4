"""Mutated `response.create` events on the Responses WebSocket of a real gateway: whatever
a client sends, each message gets its answer (a finished response or an `error` event with
a status and a message), the connection stays open, and the gateway logs no unhandled
error (POLYRELAY_FUZZ_EXAMPLES examples a test, 60 by default)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, strategies as st
from websockets.sync.client import connect

from tests.fuzz_support import FUZZ, UNHANDLED, LogReader, mutated
from tests.integration.conftest import Emulator, Gateway, serving
from tests.integration.servers import MODELS_BY_PROVIDER, STATIC_KEY
from tests.integration.test_fuzz_requests import SEEDS

ANSWERS = {"error", "response.completed", "response.incomplete", "response.failed"}
CREATES = {
    name: {"type": "response.create", **document}
    for name, (path, document) in SEEDS.items()
    if path == "/v1/responses"
}


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serving(tmp_path_factory.mktemp("fuzz-websocket"), emulator)


def answer_to(websocket: Any, message: str) -> dict[str, Any]:
    """The event that answers `message`: its response's end, or an error."""
    websocket.send(message)
    while True:
        event: dict[str, Any] = json.loads(websocket.recv(timeout=30))
        if event.get("type") in ANSWERS or event.get("type", "").endswith(".failed"):
            return event


@pytest.mark.parametrize("name", sorted(CREATES))
@FUZZ
@given(data=st.data(), model=st.sampled_from(sorted(MODELS_BY_PROVIDER.values())))
def test_a_mutated_create_gets_an_answer_and_the_connection_stays_open(
    name: str, data: st.DataObject, model: str, gateway: Gateway
) -> None:
    create = dict(CREATES[name], model=model)
    create.pop("previous_response_id", None)
    create.pop("stream", None)
    message = json.dumps(data.draw(mutated(create), label="event"))
    log = LogReader(gateway.log)
    url = gateway.url.replace("http://", "ws://") + "/v1/responses"
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    with connect(url, additional_headers=headers, open_timeout=10) as websocket:
        answer = answer_to(websocket, message)
        if answer["type"] == "error":
            assert isinstance(answer["status"], int) and answer["status"] != 500, answer
            assert answer["error"]["message"], answer
        # Still open: a plain request on it is answered.
        hello = {"type": "response.create", "model": "gpt-4o-mini", "input": "hi", "store": False}
        assert answer_to(websocket, json.dumps(hello))["type"] == "response.completed"
    logged = log.new_text()
    assert not any(marker in logged for marker in UNHANDLED), logged
