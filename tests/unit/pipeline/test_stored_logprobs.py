"""stored_logprobs: what a GET without `include=message.output_text.logprobs` is given of
a stored response. The record the store holds is never changed (a parked one is shared
with the writer), a response or frame without tokens is passed as it is, and the last
frames stay the last (FinalFrames)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

from starlette.datastructures import QueryParams

from polyrelay import codec
from polyrelay.pipeline.sse_response import FinalFrames
from polyrelay.pipeline.stored_logprobs import (
    frames_without_logprobs,
    includes_logprobs,
    response_without_logprobs,
)
from polyrelay.sse import encode_event

TOKEN = {"token": "hi", "logprob": -0.5, "bytes": [104, 105], "top_logprobs": []}
SCORED = {"type": "output_text", "text": "hi", "annotations": [], "logprobs": [TOKEN]}
REASONING = {"type": "reasoning", "id": "rs_1", "summary": []}


def _response(*parts: Any) -> dict[str, Any]:
    message = {"type": "message", "id": "msg_1", "role": "assistant", "content": list(parts)}
    return {"id": "resp_1", "object": "response", "output": [REASONING, message]}


def test_the_include_is_read_as_the_sdk_and_the_reference_write_it() -> None:
    assert includes_logprobs(QueryParams("include[]=message.output_text.logprobs"))
    assert includes_logprobs(
        QueryParams("include=reasoning.encrypted_content&include=message.output_text.logprobs")
    )
    assert not includes_logprobs(QueryParams("include[]=reasoning.encrypted_content"))
    assert not includes_logprobs(QueryParams(""))


def test_the_stored_record_is_left_as_it_is() -> None:
    stored = _response(SCORED)
    before = copy.deepcopy(stored)
    shown = response_without_logprobs(stored)
    assert stored == before
    assert shown["output"][1]["content"][0]["logprobs"] == []
    assert shown["output"][0] is stored["output"][0]  # what has no tokens is shared
    unscored = _response({**SCORED, "logprobs": []})
    assert response_without_logprobs(unscored) is unscored


def _frame(document: dict[str, Any]) -> bytes:
    return encode_event(codec.encode(document), document["type"])


def _replayed(chunks: list[bytes]) -> list[bytes]:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def read() -> list[bytes]:
        return [chunk async for chunk in frames_without_logprobs(source())]

    return asyncio.run(read())


def test_frames_lose_their_tokens_and_keep_everything_else() -> None:
    delta = {"type": "response.output_text.delta", "delta": "hi", "logprobs": [TOKEN]}
    added = {"type": "response.output_item.added", "item": REASONING}
    done = {"type": "response.completed", "response": _response(SCORED)}
    plain = _frame(added)
    first, second, last = _replayed([plain, _frame(delta) + plain, FinalFrames(_frame(done))])
    assert first is plain  # no tokens: not decoded
    assert second == _frame({**delta, "logprobs": []}) + plain
    assert last.__class__ is FinalFrames  # still the last frames
    assert last == _frame({**done, "response": _response({**SCORED, "logprobs": []})})
