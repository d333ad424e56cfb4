"""What every protocol module provides to the app."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from starlette.responses import Response

from polyrelay.codec import JSONObject
from polyrelay.emulator.script import Conversation, Plan
from polyrelay.emulator.state import BoundedMemory
from polyrelay.emulator.streaming import Frame

__all__ = ["Dialect", "Reply", "ReplyContext", "resolve_tool_name"]


@dataclass(slots=True)
class Reply:
    """A protocol's answer: a complete JSON body, or a stream of frames."""

    body: bytes | None = None
    frames: Iterator[Frame] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = "text/event-stream"


@dataclass(slots=True)
class ReplyContext:
    """Per-answer constants: the same id, model and time appear in every chunk."""

    model: str
    response_id: str
    created: int = field(default_factory=lambda: int(time.time()))


class Dialect(Protocol):
    def conversation(self, body: JSONObject, call_names: BoundedMemory) -> Conversation: ...

    def reply(self, plan: Plan, body: JSONObject) -> Reply: ...

    def error(
        self,
        status: int,
        message: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> Response: ...


def resolve_tool_name(call_id: str, local_names: dict[str, str], call_names: BoundedMemory) -> str:
    """The tool a result answers: from the call in this request, else from ids we issued."""
    return local_names.get(call_id) or call_names.get(call_id) or "unknown"
