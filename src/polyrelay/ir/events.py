"""Stream events: the IR of a streamed response, at Anthropic's granularity.

Grammar (enforced by `StreamAccumulator`):

    MessageStart (PartStart delta* PartStop)* UsageDelta* MessageStop
    ... StreamError may end the stream at any point after MessageStart.

Parts are strictly sequential: `PartStop(i)` comes before `PartStart(i + 1)`, and
indexes run 0, 1, 2... Stream parsers that receive interleaved fragments (some
OpenAI-compatible servers interleave parallel tool calls) buffer them to keep this.
`UsageDelta` is cumulative: the latest value replaces the earlier one; the streams the
gateway joins from several upstream calls (a server-tool loop, a continued paused turn)
also send one between calls, and before a StreamError, so that the usage so far is
counted whatever ends the stream (the renderers keep the latest). `PartStart.part`
is the part's shell (empty text, a tool call with empty arguments, ...) that the
deltas fill in.
"""

from __future__ import annotations

import msgspec

from polyrelay.ir.content import Citation, Part, TokenLogprob
from polyrelay.ir.response import StopReason, Usage

__all__ = [
    "CitationDelta",
    "MessageStart",
    "MessageStop",
    "PartStart",
    "PartStop",
    "ReasoningDelta",
    "SignatureDelta",
    "StreamError",
    "StreamEvent",
    "TextDelta",
    "ToolArgsDelta",
    "UsageDelta",
]


class MessageStart(msgspec.Struct, tag="message_start", frozen=True, kw_only=True):
    id: str
    model: str
    usage: Usage | None = None


class PartStart(msgspec.Struct, tag="part_start", frozen=True, kw_only=True):
    index: int
    part: Part


class TextDelta(msgspec.Struct, tag="text_delta", frozen=True, kw_only=True):
    index: int
    text: str
    logprobs: tuple[TokenLogprob, ...] | None = None
    """The tokens of `text`, when asked for and given (TextPart.logprobs); None costs
    nothing, so a stream that did not ask for them pays nothing."""


class ToolArgsDelta(msgspec.Struct, tag="tool_args_delta", frozen=True, kw_only=True):
    index: int
    json: str


class ReasoningDelta(msgspec.Struct, tag="reasoning_delta", frozen=True, kw_only=True):
    index: int
    text: str


class SignatureDelta(msgspec.Struct, tag="signature_delta", frozen=True, kw_only=True):
    index: int
    signature: str


class CitationDelta(msgspec.Struct, tag="citation_delta", frozen=True, kw_only=True):
    index: int
    citation: Citation


class PartStop(msgspec.Struct, tag="part_stop", frozen=True, kw_only=True):
    index: int


class UsageDelta(msgspec.Struct, tag="usage_delta", frozen=True, kw_only=True):
    usage: Usage


class MessageStop(msgspec.Struct, tag="message_stop", frozen=True, kw_only=True):
    stop_reason: StopReason
    stop_sequence: str | None = None


class StreamError(msgspec.Struct, tag="stream_error", frozen=True, kw_only=True):
    """The upstream failed after the stream began (or the connection broke)."""

    status: int
    kind: str
    message: str


StreamEvent = (
    MessageStart
    | PartStart
    | TextDelta
    | ToolArgsDelta
    | ReasoningDelta
    | SignatureDelta
    | CitationDelta
    | PartStop
    | UsageDelta
    | MessageStop
    | StreamError
)
