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
    b'data: {"model":"up-model","text":"says \\"model\\":\\"up-model\\""}\n\n'
    b'event: x\ndata: {"model":"up-model"}\n\n'
    b"data: [DONE]\n\n"
)
WANTED = FRAMES.replace(b'"model":"up-model"', b'"model":"public"')


def relay(chunks: list[bytes], upstream: str = "up-model", public: str = "public") -> bytes:
    echo = _Echo(upstream, public, [])
    return b"".join(echo.feed(chunk) for chunk in chunks) + echo.finish()


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


DATED = (
    b'data: {"id":"c1","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0}]}\n\n'
    b'data: {"id":"c1","model":"gpt-4o-mini-2024-07-18","choices":[{"index":1}]}\n\n'
    b"data: [DONE]\n\n"
)
CUTS = st.lists(st.integers(min_value=0, max_value=len(DATED)), max_size=20)


def test_whole_frames_are_rewritten_and_quoted_text_is_not() -> None:
    assert relay([FRAMES]) == WANTED
    assert b'says \\"model\\":\\"up-model\\"' in WANTED


def test_an_upstream_that_writes_a_space_after_the_colon_is_read_too() -> None:
    spaced = FRAMES.replace(b'"model":"up-model"', b'"model": "up-model"')
    assert relay([spaced]) == spaced.replace(b'"model": "up-model"', b'"model": "public"')


@FUZZ
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(FRAMES)), max_size=30))
def test_every_cut_gives_the_same_bytes(cuts: list[int]) -> None:
    assert relay(cut(FRAMES, cuts)) == WANTED


@FUZZ
@given(cuts=CUTS)
def test_the_upstreams_own_model_name_is_learned_from_its_first_frame(cuts: list[int]) -> None:
    """OpenAI answers `gpt-4o-mini` as `gpt-4o-mini-2024-07-18`: the client, which sees
    the name it asked for in a JSON answer, sees it in every chunk too."""
    wanted = DATED.replace(b"gpt-4o-mini-2024-07-18", b"gpt-4o-mini")
    assert relay(cut(DATED, cuts), "gpt-4o-mini", "gpt-4o-mini") == wanted
    assert relay(cut(DATED, cuts), "gpt-4o-mini", "my-alias") == DATED.replace(
        b"gpt-4o-mini-2024-07-18", b"my-alias"
    )


@FUZZ
@given(cuts=CUTS)
def test_a_stream_that_names_the_asked_model_passes_untouched(cuts: list[int]) -> None:
    frames = DATED.replace(b"gpt-4o-mini-2024-07-18", b"public")
    assert relay(cut(frames, cuts), "public", "public") == frames


def test_only_a_frames_first_model_member_is_rewritten() -> None:
    """The response's own `model` comes before the client's `metadata`, which may hold a
    member of the same name and value: that one is the client's data."""
    frame = (
        b'event: response.created\ndata: {"response":{"id":"r","model":"up-model",'
        b'"metadata":{"model":"up-model"}}}\n\n'
    )
    wanted = frame.replace(b'"model":"up-model",', b'"model":"public",')
    assert relay([frame * 3]) == wanted * 3
    assert relay([frame, frame]) == wanted * 2


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
