"""Saving finished responses (`store: true`) and the fast path's history expansion.

A response is saved, for the request's key, once it ends `completed` or `incomplete`:
- IR path, unary: by the frontend's `encode`;
- IR path, streamed: by `StoringStreamRenderer.finish`, from the renderer's final Response;
- fast path (an openai-responses upstream), unary: by `passthrough_result` on the body;
- fast path, streamed: by `StoringObserver`, at the relayed `response.completed` or
  `response.incomplete` event.
Failed responses are never saved, so they cannot be chained. A storage fault is logged and
does not fail the client's response, which has been produced already.

`upstream_input` builds the fast path's `input`: the stored history then the client's
items, since the upstream never sees our `previous_response_id`. Reasoning items go back
only to the provider that made them: items carrying a gateway `gw1.` blob (reasoning
from Anthropic or Gemini) are dropped, and inherited OpenAI reasoning items lose their
`id` (with `store: false` upstream, OpenAI looks ids up and fails) and are dropped when
they carry no `encrypted_content` to replay.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from polyrelay import codec
from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.frontends.openai_responses.blob import BLOB_PREFIX
from polyrelay.frontends.openai_responses.options import ResponsesOptions
from polyrelay.frontends.openai_responses.stream import OpenAIResponsesStreamRenderer
from polyrelay.ir.reasoning_token import is_reasoning_token
from polyrelay.schemas.openai_responses import InputItemParam, Response
from polyrelay.sse import MAX_EVENT_BYTES, HeldEvent, SSEDecoder, SSEEvent
from polyrelay.storage import EncodedResponse, ResponseStore

__all__ = [
    "StoringObserver",
    "StoringStreamRenderer",
    "finish_response",
    "save_encoded",
    "save_response",
    "upstream_input",
]

log = logging.getLogger("polyrelay.responses")

_STORABLE = frozenset({"completed", "incomplete"})
_LATEST_TIME = 2**53
_NOT_STORED = "the upstream's Response has no string id and status; it was not stored"
_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete"})
_TERMINAL_MARKS = tuple(name.encode() for name in _TERMINAL_EVENTS)
_OVERLAP = max(map(len, _TERMINAL_MARKS)) + 1
"""Held bytes looked at again with a new chunk: a name or a blank line may span the two."""


def _names_terminal(data: bytes) -> bool:
    return any(data.find(mark) >= 0 for mark in _TERMINAL_MARKS)


def save_response(
    store: ResponseStore | None,
    response: JSONObject,
    options: ResponsesOptions,
    ctx: RequestContext,
    *,
    encoded: bytes | None = None,
) -> None:
    """Save a Response object held as a dict (the fast path's, decoded from upstream);
    `encoded` is that dict as sent to the client, when the caller has it. A Response whose
    `id` or `status` is not a string is relayed as the upstream sent it, but not stored."""
    response_id, status = response.get("id"), response.get("status")
    if not (isinstance(response_id, str) and isinstance(status, str)):
        if options.store:  # the log too: a stream's headers (and warnings) are already sent
            ctx.warn(_NOT_STORED)
            log.warning("request %s: %s", ctx.request_id, _NOT_STORED)
        return
    if store is not None and _storing(options, ctx, status):
        body = codec.encode(response) if encoded is None else encoded
        _put(store, response_id, status, _created_at(response, ctx), body, options, ctx)


def _created_at(response: JSONObject, ctx: RequestContext) -> int:
    """The upstream's `created_at` when it is a plausible time (a column of 64 bits holds
    it), else the request's own."""
    created = response.get("created_at")
    if isinstance(created, bool) or not isinstance(created, int | float):
        return ctx.created
    return int(created) if 0 <= created < _LATEST_TIME else ctx.created


def save_encoded(
    store: ResponseStore | None,
    response: Response,
    encoded: bytes,
    options: ResponsesOptions,
    ctx: RequestContext,
) -> None:
    """Save the IR path's Response as the JSON the client was sent (`encoded` is
    `response` encoded): nothing is converted or encoded again."""
    if store is not None and _storing(options, ctx, response.status):
        status, when = str(response.status), int(response.created_at)
        _put(store, response.id, status, when, encoded, options, ctx)


def _storing(options: ResponsesOptions, ctx: RequestContext, status: object) -> bool:
    return options.store and ctx.key_id is not None and status in _STORABLE


def _put(
    store: ResponseStore,
    response_id: str,
    status: str,
    created_at: int,
    encoded: bytes,
    options: ResponsesOptions,
    ctx: RequestContext,
) -> None:
    record = EncodedResponse(
        id=response_id,
        key_id=ctx.key_id or "",
        created_at=created_at,
        status=status,
        previous_response_id=options.previous_response_id,
        response=encoded,
        input_items=list(options.input_items),
    )
    try:
        store.put(record)
    except Exception:  # the client has its response; losing the stored copy is logged
        log.exception("could not store response %s", record.id)


def finish_response(response: JSONObject, options: ResponsesOptions, ctx: RequestContext) -> None:
    """Echo what the client asked, not what the fast path sent upstream."""
    response["previous_response_id"] = options.previous_response_id
    response["store"] = options.store
    if ctx.model:
        response["model"] = ctx.model


class StoringStreamRenderer(OpenAIResponsesStreamRenderer):
    """The IR path's renderer that also saves its final Response when the stream ends (a
    subclass, not a wrapper: a wrapper's call per event showed in profiles)."""

    def __init__(
        self, ctx: RequestContext, options: ResponsesOptions, store: ResponseStore
    ) -> None:
        super().__init__(ctx, options)
        self._store = store
        self._saved = False

    def finish(self) -> list[bytes]:
        frames = super().finish()
        final, encoded, options = self.final_response, self.final_json, self._options
        if final is not None and encoded is not None and options is not None and not self._saved:
            self._saved = True
            save_encoded(self._store, final, encoded, options, self._ctx)
        return frames


class StoringObserver:
    """Sees a relayed Responses stream; saves the response its terminal event carries.

    Only the terminal event matters, so the bytes are not SSE-decoded until a chunk names
    a terminal event type: until then the observer keeps only the unfinished frame at the
    end of what it saw (so a name split across two chunks is still found, and decoding
    starts on a frame boundary). Text that merely mentions the name only starts decoding
    early; so does a CR, since CR line endings have no LF-LF boundary to cut at."""

    def __init__(
        self, store: ResponseStore | None, options: ResponsesOptions, ctx: RequestContext
    ) -> None:
        self._store = store
        self._options = options
        self._ctx = ctx
        self._decoder: SSEDecoder | None = None
        self._held = HeldEvent()
        """The unfinished frame at the end of what was seen."""
        self._tail = b""
        """The held bytes' last _OVERLAP."""
        self._saved = False
        self._relayed = options.relayed

    def feed(self, chunk: bytes) -> None:
        if self._relayed is not None:
            self._relayed.add(chunk)
        if self._saved:
            return
        if self._decoder is None:
            # What is new, with enough of the held bytes before it to find a name or a
            # blank line split across the two.
            window = self._tail + chunk
            if window.find(b"\r") < 0 and not _names_terminal(window):
                self._hold(window, len(self._tail), chunk)
                return
            data = self._held.take(chunk)
            if data.find(b"\r") < 0:
                first = min(at for mark in _TERMINAL_MARKS if (at := data.find(mark)) >= 0)
                start = data.rfind(b"\n\n", 0, first)  # decode from that frame on
                data = data[start + 2 :] if start >= 0 else data
            self._tail, self._decoder, chunk = b"", SSEDecoder(), data
        try:
            events = self._decoder.feed(chunk)
        except UpstreamError:  # an event past MAX_EVENT_BYTES: the client's stream goes on
            self._give_up()
            return
        for event in events:
            self._event(event)

    def _hold(self, window: bytes, overlap: int, chunk: bytes) -> None:
        """Keep the unfinished frame at the end of `window` (the held tail, then `chunk`)."""
        cut = window.rfind(b"\n\n")
        if cut >= 0:  # a frame ended: what follows starts the next one
            # The held bytes have no blank line, so this one ends in `chunk`.
            self._held.clear()
            chunk = chunk[cut + 2 - overlap :]
            self._tail = chunk[-_OVERLAP:]
        else:
            self._tail = window[-_OVERLAP:]
        try:
            self._held.add(chunk)
        except UpstreamError:  # past MAX_EVENT_BYTES
            self._give_up()

    def _give_up(self) -> None:
        """Past MAX_EVENT_BYTES in one event: nothing more is held, nothing stored."""
        self._saved = True
        self._held.clear()
        self._tail, self._decoder = b"", None
        log.warning(
            "request %s: a relayed Responses stream event is larger than %d MiB; "
            "its response is not stored",
            self._ctx.request_id,
            MAX_EVENT_BYTES >> 20,
        )

    def finish(self) -> None:
        if not self._saved and self._decoder is not None:
            for event in self._decoder.finish():
                self._event(event)

    def _event(self, event: SSEEvent) -> None:
        # Only the terminal event is decoded; the `event:` line names it when present.
        if self._saved or (event.event is not None and event.event not in _TERMINAL_EVENTS):
            return
        try:
            data = codec.decode(event.data)
        except codec.DecodeError:
            return
        response = data.get("response") if isinstance(data, dict) else None
        if data.get("type") in _TERMINAL_EVENTS and isinstance(response, dict):
            self._saved = True
            finish_response(response, self._options, self._ctx)
            save_response(self._store, response, self._options, self._ctx)


def _is_gateway_blob(item: Any) -> bool:
    encrypted = item.get("encrypted_content")
    return isinstance(encrypted, str) and encrypted.startswith(BLOB_PREFIX)


def _inherited(item: InputItemParam) -> JSONObject | None:
    document: JSONObject = msgspec.to_builtins(item)
    if item.type != "reasoning":
        return document
    if not item.encrypted_content or _is_gateway_blob(document):
        return None
    document.pop("id", None)
    return document


def upstream_input(
    raw: JSONObject, options: ResponsesOptions, ctx: RequestContext
) -> object | None:
    """The `input` to relay upstream, or None when the client's may go as it is: no
    history to put before it, no items truncation left out, no reasoning this gateway
    issued for another provider. That is told from the decoded request's items, so that
    `raw`'s input (most of a Codex turn, codec.LazyObject) is decoded only to be changed."""
    if not options.history and options.kept_input is None:
        if not any(
            item.type == "reasoning" and is_reasoning_token(item.encrypted_content)
            for item in options.input_items
        ):
            return None
    raw_input = raw.get("input")
    current: list[Any] = (
        [{"role": "user", "content": raw_input}] if isinstance(raw_input, str) else []
    )
    if isinstance(raw_input, list):
        current = list(raw_input)
    if options.kept_input is not None:
        current = [current[i] for i in options.kept_input if i < len(current)]
    inherited = [_inherited(item) for item in options.history]
    items = [i for i in inherited if i is not None]
    items += [
        i
        for i in current
        if not (isinstance(i, dict) and i.get("type") == "reasoning" and _is_gateway_blob(i))
    ]
    if len(items) < len(options.history) + len(current):
        ctx.warn("reasoning made by another provider was not sent to the OpenAI upstream")
    return items
