"""OpenAI Responses stream events (`event: <type>` / `data: {...}` frames).

One flat Struct serves every event type (protocols/openai-responses.md §5): the catalogue
is large and grows with each tool family, and a parser must skip the events it does not
map rather than fail on them. Unset fields are omitted on output, so a rendered event
carries exactly the fields its type defines.
"""

from __future__ import annotations

import msgspec

from polyrelay.schemas.openai_logprobs import TokenLogprob
from polyrelay.schemas.openai_responses.response import (
    Response,
    ResponseOutputContent,
    ResponseOutputItem,
    URLCitation,
)

__all__ = ["ResponseStreamEvent"]


class ResponseStreamEvent(msgspec.Struct, kw_only=True, omit_defaults=True):
    type: str
    sequence_number: int | None = None
    response: Response | None = None
    output_index: int | None = None
    item: ResponseOutputItem | None = None
    item_id: str | None = None
    content_index: int | None = None
    summary_index: int | None = None
    annotation_index: int | None = None
    part: ResponseOutputContent | None = None
    """A content part, or a reasoning summary part (`type: summary_text`)."""
    delta: str | None = None
    text: str | None = None
    arguments: str | None = None
    name: str | None = None
    input: str | None = None
    refusal: str | None = None
    annotation: URLCitation | None = None
    logprobs: list[TokenLogprob] | None = None
    code: str | None = None
    message: str | None = None
    param: str | None = None
