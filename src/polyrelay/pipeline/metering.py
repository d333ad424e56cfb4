"""Usage accounting for the request path: one `Meter` per request that reaches an upstream,
settled once into one `UsageRecord` row.

`Gateway.dispatch` creates the meter once the route is known and settles it, on every path:

- IR path, not streamed: the usage of every choice's `ChatResponse`, summed (the web search
  loop already sums its rounds into its response);
- IR path, streamed: `see` keeps the last usage seen per choice (`MessageStart`,
  `UsageDelta` are cumulative) as the events go to the renderer; the row is written when
  the response's frames are closed (end, in-band error or client disconnect) by
  `MeteredFrames.aclose`, so a cancelled stream records what the upstream had reported;
- fast path, streamed: `passthrough._forward` hands the relay parser's events to `see_all`,
  and `MeteredFrames.aclose` writes the row, as on the IR path;
- a stream whose client went away before its end (`abandon`, called by the SSE response
  on the disconnect, or by `MeteredFrames.aclose` for a reader cancelled meanwhile, as a
  WebSocket turn is when its connection closes): status 499 and the tokens reported
  until then;
- a stream that ended in an error (cut off, an in-band error, a timeout): its row has that
  error's status, as the same error before the stream would, and the tokens it reported
  (`fail`, or a StreamError seen by `see_all`);
- a stream's request log line is written at its end with the status its row records
  (`outcome`, which the SSE response asks once the frames are closed);
- fast path, not streamed: `usage_of_body` reads the `usage` object of the relayed JSON,
  already decoded to echo the model, with the provider's own usage mapping;
- an error the upstream answered (or a transport failure reaching it): a row with the
  status the client got, so refused and failed calls are visible too, and zero tokens
  unless the error carries usage (`GatewayError.usage`: a billed answer's, and that of
  the request's earlier calls that were answered, e.g. a tool loop's rounds);
- a run cancelled before its answer (a cancelled task or background response, a closed
  WebSocket, a client disconnected before its answer began): a row with status 499 and
  the usage of the upstream calls that had answered (`answered`: a tool loop's rounds, a
  paused turn's calls, `n` choices), else zero tokens.
  Errors raised before the call (bad body, unknown model, auth) record nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, cast

import msgspec

from polyrelay.codec import JSONObject
from polyrelay.errors import ClientClosedError
from polyrelay.ir import MessageStart, StreamError, StreamEvent, Usage, UsageDelta
from polyrelay.providers import upstream_json
from polyrelay.providers.anthropic.response import usage_to_ir as anthropic_usage
from polyrelay.providers.gemini.response import usage_to_ir as gemini_usage
from polyrelay.providers.openai_chat.response import usage_to_ir as chat_usage
from polyrelay.providers.openai_responses.response import usage_to_ir as responses_usage
from polyrelay.schemas.anthropic_messages import Usage as AnthropicUsage
from polyrelay.schemas.gemini import UsageMetadata
from polyrelay.schemas.openai_chat import CompletionUsage
from polyrelay.schemas.openai_responses import ResponseUsage
from polyrelay.storage.usage import UsageRecord, cost_usd

if TYPE_CHECKING:
    from polyrelay.context import RequestContext
    from polyrelay.providers import Route
    from polyrelay.storage import UsageStore

__all__ = ["Meter", "MeteredFrames", "usage_of_body"]


class Meter:
    """The usage of one request; `settle` writes its row once (later calls do nothing)."""

    __slots__ = (
        "_answered",
        "_choices",
        "_counted",
        "_ctx",
        "_route",
        "_settled",
        "_status",
        "_store",
        "_stream",
        "_usage",
    )

    def __init__(
        self,
        store: UsageStore,
        ctx: RequestContext,
        route: Route,
        *,
        stream: bool,
        counted: bool = False,
    ) -> None:
        """`counted`: the key has token limits, which count this request's tokens."""
        self._store = store
        self._counted = counted
        self._ctx = ctx
        self._route = route
        self._stream = stream
        self._usage = Usage()
        self._answered = Usage()
        self._choices: dict[int, Usage] = {}
        self._settled = False
        self._status = 200

    def add(self, usage: Usage) -> None:
        """A whole response's usage (summed with the other choices')."""
        self._usage = self._usage + usage

    def answered(self, usage: Usage) -> None:
        """An upstream call of a request not streamed answered (or the gateway's searches
        ran): what its row counts if the run is cancelled before the whole answer."""
        self._answered = self._answered + usage

    def cancel(self) -> None:
        """The run was stopped before its answer: 499, with the usage of the calls that
        had answered (a tool loop's earlier rounds, a paused turn's first call)."""
        self._usage = self._usage + self._answered
        self.settle(ClientClosedError.status)

    def see(self, event: StreamEvent, choice: int = 0) -> None:
        """The usage a stream event carries, if any: the stream's cumulative usage so far
        for `choice`, replacing the earlier value. (Exact types, not isinstance: this runs
        for every event of every stream, and IR events are never subclassed.)"""
        kind = type(event)
        if kind is UsageDelta:
            self._choices[choice] = cast(UsageDelta, event).usage
        elif kind is MessageStart:
            usage = cast(MessageStart, event).usage
            if usage is not None:
                self._choices[choice] = usage

    def see_all(self, events: list[StreamEvent]) -> None:
        """`see` for each of a relayed stream's events (one call per chunk, not per
        event: most are text deltas, which carry no usage)."""
        for event in events:
            kind = type(event)
            if kind is UsageDelta or kind is MessageStart:
                self.see(event)
            elif kind is StreamError:  # in the relayed bytes already: only its status
                self._status = cast(StreamError, event).status

    def fail(self, status: int) -> None:
        """The stream ended in an error with this status, which its row gets."""
        self._status = status

    def abandon(self) -> None:
        """The stream's client went away before its end: the row says 499, as nginx logs
        a closed request and as a run cancelled otherwise is recorded, with the usage the
        upstream had reported (a 200 would say the client got the whole answer)."""
        self._status = ClientClosedError.status

    def outcome(self) -> int:
        """The status the row records once settled (as it stands until then): what the
        request log says of a stream, at its end."""
        return self._status

    def settle(self, status: int | None = None) -> None:
        """`status`: the client's, when known here; else 200 or the stream's failure's."""
        if self._settled:
            return
        self._settled = True
        status = self._status = self._status if status is None else status
        usage = self._usage
        for seen in self._choices.values():
            usage = usage + seen
        model = self._route.model
        ctx = self._ctx
        self._store.record(
            UsageRecord(
                id=ctx.request_id,
                key_id=ctx.key_id or "",
                model=ctx.model,
                provider=self._route.provider.name,
                created_at=ctx.created,
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                cache_write_1h_tokens=usage.cache_write_1h_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                web_search_requests=usage.web_search_requests,
                cost_usd=cost_usd(usage, model),
                status=status,
                stream=self._stream,
                counted_minute=int(time.time()) // 60 if self._counted else None,
            )
        )


class MeteredFrames:
    """The response's frames, unchanged: iterating them is iterating the source itself (no
    extra generator hop per frame); `aclose`, which their reader (the SSE response, a
    WebSocket turn, a background response's run) always calls when the stream ends for
    whatever reason, closes the source and settles the meter. A reader whose run is being
    cancelled (a closed WebSocket, a cancelled background response) left the stream before
    its end: `abandon`, as the SSE response does when its client disconnects."""

    __slots__ = ("_frames", "_meter")

    def __init__(self, frames: AsyncIterator[bytes], meter: Meter) -> None:
        self._frames = frames
        self._meter = meter

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._frames.__aiter__()

    async def __anext__(self) -> bytes:
        return await self._frames.__anext__()

    async def aclose(self) -> None:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            self._meter.abandon()
        try:
            aclose = getattr(self._frames, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            self._meter.settle()


def usage_of_body(provider_type: str, document: object) -> Usage:
    """The usage in a relayed non-streamed response body (already decoded), mapped by the
    provider's own usage mapping; zero when absent or malformed."""
    if not isinstance(document, dict):
        return Usage()
    try:
        return _READERS[provider_type](document)
    except (KeyError, msgspec.ValidationError):
        return Usage()


# `convert(x, T | None)` analyses the union on every call (4.3 µs here); None is handled
# before converting to the Struct type itself (0.5 µs). `upstream_json.convert` reads a
# count written as 11.0 (as 11), which a strict convert refused: the row metered 0.


def _openai_chat(document: JSONObject) -> Usage:
    usage = document.get("usage")
    return Usage() if usage is None else chat_usage(upstream_json.convert(usage, CompletionUsage))


def _anthropic(document: JSONObject) -> Usage:
    raw = document.get("usage")
    return Usage() if raw is None else anthropic_usage(upstream_json.convert(raw, AnthropicUsage))


def _openai_responses(document: JSONObject) -> Usage:
    raw = document.get("usage")
    usage = responses_usage(None if raw is None else upstream_json.convert(raw, ResponseUsage), [])
    output = document.get("output")
    items = output if isinstance(output, list) else []
    searches = sum(1 for i in items if isinstance(i, dict) and i.get("type") == "web_search_call")
    return msgspec.structs.replace(usage, web_search_requests=searches)


def _gemini(document: JSONObject) -> Usage:
    usage = document.get("usageMetadata")
    return Usage() if usage is None else gemini_usage(upstream_json.convert(usage, UsageMetadata))


_READERS = {
    "openai": _openai_chat,
    "anthropic": _anthropic,
    "openai-responses": _openai_responses,
    "gemini": _gemini,
}
