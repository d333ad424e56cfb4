"""Upstream providers: one small protocol per upstream wire protocol.

Contract: a Provider is a stateless singleton per upstream type. The pipeline calls
`build_request` (pure), sends it with the transport, then either `parse_response` /
`parse_error` on a complete body, or feeds the body's bytes to a fresh `stream_parser`.
Lossy mappings are recorded with `ctx.warn(...)`; unmappable features raise
`UnsupportedError`. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import msgspec

from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.ir import ChatRequest, ChatResponse, StreamEvent
from polyrelay.ir.tool_names import OPENAI_NAMES, ToolNameRule
from polyrelay.settings import ModelConfig, ProviderConfig

__all__ = [
    "Capabilities",
    "Provider",
    "Route",
    "StreamParser",
    "SupportsPassthrough",
    "TrimsRelayedStream",
    "UpstreamRequest",
    "UpstreamResponse",
    "upstream_headers",
]

# Where each upstream type reads the API key, and the scheme before it.
_CREDENTIAL_HEADERS: dict[str, tuple[str, str]] = {
    "openai": ("authorization", "Bearer "),
    "openai-responses": ("authorization", "Bearer "),
    "anthropic": ("x-api-key", ""),
    "gemini": ("x-goog-api-key", ""),
}


def upstream_headers(provider: ProviderConfig, headers: dict[str, str]) -> dict[str, str]:
    """`headers` plus the provider's API key in the header its type reads, then the
    provider's configured `headers` (which win); `headers` is updated and returned."""
    if provider.api_key is not None:
        name, scheme = _CREDENTIAL_HEADERS[provider.type]
        headers[name] = scheme + provider.api_key
    headers.update(provider.headers)
    return headers


class Route(msgspec.Struct, frozen=True, kw_only=True):
    """Where a public model name goes: the provider and the upstream's own model name."""

    public_model: str
    upstream_model: str
    provider: ProviderConfig
    model: ModelConfig


class UpstreamRequest(msgspec.Struct, kw_only=True):
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


class UpstreamResponse(msgspec.Struct, kw_only=True):
    status: int
    headers: dict[str, str]
    """Lower-case header names."""
    body: bytes


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What an upstream protocol can carry; the pipeline reads it to choose between a
    native mapping, a gateway emulation, or an UnsupportedError."""

    native_n: bool = False
    """Whether one call can return several choices (`n`)."""
    max_stop_sequences: int | None = None
    pdf: bool = True
    """Reads PDFs natively (the default; `pdf:` on a model or provider overrides it)."""
    image_urls: bool = False
    """The upstream fetches image URLs itself, so the gateway passes them through."""
    document_urls: bool = False
    """The upstream fetches PDF URLs itself, so the gateway passes them through."""
    text_documents: bool = False
    """Takes plain-text documents as their own blocks (else they become text parts)."""
    native_web_search: bool = False
    """Runs the web search server tool itself; otherwise the gateway runs the search loop."""
    tool_names: ToolNameRule = OPENAI_NAMES
    """The function names the upstream takes; others are renamed for it (ir/tool_names)."""


class StreamParser(Protocol):
    """Per-request, sans-I/O: upstream body bytes in, IR events out (ir/events.py grammar)."""

    def feed(self, chunk: bytes) -> list[StreamEvent]: ...

    def finish(self) -> list[StreamEvent]:
        """Called at EOF. Emits what is still held; a stream that ended without its
        terminal event yields a StreamError (never a silent truncation)."""
        ...


class Provider(Protocol):
    type: str
    """The upstream wire protocol: openai, openai-responses, anthropic or gemini."""
    capabilities: Capabilities

    def build_request(
        self, request: ChatRequest, route: Route, ctx: RequestContext
    ) -> UpstreamRequest: ...

    def parse_response(
        self, response: UpstreamResponse, route: Route, ctx: RequestContext
    ) -> ChatResponse: ...

    def parse_error(self, response: UpstreamResponse) -> UpstreamError: ...

    def stream_parser(self, route: Route, ctx: RequestContext) -> StreamParser: ...


@runtime_checkable
class TrimsRelayedStream(Protocol):
    """Optional, for a provider whose `passthrough_request` asks the upstream for more
    than the client did (Chat's stream usage): `relay_trim` takes out of the relayed
    frames what the client did not ask for."""

    def relay_trim(self, ctx: RequestContext) -> Callable[[bytes], bytes] | None:
        """A rewrite of whole relayed frames (bytes that end at a frame's end), or None
        when the client gets the frames as they come."""
        ...


@runtime_checkable
class SupportsPassthrough(Protocol):
    """The same-protocol fast path: the client's raw body goes upstream with only the
    model replaced (and, for Chat, stream usage requested); unknown fields are kept.
    Edits go on `body`, a fresh decode of the client's bytes, never on those bytes."""

    def passthrough_request(
        self, body: JSONObject, route: Route, stream: bool, headers: dict[str, str]
    ) -> UpstreamRequest:
        """`headers` are the client's request headers (lower-case names); a provider may
        forward protocol headers from them (e.g. anthropic-beta)."""
        ...

    def relay_parser(self, route: Route, ctx: RequestContext) -> StreamParser:
        """The parser of a relayed stream, which reads only its usage and its end (its
        bytes reach the client as they came): events that carry neither may be left
        undecoded."""
        ...
