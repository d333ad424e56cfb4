"""`feed_texts` renders a run of text deltas in one call: the same bytes as feeding each
delta in turn, in every renderer and in every state (not started, inside a text part,
inside a part the protocol cannot show, after the end)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.frontends import StreamRenderer
from polyrelay.frontends.anthropic_messages.stream import AnthropicStreamRenderer
from polyrelay.frontends.openai_chat import OpenAIChatFrontend
from polyrelay.frontends.openai_chat.stream import OpenAIChatStreamRenderer
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend
from polyrelay.ir import (
    ImagePart,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    ReasoningDelta,
    ReasoningPart,
    StopReason,
    StreamError,
    StreamEvent,
    TextDelta,
    TextPart,
    Usage,
    UsageDelta,
)


def _texts(index: int, *texts: str) -> list[StreamEvent]:
    return [TextDelta(index=index, text=text) for text in texts]


_ANSWER: list[StreamEvent] = [
    MessageStart(id="m1", model="m"),
    PartStart(index=0, part=TextPart(text="")),
    *_texts(0, "Hello", ", ", 'a "quoted" word', "é\n", ""),
    PartStop(index=0),
    PartStart(index=1, part=ReasoningPart()),
    ReasoningDelta(index=1, text="thinking"),
    PartStop(index=1),
    PartStart(index=2, part=TextPart(text="")),
    *_texts(2, "more", " text"),
    PartStop(index=2),
    UsageDelta(usage=Usage(input_tokens=3, output_tokens=9)),
    MessageStop(stop_reason=StopReason.END_TURN),
]
_BEFORE_ANY_START: list[StreamEvent] = [
    *_texts(0, "no", " start"),
    MessageStop(stop_reason=StopReason.END_TURN),
]
_IN_A_PART_NOT_SHOWN: list[StreamEvent] = [
    MessageStart(id="m1", model="m"),
    PartStart(index=0, part=ImagePart(media_type="image/png", data="AAAA")),
    *_texts(0, "not", " shown"),
    PartStop(index=0),
    PartStart(index=1, part=TextPart(text="")),
    *_texts(1, "shown"),
    PartStop(index=1),
    MessageStop(stop_reason=StopReason.END_TURN),
]


def _chat(ctx: RequestContext) -> StreamRenderer:
    body = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}'
    request = OpenAIChatFrontend().decode(body, ctx)
    return OpenAIChatStreamRenderer(request, ctx)


def _responses(ctx: RequestContext) -> StreamRenderer:
    frontend = OpenAIResponsesFrontend(None)
    request = frontend.decode(b'{"model":"m","input":"hi","stream":true}', ctx)
    return frontend.stream_renderer(request, ctx)


_AFTER_AN_ERROR_EVENT: list[StreamEvent] = [
    StreamError(status=502, kind="api_error", message="upstream failed"),
    *_texts(0, "late", " text"),
]


_RENDERERS: dict[str, Callable[[RequestContext], StreamRenderer]] = {
    "chat": _chat,
    "anthropic": AnthropicStreamRenderer,
    "responses": _responses,
}


def _one_by_one(renderer: StreamRenderer, events: list[StreamEvent]) -> list[bytes]:
    return [frame for event in events for frame in renderer.feed(event)]


def _in_runs(renderer: StreamRenderer, events: list[StreamEvent]) -> list[bytes]:
    frames: list[bytes] = []
    run: list[TextDelta] = []
    for event in [*events, None]:
        if isinstance(event, TextDelta):
            run.append(event)
            continue
        if run:
            frames += renderer.feed_texts(run)
            run = []
        if event is not None:
            frames += renderer.feed(event)
    return frames


def _normalised(frames: list[bytes]) -> bytes:
    """Ids and times drawn per renderer set to one value, so two renderers compare."""
    text = re.sub(rb'"(id|item_id|response_id)":"[^"]*"', rb'"\1":"x"', b"".join(frames))
    return re.sub(rb'"(created_at|created|completed_at)":[\d.]+', rb'"\1":0', text)


@pytest.mark.parametrize("name", sorted(_RENDERERS))
@pytest.mark.parametrize(
    "events",
    [_ANSWER, _BEFORE_ANY_START, _IN_A_PART_NOT_SHOWN, _AFTER_AN_ERROR_EVENT],
    ids=["answer", "before-any-start", "in-a-part-not-shown", "after-an-error-event"],
)
def test_a_run_renders_as_its_deltas_one_by_one(name: str, events: list[StreamEvent]) -> None:
    make = _RENDERERS[name]
    single, batched = make(RequestContext(model="m")), make(RequestContext(model="m"))
    expected = _one_by_one(single, events) + single.finish()
    assert _normalised(_in_runs(batched, events) + batched.finish()) == _normalised(expected)
    assert events is not _ANSWER or b"Hello" in b"".join(expected)  # not vacuous


@pytest.mark.parametrize("name", sorted(_RENDERERS))
def test_nothing_is_rendered_after_the_end(name: str) -> None:
    renderer = _RENDERERS[name](RequestContext(model="m"))
    renderer.feed_texts(_texts(0, "a"))  # type: ignore[arg-type]
    renderer.fail(UpstreamError("gone", status=502))
    after = renderer.feed_texts(_texts(0, "late", "r"))  # type: ignore[arg-type]
    one = _RENDERERS[name](RequestContext(model="m"))
    one.feed_texts(_texts(0, "a"))  # type: ignore[arg-type]
    one.fail(UpstreamError("gone", status=502))
    assert _normalised(after) == _normalised(_one_by_one(one, _texts(0, "late", "r")))
