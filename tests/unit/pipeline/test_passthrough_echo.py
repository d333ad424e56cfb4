"""The relayed stream's rewriting (`_Echo`) and its boundary tracking (`_Boundary`): the
same bytes however the stream is cut, in linear time, and an error frame that is never read
as the rest of a cut-off frame."""

from __future__ import annotations

import itertools
import time

from hypothesis import given, strategies as st
from tests.fuzz_support import FUZZ

from polyrelay.errors import GatewayError
from polyrelay.pipeline.passthrough import _Boundary, _Echo

FRAMES = (
    b'data: {"id":"c1","model":"up-model","choices":[]}\n\n'
    b'data: {"model": "up-model","text":"says \\"model\\":\\"up-model\\""}\n\n'
    b'event: x\ndata: {"model":"up-model"}\n\n'
    b"data: [DONE]\n\n"
)
WANTED = FRAMES.replace(b'"model":"up-model"', b'"model":"public"').replace(
    b'"model": "up-model"', b'"model": "public"'
)


def relay(chunks: list[bytes]) -> bytes:
    echo = _Echo("up-model", "public", [])
    return b"".join(echo.feed(chunk) for chunk in chunks) + echo.finish()


def test_whole_frames_are_rewritten_and_quoted_text_is_not() -> None:
    assert relay([FRAMES]) == WANTED
    assert b'says \\"model\\":\\"up-model\\"' in WANTED


@FUZZ
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(FRAMES)), max_size=30))
def test_every_cut_gives_the_same_bytes(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(FRAMES)]
    assert relay([FRAMES[a:b] for a, b in itertools.pairwise(bounds)]) == WANTED


def test_a_large_frame_in_small_chunks_is_relayed_in_linear_time() -> None:
    """16 MB in 4 KB chunks: the held frame was joined with every chunk (quadratic)."""
    frame = b'data: {"model":"up-model","text":"' + b"x" * (16 << 20) + b'"}\n\n'
    started = time.process_time()
    out = relay([frame[at : at + 4096] for at in range(0, len(frame), 4096)])
    assert time.process_time() - started < 2
    assert out == frame.replace(b'"model":"up-model"', b'"model":"public"')


class Renderer:
    def fail(self, error: GatewayError) -> list[bytes]:
        return [b'data: {"error":"' + error.message.encode() + b'"}\n\n']

    def heartbeat(self) -> list[bytes]:
        return [b": keep-alive\n\n"]


def test_an_error_after_a_cut_off_frame_ends_that_frame_first() -> None:
    boundary = _Boundary(Renderer())  # type: ignore[arg-type]
    boundary.feed(b'data: {"id":"c1"}\n\n')
    assert boundary.fail(GatewayError("e")) == [b'data: {"error":"e"}\n\n']
    boundary.feed(b'data: {"id":"c1","te')
    assert boundary.heartbeat() == []
    assert boundary.fail(GatewayError("e")) == [b"\n\n", b'data: {"error":"e"}\n\n']
