"""What an idle Responses WebSocket keeps of its last turn: nothing but its memory of the
responses (ConnectionStore, bounded). The receive loop kept the last event's text and each
lane's worker the last turn's body while waiting for the next one, up to twice
max_body_bytes per lane for the connection's hour: 20 idle connections after one 2 MB
turn each held 75 MB more than their memories."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from polyrelay.frontends.openai_responses.connection import MemoryBudget
from polyrelay.web import responses_ws


class _Socket:
    """One `response.create` event, then silence (an idle client)."""

    headers: dict[str, str] = {}

    def __init__(self, text: str) -> None:
        self.events: list[dict[str, Any]] = [{"type": "websocket.receive", "text": text}]

    async def receive(self) -> dict[str, Any]:
        if self.events:
            return self.events.pop()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_an_idle_connection_keeps_neither_the_last_event_nor_the_last_body() -> None:
    settings = SimpleNamespace(
        max_body_bytes=10**6, responses=SimpleNamespace(websocket_max_seconds=3600.0)
    )
    gateway: Any = SimpleNamespace(settings=settings, database=SimpleNamespace(responses=None))
    frontend: Any = SimpleNamespace(reading=lambda store: None)
    text = json.dumps({"type": "response.create", "model": "m", "input": "x" * 1000})
    connection = responses_ws._Connection(
        gateway,
        frontend,
        _Socket(text),
        None,
        MemoryBudget(10**6),  # type: ignore[arg-type]
    )
    done = asyncio.Event()

    async def respond(job: responses_ws._Job) -> None:
        done.set()

    connection.respond = respond  # type: ignore[method-assign]

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        reading = asyncio.create_task(connection.run())
        await done.wait()
        for _ in range(5):  # both loops back at their next wait
            await asyncio.sleep(0)
        held = (_locals(reading), _locals(connection.workers[0]))
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        return held

    receiving, serving = asyncio.run(scenario())
    assert "text" not in receiving and "message" not in receiving
    assert "job" not in serving


def _locals(task: asyncio.Task[Any]) -> dict[str, Any]:
    frame = task.get_coro().cr_frame  # type: ignore[union-attr]
    assert frame is not None
    return dict(frame.f_locals)
