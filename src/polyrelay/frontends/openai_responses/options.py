"""ResponsesOptions: the Responses request fields that have no place in the IR.

The frontend returns them next to the ChatRequest (`decode_with_options`) for the
pipeline (storage, `previous_response_id`, `truncation`, `background`) and takes them
back when it renders, to echo the request's parameters and to restore tool names the IR
had to flatten (namespace members, custom tools).
"""

from __future__ import annotations

import msgspec

from polyrelay.frontends.openai_responses.relayed import RelayedStream
from polyrelay.schemas.openai_responses import (
    InputItemParam,
    Reasoning,
    TextConfigParam,
    ToolChoiceParam,
    ToolParam,
)

__all__ = ["LOGPROBS_INCLUDE", "NAMESPACE_SEPARATOR", "ResponsesOptions", "ToolNames"]

NAMESPACE_SEPARATOR = "__"
"""A namespace member `fn` of namespace `ns` is the IR function `ns__fn`."""
LOGPROBS_INCLUDE = "message.output_text.logprobs"
"""The `include` entry that asks for the output text's token logprobs."""


class ToolNames(msgspec.Struct, kw_only=True):
    """How IR function names map back to the client's tools."""

    namespaced: dict[str, tuple[str, str]] = msgspec.field(default_factory=dict)
    """IR name → (namespace, member name)."""
    custom: set[str] = msgspec.field(default_factory=set)
    """Custom (free-form) tools, declared to the model as functions taking `{"input"}`."""


class ResponsesOptions(msgspec.Struct, kw_only=True):
    """Mutable on purpose: the pipeline may set `response_id` before rendering."""

    response_id: str | None = None
    """The `resp_…` id to render; None lets the frontend derive one from the request id."""
    store: bool = True
    include: tuple[str, ...] = ()
    truncation: str = "disabled"
    previous_response_id: str | None = None
    background: bool = False
    instructions: str | None = None
    tool_names: ToolNames = msgspec.field(default_factory=ToolNames)
    tools: list[ToolParam] = msgspec.field(default_factory=list)
    tool_choice: str | ToolChoiceParam = "auto"
    parallel_tool_calls: bool = True
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    reasoning: Reasoning | None = None
    text: TextConfigParam | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    user: str | None = None
    prompt_cache_key: str | None = None
    service_tier: str | None = None
    input_items: list[InputItemParam] = msgspec.field(default_factory=list)
    """This turn's input, normalised with ids: what a stored response keeps."""
    history: list[InputItemParam] = msgspec.field(default_factory=list)
    """Items inherited through previous_response_id (after truncation), oldest first."""
    kept_input: list[int] | None = None
    """Indexes of `input_items` left after `truncation: auto`; None when none was dropped."""
    relayed: RelayedStream | None = None
    """On the fast path, streamed: what the relayed stream told the client (set with the
    passthrough observer), so that the stream renderer's `fail` continues that response."""
