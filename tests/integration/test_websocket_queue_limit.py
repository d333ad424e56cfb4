"""What one Responses WebSocket may hold queued in the gateway, through the real gateway:
the bodies of the `response.create` events waiting behind a turn under way stay under
`max_body_bytes` all together, as one HTTP request's body does. Else a single socket
parks lanes x backlog x max_body_bytes (tens of GB by default) in the gateway's memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.conftest import Emulator, Gateway, serving
from tests.integration.ws_support import ENDS, connect

LIMIT = 1_000_000


@pytest.fixture(scope="module")
def small_bodies(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("ws-queue")
    yield from serving(workdir, emulator, extra=f"max_body_bytes: {LIMIT}\n")


def create(text: str) -> str:
    return json.dumps(
        {"type": "response.create", "model": "gpt-5-mini", "input": text, "store": False}
    )


def test_queued_turns_past_max_body_bytes_are_refused_with_a_429(small_bodies: Gateway) -> None:
    third = "x" * (LIMIT * 2 // 5)  # two of them queue, a third would pass the limit
    with connect(small_bodies) as socket:
        socket.send(create("[[delay 1500]] slow"))  # under way while the others queue
        for _ in range(3):
            socket.send(create(third))
        ends: list[dict[str, Any]] = []
        while len(ends) < 4:
            event = json.loads(socket.recv(timeout=20))
            if event["type"] in ENDS:
                ends.append(event)
    completed = [e for e in ends if e["type"] == "response.completed"]
    errors = [e for e in ends if e["type"] == "error"]
    assert len(completed) == 3 and len(errors) == 1, [e["type"] for e in ends]
    assert errors[0]["status"] == 429
    assert "max_body_bytes" in errors[0]["error"]["message"]
