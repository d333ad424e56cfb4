"""The stream accumulator folds IR events into a ChatResponse and enforces the grammar."""

from __future__ import annotations

import pytest

from polyrelay.errors import UpstreamError
from polyrelay.ir import (
    Citation,
    CitationDelta,
    MessageStart,
    MessageStop,
    PartStart,
    PartStop,
    ReasoningDelta,
    ReasoningPart,
    SignatureDelta,
    StopReason,
    StreamAccumulator,
    StreamError,
    StreamProtocolError,
    TextDelta,
    TextPart,
    ToolArgsDelta,
    ToolCallPart,
    Usage,
    UsageDelta,
)


def fold(events: list[object]) -> StreamAccumulator:
    acc = StreamAccumulator()
    for event in events:
        acc.feed(event)  # type: ignore[arg-type]
    return acc


def test_text_reasoning_and_tool_call_fold_in_order() -> None:
    cite = Citation(url="https://e.x/a", title="A")
    acc = fold(
        [
            MessageStart(id="m1", model="x", usage=Usage(input_tokens=5)),
            PartStart(index=0, part=ReasoningPart(origin="anthropic")),
            ReasoningDelta(index=0, text="think"),
            ReasoningDelta(index=0, text="ing"),
            SignatureDelta(index=0, signature="sig"),
            PartStop(index=0),
            PartStart(index=1, part=TextPart(text="")),
            TextDelta(index=1, text="Hello "),
            TextDelta(index=1, text="world"),
            CitationDelta(index=1, citation=cite),
            PartStop(index=1),
            PartStart(index=2, part=ToolCallPart(id="call_1", name="f")),
            ToolArgsDelta(index=2, json='{"a":'),
            ToolArgsDelta(index=2, json="1}"),
            PartStop(index=2),
            UsageDelta(usage=Usage(input_tokens=5, output_tokens=7)),
            MessageStop(stop_reason=StopReason.TOOL_USE),
        ]
    )
    result = acc.result()
    assert result.parts == (
        ReasoningPart(text="thinking", signature="sig", origin="anthropic"),
        TextPart(text="Hello world", citations=(cite,)),
        ToolCallPart(id="call_1", name="f", arguments='{"a":1}'),
    )
    assert result.stop_reason is StopReason.TOOL_USE
    assert result.usage == Usage(input_tokens=5, output_tokens=7)
    assert (result.id, result.model) == ("m1", "x")


@pytest.mark.parametrize(
    "events",
    [
        [TextDelta(index=0, text="x")],
        [MessageStart(id="m", model="x"), TextDelta(index=0, text="x")],
        [MessageStart(id="m", model="x"), PartStart(index=1, part=TextPart(text=""))],
        [
            MessageStart(id="m", model="x"),
            PartStart(index=0, part=TextPart(text="")),
            PartStart(index=1, part=TextPart(text="")),
        ],
    ],
)
def test_out_of_order_events_raise(events: list[object]) -> None:
    with pytest.raises(StreamProtocolError):
        fold(events)


def test_stream_error_makes_result_raise_with_its_status() -> None:
    acc = fold(
        [
            MessageStart(id="m", model="x"),
            StreamError(status=529, kind="overloaded_error", message="busy"),
        ]
    )
    with pytest.raises(UpstreamError) as info:
        acc.result()
    assert info.value.status == 529


def test_truncated_stream_is_an_error_not_a_short_answer() -> None:
    acc = fold(
        [
            MessageStart(id="m", model="x"),
            PartStart(index=0, part=TextPart(text="")),
            TextDelta(index=0, text="par"),
        ]
    )
    assert acc.snapshot.parts == (TextPart(text="par"),)
    with pytest.raises(UpstreamError):
        acc.result()
