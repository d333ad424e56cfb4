"""Client-facing protocols: decode a wire request into the IR, encode IR back.

Contract: a Frontend is a stateless singleton per wire protocol. `decode` validates and
raises InvalidRequestError naming the field; `encode` renders finished responses;
`stream_renderer` returns a fresh, single-use StreamRenderer for one streamed response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError
from polyrelay.ir import ChatRequest, ChatResponse, StreamEvent, TextDelta

__all__ = [
    "EncodesErrorInContext",
    "Frontend",
    "PassthroughHooks",
    "ReadsHeaders",
    "ReadsStore",
    "StreamObserver",
    "StreamRenderer",
]


class StreamRenderer(Protocol):
    """IR events in, complete SSE frames out. Not thread-safe; one per response."""

    def feed(self, event: StreamEvent, choice: int = 0) -> list[bytes]:
        """`choice` is the index of the parallel completion the event belongs to
        (only Chat Completions with n > 1 uses more than 0)."""
        ...

    def feed_texts(self, deltas: list[TextDelta], choice: int = 0) -> list[bytes]:
        """The frames of feeding each delta in turn; one call for a run of text deltas
        (the hot events), rendered together once the renderer's state is checked."""
        ...

    def finish(self) -> list[bytes]:
        """Terminal frames (`[DONE]`, `response.completed`, ...) after every choice ended."""
        ...

    def fail(self, error: GatewayError) -> list[bytes]:
        """An in-band error after the headers went out; the stream ends after these."""
        ...

    def heartbeat(self) -> list[bytes]:
        """Frames that keep a silent stream alive (an Anthropic `ping`, an SSE comment).
        The pipeline sends them only after the stream's first frame, between frames."""
        ...


class Frontend(Protocol):
    name: str
    """Also the upstream type that speaks the same protocol (the fast path)."""

    def decode(self, body: bytes, ctx: RequestContext) -> ChatRequest: ...

    def encode(self, responses: Sequence[ChatResponse], ctx: RequestContext) -> bytes:
        """One response per choice; only Chat Completions accepts more than one."""
        ...

    def encode_error(self, error: GatewayError) -> tuple[int, bytes]: ...

    def stream_renderer(self, request: ChatRequest, ctx: RequestContext) -> StreamRenderer: ...


class StreamObserver(Protocol):
    """Sees the raw bytes of a relayed stream, e.g. to store the final response."""

    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> None: ...


@runtime_checkable
class PassthroughHooks(Protocol):
    """Optional, for a frontend that keeps gateway-side state around same-protocol
    relays (the Responses API's stored responses and previous_response_id)."""

    def passthrough_body(self, raw: JSONObject, ctx: RequestContext) -> JSONObject:
        """Edit the client's decoded body before it is relayed (e.g. expand history)."""
        ...

    def passthrough_result(
        self, document: object, body: bytes, ctx: RequestContext
    ) -> bytes | None:
        """See (and possibly rewrite) a complete relayed response: `document` is `body`
        decoded, free to change. None leaves the body to the relay, which echoes the
        model name the client asked for."""
        ...

    def passthrough_observer(self, ctx: RequestContext) -> StreamObserver: ...

    def passthrough_echoes(self, ctx: RequestContext) -> list[tuple[bytes, bytes]]:
        """Byte replacements that make a relayed stream's frames echo what the client
        asked where `passthrough_body` changed it (the model name is the relay's job)."""
        ...


@runtime_checkable
class ReadsHeaders(Protocol):
    """Optional, for a frontend whose protocol carries request options in headers
    (Anthropic's `anthropic-beta`). The pipeline calls it right before `decode`."""

    def note_headers(self, headers: Mapping[str, str], ctx: RequestContext) -> None: ...


@runtime_checkable
class ReadsStore(Protocol):
    """Optional, for a frontend whose `decode` may read the database (the Responses
    history of `previous_response_id`): the pipeline then decodes through
    `Database.call`, which keeps a database server's round trips from blocking the loop."""

    def reads_store(self, body: bytes) -> bool:
        """Whether decoding `body` may read the database; a cheap look at the bytes."""
        ...


@runtime_checkable
class EncodesErrorInContext(Protocol):
    """Optional: `encode_error` with the request's context (e.g. to carry its request id
    in the body); the pipeline prefers it over `encode_error` when present."""

    def encode_error_in(self, error: GatewayError, ctx: RequestContext) -> tuple[int, bytes]: ...
