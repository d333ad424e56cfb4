"""Content parts: the vocabulary every message and response is made of.

Parts are frozen, keyword-only, `type`-tagged Structs. `extensions` carries opaque
round-trip data keyed `<provider type>.<field>` (thinking signatures, Gemini
thoughtSignatures, provider item ids) that must be echoed back to the provider that
issued it and is never interpreted by the core.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "CacheTTL",
    "Citation",
    "DocumentPart",
    "ImagePart",
    "MediaPart",
    "Part",
    "ReasoningPart",
    "ServerToolCallPart",
    "ServerToolResultPart",
    "TextPart",
    "TokenAlternative",
    "TokenLogprob",
    "ToolCallPart",
    "ToolResultPart",
    "WebSearchResult",
]

Extensions = dict[str, str]
CacheTTL = Literal["5m", "1h"]
"""How long a prompt-cache entry lives: Anthropic's two (its default `5m`, and `1h`)."""


class Citation(msgspec.Struct, frozen=True, kw_only=True):
    """A web citation on a span of text (character offsets into the part's text)."""

    url: str
    title: str | None = None
    cited_text: str | None = None
    encrypted_index: str | None = None
    start_index: int | None = None
    end_index: int | None = None


class TokenAlternative(msgspec.Struct, frozen=True, kw_only=True):
    """One of the likeliest tokens at a position (the chosen one may be among them)."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None
    """The token's UTF-8 bytes, when the upstream gave them."""


class TokenLogprob(msgspec.Struct, frozen=True, kw_only=True):
    """A generated token's log probability, and the likeliest alternatives at its place
    (as many as `ChatRequest.logprobs` asked for, or fewer)."""

    token: str
    logprob: float
    bytes: tuple[int, ...] | None = None
    top: tuple[TokenAlternative, ...] = ()


class TextPart(msgspec.Struct, tag="text", frozen=True, kw_only=True):
    text: str
    citations: tuple[Citation, ...] = ()
    cache_control: CacheTTL | None = None
    """A prompt-cache breakpoint at the part's end (Anthropic's `cache_control`, a
    Responses `prompt_cache_breakpoint`, a Chat part's LiteLLM-style `cache_control`),
    with its ttl; None for none."""
    refusal: bool = False
    """The model declining to answer: OpenAI's `refusal` (a Chat message's, a Responses
    `refusal` content part). Protocols without one read it as text."""
    logprobs: tuple[TokenLogprob, ...] | None = None
    """The text's tokens, when they were asked for (`ChatRequest.logprobs`) and the
    upstream returns them; None otherwise (Anthropic never does)."""


class ImagePart(msgspec.Struct, tag="image", frozen=True, kw_only=True):
    """An image given inline (`data`, bare base64) or by `url`; exactly one is set."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None
    detail: str | None = None


class DocumentPart(msgspec.Struct, tag="document", frozen=True, kw_only=True):
    """A document (PDF, text, Markdown, CSV) inline as base64 `data`, as plain `text`,
    or by `url`; exactly one of the three is set."""

    media_type: str | None = None
    data: str | None = None
    text: str | None = None
    url: str | None = None
    title: str | None = None
    filename: str | None = None


class ToolCallPart(msgspec.Struct, tag="tool_call", frozen=True, kw_only=True):
    id: str
    name: str
    arguments: str = ""
    """Raw JSON text, kept as received so an unchanged relay never re-serialises it."""
    extensions: Extensions = msgspec.field(default_factory=dict)


MediaPart = TextPart | ImagePart | DocumentPart


class ToolResultPart(msgspec.Struct, tag="tool_result", frozen=True, kw_only=True):
    tool_call_id: str
    content: tuple[MediaPart, ...] = ()
    is_error: bool = False
    name: str | None = None
    """The called tool's name when the client's protocol carries it (Gemini needs it)."""

    def text(self) -> str:
        """The text parts, one per line: for an upstream whose result is one string (each
        part is a separate block of the tool's output, which would otherwise run together)."""
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))


class ReasoningPart(msgspec.Struct, tag="reasoning", frozen=True, kw_only=True):
    """Model reasoning. `signature` is opaque state that is valid only at `origin`
    (a provider type); `redacted` marks encrypted reasoning with no readable text."""

    text: str = ""
    signature: str | None = None
    origin: str | None = None
    redacted: bool = False


class ServerToolCallPart(msgspec.Struct, tag="server_tool_call", frozen=True, kw_only=True):
    """A tool call executed by the gateway or the provider (e.g. web search)."""

    id: str
    name: str
    arguments: str = ""


class WebSearchResult(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    title: str = ""
    page_age: str | None = None
    encrypted_content: str = ""


class ServerToolResultPart(msgspec.Struct, tag="server_tool_result", frozen=True, kw_only=True):
    tool_call_id: str
    name: str = "web_search"
    results: tuple[WebSearchResult, ...] = ()
    error_code: str | None = None


Part = (
    TextPart
    | ImagePart
    | DocumentPart
    | ToolCallPart
    | ToolResultPart
    | ReasoningPart
    | ServerToolCallPart
    | ServerToolResultPart
)

JSONSchema = dict[str, Any]
