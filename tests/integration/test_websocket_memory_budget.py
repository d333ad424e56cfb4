"""What the Responses WebSocket connections of a server process remember together, through
the real gateway: `responses.websocket_memory_bytes` bounds their `store: false` memories
across connections (connections per key are not limited, and each may hold twice
max_body_bytes for its hour). Past it the oldest responses of any connection are
forgotten, and a turn continuing one gets `previous_response_not_found`; a connection's
responses leave the budget when it closes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import Emulator, Gateway, serving
from tests.integration.ws_support import ENDS, connect

BUDGET = 30_000
"""Two of the turns below (a body of 10 KB and a short answer each), not three."""


@pytest.fixture(scope="module")
def small_budget(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("ws-budget")
    yield from serving(workdir, emulator, extra=f"responses:\n  websocket_memory_bytes: {BUDGET}\n")


def turn(socket: Any, previous: str | None = None) -> dict[str, Any]:
    """A 10 KB `store: false` turn with a three-word answer; its last event."""
    event: dict[str, Any] = {
        "type": "response.create",
        "model": "gpt-5-mini",
        "input": "[[words 3]] " + "x" * 10_000,
        "store": False,
    }
    if previous is not None:
        event["previous_response_id"] = previous
    socket.send(json.dumps(event))
    while True:
        last: dict[str, Any] = json.loads(socket.recv(timeout=20))
        if last["type"] in ENDS:
            return last


def completed(event: dict[str, Any]) -> str:
    assert event["type"] == "response.completed", event
    response_id: str = event["response"]["id"]
    return response_id


def test_another_connections_turns_evict_the_oldest_responses(small_budget: Gateway) -> None:
    with connect(small_budget) as first, connect(small_budget) as second:
        a1 = completed(turn(first))
        a2 = completed(turn(first, a1))  # a chain within the budget
        b1 = completed(turn(second))  # three turns: the first's oldest goes
        completed(turn(second, b1))  # and then its newest
        forgotten = turn(first, a2)
        assert forgotten["type"] == "error" and forgotten["status"] == 400
        assert forgotten["error"]["code"] == "previous_response_not_found"
        completed(turn(second, b1))  # the second's own are there (b1 and b2 fit)


def test_a_closed_connections_responses_leave_the_budget(small_budget: Gateway) -> None:
    with connect(small_budget) as staying:
        kept = completed(turn(staying))
        with connect(small_budget) as leaving:
            completed(turn(leaving))  # newer than `kept`
        time.sleep(0.3)  # the server ends the connection after the close handshake
        completed(turn(staying))  # had the closed one's stayed, `kept` would go now
        completed(turn(staying, kept))
