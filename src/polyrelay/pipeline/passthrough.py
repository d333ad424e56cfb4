"""The same-protocol fast path.

The client's body goes upstream with only the model replaced (the provider's
`passthrough_request` decides the few other edits, e.g. Chat's stream usage), so fields
polyrelay does not know survive. The edits go on a fresh decode of the client's bytes.
Streams are forwarded byte for byte and also parsed by the provider's `relay_parser`, for
their usage and so that a stream that breaks off is ended with an in-band error instead of
being silently truncated; events that carry neither are not decoded where their names
say so (Anthropic, Responses).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, cast

from starlette.responses import Response

from polyrelay import codec
from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, UpstreamError
from polyrelay.frontends import Frontend, PassthroughHooks, StreamObserver, StreamRenderer
from polyrelay.ir import ChatRequest, StreamError
from polyrelay.ir.tool_ids import plain_wire_ids
from polyrelay.pipeline.metering import Meter, MeteredFrames, usage_of_body
from polyrelay.pipeline.replies import conforms, response_headers, sse_response
from polyrelay.pipeline.sse_response import FinalFrames
from polyrelay.pipeline.unstreamed import decoded_json, refuse_if_unstreamed
from polyrelay.providers import (
    Provider,
    Route,
    StreamParser,
    SupportsPassthrough,
    TrimsRelayedStream,
)
from polyrelay.providers.transport import UpstreamStream
from polyrelay.sse import HeldEvent, LineEndings, ends_event, whole_event

if TYPE_CHECKING:
    from polyrelay.pipeline.handler import Gateway

__all__ = ["relay"]


async def relay(
    gateway: Gateway,
    provider: Provider,
    route: Route,
    body: bytes,
    chat: ChatRequest,
    frontend: Frontend,
    ctx: RequestContext,
    headers: Mapping[str, str],
    meter: Meter,
    extended_ids: bool = False,
    top: codec.LazyObject | None = None,
) -> Response:
    """`body` goes decoded one level deep (codec.LazyObject; `top` if the handler read it
    already): the changes below are to top-level members, and the rest (the conversation,
    most of the body) goes out as the client wrote it. `meter` gets the usage: read from
    the relayed body, or from the stream's parser. `extended_ids`: the conversation holds
    tool-call ids this gateway extended for another upstream (ir/tool_ids.py), which go
    out plain."""
    assert conforms(provider, SupportsPassthrough)
    relaying = cast(SupportsPassthrough, provider)
    hooks = cast(PassthroughHooks, frontend) if conforms(frontend, PassthroughHooks) else None
    raw: JSONObject = top if top is not None else codec.LazyObject.of(body)
    # The service's own field (`async: false` asks for the plain synchronous call); the
    # provider's API does not know it and would refuse it.
    raw.pop("async", None)
    if hooks is not None:
        raw = hooks.passthrough_body(raw, ctx)
    if extended_ids:
        plain_wire_ids(raw)
    upstream_request = relaying.passthrough_request(
        raw, route, chat.stream, _merged_headers(headers)
    )
    stream = await gateway.client.open(upstream_request, route.provider)
    if stream.status >= 400 or not chat.stream:
        return await _relay_whole(stream, provider, hooks, ctx, meter)
    await refuse_if_unstreamed(stream, provider.type)
    renderer = _Boundary(frontend.stream_renderer(chat, ctx))
    observer = hooks.passthrough_observer(ctx) if hooks is not None else None
    parser = relaying.relay_parser(route, ctx)
    extra = hooks.passthrough_echoes(ctx) if hooks else []
    trims = conforms(provider, TrimsRelayedStream)
    trim = cast(TrimsRelayedStream, provider).relay_trim(ctx) if trims else None
    echo = _Echo(route.upstream_model, ctx.model, extra, trim, metadata=_names_model(raw))
    frames = MeteredFrames(_forward(stream, parser, renderer, observer, meter, echo), meter)
    keepalive = gateway.settings.stream_keepalive_seconds
    return sse_response(frames, renderer.heartbeat, ctx, keepalive, meter)


async def _relay_whole(
    stream: UpstreamStream,
    provider: Provider,
    hooks: PassthroughHooks | None,
    ctx: RequestContext,
    meter: Meter,
) -> Response:
    """An error, or the answer to a request that is not streamed: read whole, relayed
    with the model the client asked for."""
    async with stream:
        response = await stream.read()
    if response.status >= 400:
        raise provider.parse_error(response)
    document = decoded_json(response.body)
    if not isinstance(document, dict):  # empty, cut short, a proxy's HTML page
        raise UpstreamError("unreadable upstream response: not a JSON object", status=502)
    meter.add(usage_of_body(provider.type, document))
    meter.settle(200)
    result = hooks.passthrough_result(document, response.body, ctx) if hooks else None
    if result is None:
        result = _patch_model(document, response.body, ctx.model)
    return Response(result, 200, response_headers(ctx), media_type="application/json")


def _merged_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case names; a header sent several times (anthropic-beta often is) is joined
    with commas, as HTTP allows, instead of keeping only the first. Starlette's `Headers`
    are read from their raw pairs: its `getlist` decodes every header on every call."""
    raw: list[tuple[bytes, bytes]] | None = getattr(headers, "raw", None)
    if raw is None:
        return {k.lower(): v for k, v in headers.items()}
    merged: dict[str, str] = {}
    for raw_name, raw_value in raw:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        seen = merged.get(name)
        merged[name] = value if seen is None else f"{seen}, {value}"
    return merged


def _names_model(raw: object) -> bool:
    """Whether the client's metadata has a `model` of its own, which a stream that echoes
    the metadata (Responses) would show beside the response's."""
    metadata = raw.get("metadata") if isinstance(raw, dict) else None
    return isinstance(metadata, dict) and "model" in metadata


def _patch_model(document: object, body: bytes, model: str) -> bytes:
    """Echo the model name the client asked for, as the IR path does (`document` is
    `body` decoded)."""
    if isinstance(document, dict) and "model" in document:
        document["model"] = model
        return codec.encode(document)
    return body


class _Boundary:
    """The renderer of a relayed stream (LF line endings), whose heartbeat waits for the
    end of an upstream frame: raw chunks may stop in the middle of one, where a heartbeat
    would corrupt it."""

    __slots__ = ("_pieces", "at_boundary", "ids", "inner")

    def __init__(self, inner: StreamRenderer) -> None:
        self.inner = inner
        self.at_boundary = True
        self._pieces: list[bytes] = []
        """The bytes after the last blank line, when the last chunk did not end at one."""
        self.ids = False
        """The upstream's frames carry `id:` lines. The openai SDK's reader then takes a
        comment heartbeat's blank line for an event with empty data (the last event id
        stays set) and fails on it, so such a stream gets no heartbeats."""

    def feed(self, chunk: bytes) -> None:
        self.at_boundary = chunk.endswith(b"\n\n")
        if self.at_boundary:
            if self._pieces:
                self._pieces = []
            return
        end = chunk.rfind(b"\n\n")
        if end >= 0:
            self._pieces = [chunk[end + 2 :]]
        else:
            self._pieces.append(chunk)  # an event longer than a chunk: joined only at the end

    def heartbeat(self) -> list[bytes]:
        return self.inner.heartbeat() if self.at_boundary and not self.ids else []

    def ended(self, tail: bytes) -> bytes:
        """`tail`, the end of a stream that ended well. A last event the upstream did not
        follow with its blank line gets one, or the client's reader, as the SSE spec
        says, would drop it; a piece of one cut short (its data no whole JSON) does not,
        and is dropped if it was not sent yet."""
        if tail:
            self.feed(tail)
        if self.at_boundary:
            return tail
        fragment = b"".join(self._pieces)
        if not whole_event(fragment):
            return tail[: len(tail) - min(len(tail), len(fragment))]
        return tail + (b"\n" if fragment.endswith(b"\n") else b"\n\n")

    def fail(self, error: GatewayError) -> list[bytes]:
        frames = self.inner.fail(error)
        # Relayed bytes may stop mid-frame: end that frame first, or the error frame
        # would be read as the rest of it.
        return frames if self.at_boundary else [b"\n\n", *frames]

    def end(self, tail: bytes, error: GatewayError) -> bytes:
        """`tail` (bytes not sent yet, that the stream ended with) and then the error
        frames. A partial frame at the end of `tail` is dropped: its rest never came, and
        the client would read it as a broken event. A partial frame already sent can only
        be ended (`fail`)."""
        end = tail.rfind(b"\n\n")
        if end >= 0:
            self.at_boundary = True
            return tail[: end + 2] + b"".join(self.inner.fail(error))
        return b"".join(self.fail(error))


def _ended(
    tail: bytes,
    parser: StreamParser,
    observer: StreamObserver | None,
    meter: Meter,
    renderer: _Boundary,
) -> bytes:
    """The stream's last bytes once the upstream's ended: its error frames if the parser
    found it cut short or failed, else `tail` with its last event ended."""
    if observer is not None:
        observer.finish()
    ending = parser.finish()
    meter.see_all(ending)
    failed = False
    for event in ending:
        if isinstance(event, StreamError):
            error = UpstreamError(event.message, status=event.status, kind=event.kind)
            tail = renderer.end(tail, error)
            failed = True
    return tail if failed else renderer.ended(tail)


def _probe_ids(renderer: _Boundary, chunk: bytes) -> bool:
    """Note whether the stream's events carry `id:` lines; whether to look again in the
    next chunk (this one had no data)."""
    first = _first_data_event(chunk)
    if first is None:
        return True
    renderer.ids = first.startswith(b"id:") or first.find(b"\nid:") >= 0
    return False


def _first_data_event(chunk: bytes) -> bytes | None:
    """The first event with data in `chunk` (LF line endings), where an upstream that
    numbers its events (`id:` lines) numbers it too; None when it has none (comments).
    Only that event is searched: a search of a whole 6 KB chunk for `\nid:` cost 3.6 µs."""
    at = chunk.find(b"data:")
    if at < 0:
        return None
    start = chunk.rfind(b"\n\n", 0, at)
    end = chunk.find(b"\n\n", at)
    return chunk[0 if start < 0 else start + 2 : len(chunk) if end < 0 else end]


_MODEL_MEMBER = re.compile(rb'"model": ?"((?:[^"\\]|\\.)+)"')
"""A model member with a name: Azure's first chunk (its prompt filter results) has
`"model":""`, which names no model."""
_LEARNING_FRAMES = 8
"""How many chunks of frames with data may go by without naming the model before the
relay stops looking (a stream that names none is passed through)."""
_MODEL_KEYS = (b'"model":', b'"model": ')


class _Echo:
    """Makes relayed stream frames echo what the client asked where the upstream echoes
    something else:
    - the model name the client asked for, as the non-streamed fast path and the IR path
      do. The upstream's own name is read from the first frames (OpenAI answers a dated
      snapshot, `gpt-4o-mini-2024-07-18`, and an alias's target is not the client's
      business). When the client's metadata names a model too (a Responses stream echoes
      it), only each frame's first `"model"` member is rewritten: in every protocol's
      frames that is the response's own, ahead of the metadata;
    - the frontend's own fields (PassthroughHooks.passthrough_echoes);
    - and it drops what the provider asked for and the client did not (`trim`).
    Only whole frames are rewritten (a partial frame waits for the rest), so a name split
    across two chunks is still found. A JSON string's own quotes are escaped, so text that
    merely mentions a name is not touched. With nothing to rewrite, chunks pass untouched."""

    __slots__ = (
        "_held",
        "_learning",
        "_looked",
        "_metadata",
        "_model",
        "_pairs",
        "_public",
        "_trim",
    )

    def __init__(
        self,
        upstream: str,
        public: str,
        extra: list[tuple[bytes, bytes]],
        trim: Callable[[bytes], bytes] | None = None,
        *,
        metadata: bool = True,
    ) -> None:
        """`metadata`: whether the frames may echo a client's metadata naming a model."""
        self._held = HeldEvent()
        """The partial frame at the end."""
        self._public = codec.encode(public)
        self._model = self._model_pairs(codec.encode(upstream)[1:-1])
        """The model member as the upstream writes it, and as the client asked it."""
        self._learning = True
        """Until the upstream's model name is found in a frame (or _LEARNING_FRAMES went
        by): the frames may name another model."""
        self._looked = 0
        self._pairs = extra
        self._trim = trim
        self._metadata = metadata

    def feed(self, chunk: bytes) -> bytes:
        if not self._learning and not self._model and not self._pairs and not self._trim:
            return chunk
        if self._held:
            if not ends_event(self._held, chunk):
                self._held.add(chunk)  # still the same frame
                return b""
            data = self._held.take(chunk)
        else:
            data = chunk
        cut = data.rfind(b"\n\n") + 2
        if cut < 2:
            self._held.add(data)
            return b""
        if self._learning:
            self._learn(data[:cut])
            if not self._model and not self._pairs and not self._trim:
                return data  # nothing to rewrite from here on, the partial frame included
        self._held.add(data[cut:])
        return self._rewrite(data[:cut])

    def finish(self) -> bytes:
        held = self._held.take()
        return self._rewrite(held) if held else b""

    def _learn(self, frames: bytes) -> None:
        """The first frames that name a model (not comments, not Azure's nameless first
        chunk) name the upstream's."""
        found = _MODEL_MEMBER.search(frames)
        if found is not None:
            # The upstream writes every frame alike: its spacing is the one to look for.
            key = _MODEL_KEYS[0] if found.group(0)[8:9] == b'"' else _MODEL_KEYS[1]
            self._model = self._model_pairs(found.group(1), (key,))
        elif frames.find(b"data:") >= 0:
            self._looked += 1
        self._learning = found is None and self._looked < _LEARNING_FRAMES

    def _model_pairs(
        self, upstream: bytes, keys: tuple[bytes, ...] = _MODEL_KEYS
    ) -> list[tuple[bytes, bytes]]:
        """The model member, compact or with a space after the colon, as the upstream
        writes it (`upstream`: the JSON string's raw content) and as the client asked."""
        if b'"' + upstream + b'"' == self._public:
            return []
        return [(key + b'"' + upstream + b'"', key + self._public) for key in keys]

    def _rewrite(self, data: bytes) -> bytes:
        for old, new in self._pairs:
            data = data.replace(old, new)
        if self._model and self._metadata and data.find(b'"metadata":{"') >= 0:
            # The client's metadata may hold a `"model"` of the same value: only each
            # frame's first member is the response's own.
            for old, new in self._model:
                frames = data.split(b"\n\n")
                data = b"\n\n".join([frame.replace(old, new, 1) for frame in frames])
        else:
            for old, new in self._model:
                data = data.replace(old, new)
        return self._trim(data) if self._trim is not None else data


async def _forward(
    stream: UpstreamStream,
    parser: StreamParser,
    renderer: _Boundary,
    observer: StreamObserver | None,
    meter: Meter,
    rename: _Echo,
) -> AsyncIterator[bytes]:
    """The relayed bytes. The chunk that ends the upstream stream (its end arrived with
    it, so nothing waits for it) goes out with the end of the response, in one send."""
    tail = b""
    # LF line endings from here on: one frame boundary (a blank line) for the trims, the
    # model echo and the heartbeats; it means the same to every SSE reader.
    lines = LineEndings()
    probing = True  # for `id:` lines, until the first chunk with data
    try:
        async with stream:
            async for chunk in stream.chunks():
                if lines.active or chunk.find(b"\r") >= 0:
                    chunk = lines.feed(chunk)
                if probing:
                    probing = _probe_ids(renderer, chunk)
                # An in-band upstream error is in these bytes already: forward, don't add
                # (the meter notes its status).
                meter.see_all(parser.feed(chunk))
                if observer is not None:
                    observer.feed(chunk)
                chunk = rename.feed(chunk)
                if stream.at_eof():
                    tail += chunk
                elif chunk:
                    renderer.feed(chunk)
                    yield chunk
        last = lines.finish()  # a CR that ended the stream
        if last:
            meter.see_all(parser.feed(last))
            tail += rename.feed(last)
            if observer is not None:
                observer.feed(last)
        yield FinalFrames(_ended(tail + rename.finish(), parser, observer, meter, renderer))
    except GatewayError as error:
        meter.fail(error.status)
        yield FinalFrames(renderer.end(tail, error))
