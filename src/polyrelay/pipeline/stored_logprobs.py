"""`include` on `GET /v1/responses/{id}`: a stored response's token logprobs go back only
to a GET that asks for them.

The openai SDK's retrieve takes `include` as create does ("Additional fields to include in
the response. See the `include` parameter for Response creation"), so
`message.output_text.logprobs` is an extra a GET asks for, as a create does. The store
keeps what the create was answered (its logprobs, when it asked); a GET without the include
gets each `output_text` part with `logprobs: []`, as an answer that was not asked for them,
and so does the replayed stream of a background response (`stream=true`), its text delta
and done events included. A GET that includes them gets what the create got: none when the
create did not ask (they were never computed). docs/responses.md says so.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

from starlette.datastructures import QueryParams

from polyrelay import codec
from polyrelay.codec import JSONObject
from polyrelay.frontends.openai_responses.options import LOGPROBS_INCLUDE
from polyrelay.pipeline.sse_response import FinalFrames
from polyrelay.sse import SSEDecoder, encode_event

__all__ = ["frames_without_logprobs", "includes_logprobs", "response_without_logprobs"]

_SCORED = frozenset({"output_text", "response.output_text.delta", "response.output_text.done"})
"""The objects whose `logprobs` are the text's tokens: a part, and the text events."""
_SOME_SCORED = b'"logprobs":[{'
"""How a recorded frame with tokens spells them (the codec writes no spaces): a frame
without it has none to take out, and is sent as it is."""


def includes_logprobs(query: QueryParams) -> bool:
    """Whether the GET asks for the logprobs: `include[]=…` as the openai SDK writes a list,
    or `include=…`."""
    return LOGPROBS_INCLUDE in query.getlist("include[]") + query.getlist("include")


def response_without_logprobs(response: JSONObject) -> JSONObject:
    """`response` with its output's logprobs emptied; what has none is shared, not copied
    (`response` may be a record the store still holds)."""
    output = response.get("output")
    emptied = _without_logprobs(output)
    return response if emptied is output else {**response, "output": emptied}


async def frames_without_logprobs(
    frames: AsyncGenerator[bytes, None],
) -> AsyncGenerator[bytes, None]:
    """Recorded frames (each chunk whole events) with their logprobs emptied."""
    async with aclosing(frames):
        async for chunk in frames:
            if _SOME_SCORED not in chunk:
                yield chunk
                continue
            emptied = b"".join(
                encode_event(
                    codec.encode(_without_logprobs(codec.decode(data))), name.decode() or None
                )
                for name, data in SSEDecoder().feed_named(chunk)
            )
            yield FinalFrames(emptied) if isinstance(chunk, FinalFrames) else emptied


def _without_logprobs(value: Any) -> Any:
    """`value` with the logprobs of every part and text event in it emptied; the same
    object when it had none."""
    if isinstance(value, list):
        items = [_without_logprobs(item) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if not isinstance(value, dict):
        return value
    changed = {
        name: emptied
        for name, inner in value.items()
        if isinstance(inner, dict | list) and (emptied := _without_logprobs(inner)) is not inner
    }
    if value.get("type") in _SCORED and value.get("logprobs"):
        changed["logprobs"] = []
    return {**value, **changed} if changed else value
