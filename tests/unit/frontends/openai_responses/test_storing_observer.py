"""StoringObserver: the relayed stream's terminal response is saved once, however the
bytes are cut, while frames before it are not decoded at all."""

from __future__ import annotations

import itertools
import json
import logging
import time

import pytest
from hypothesis import given, strategies as st
from tests.fuzz_support import FUZZ

from polyrelay import codec, sse
from polyrelay.context import RequestContext
from polyrelay.frontends.openai_responses import persist
from polyrelay.frontends.openai_responses.options import ResponsesOptions
from polyrelay.frontends.openai_responses.persist import StoringObserver, save_response
from polyrelay.storage import EncodedResponse, StoredResponse


class Store:
    def __init__(self) -> None:
        self.saved: list[StoredResponse | EncodedResponse] = []

    def put(self, record: StoredResponse | EncodedResponse) -> None:
        self.saved.append(record)


def frame(kind: str, payload: dict[str, object], *, named: bool = True) -> bytes:
    data = json.dumps({"type": kind, **payload}, separators=(",", ":")).encode()
    return (b"event: " + kind.encode() + b"\n" if named else b"") + b"data: " + data + b"\n\n"


RESPONSE = {
    "id": "resp_1",
    "object": "response",
    "status": "completed",
    "model": "up",
    "output": [],
}
STREAM = (
    frame("response.created", {"response": {**RESPONSE, "status": "in_progress"}})
    + frame("response.output_text.delta", {"delta": "the word response.completed in text"})
    + frame("response.output_text.delta", {"delta": "more"})
    + frame("response.completed", {"response": RESPONSE})
)


def observe(chunks: list[bytes]) -> Store:
    store = Store()
    ctx = RequestContext(model="public", key_id="k1")
    observer = StoringObserver(store, ResponsesOptions(), ctx)
    for chunk in chunks:
        observer.feed(chunk)
    observer.finish()
    return store


@pytest.mark.parametrize("cut", range(1, len(STREAM), 7))
def test_saved_once_whatever_the_cut(cut: int) -> None:
    [record] = observe([STREAM[:cut], STREAM[cut:]]).saved
    assert record.id == "resp_1"
    assert isinstance(record, EncodedResponse)
    assert codec.decode(record.response)["model"] == "public"  # what the client asked for
    assert record.key_id == "k1"


def test_byte_by_byte_and_crlf() -> None:
    assert len(observe([STREAM[i : i + 1] for i in range(len(STREAM))]).saved) == 1
    crlf = STREAM.replace(b"\n", b"\r\n")
    assert len(observe([crlf[i : i + 5] for i in range(0, len(crlf), 5)]).saved) == 1


UNNAMED = frame("response.created", {"response": RESPONSE}, named=False) + frame(
    "response.completed", {"response": RESPONSE}, named=False
)


@pytest.mark.parametrize("cut", range(1, len(UNNAMED), 5))
def test_unnamed_events_whatever_the_cut(cut: int) -> None:
    assert [r.id for r in observe([UNNAMED[:cut], UNNAMED[cut:]]).saved] == ["resp_1"]


def test_unnamed_events_and_a_final_frame_without_blank_line() -> None:
    stream = frame("response.created", {"response": RESPONSE}, named=False) + frame(
        "response.completed", {"response": RESPONSE}, named=False
    ).rstrip(b"\n")
    assert [r.id for r in observe([stream]).saved] == ["resp_1"]


def test_failed_and_truncated_streams_are_not_saved() -> None:
    failed = frame("response.failed", {"response": {**RESPONSE, "status": "failed"}})
    assert observe([STREAM[: STREAM.index(b"event: response.completed")], failed]).saved == []
    assert observe([STREAM[:-40]]).saved == []


@pytest.mark.parametrize(
    "odd", [{"id": {"x": 1}}, {"status": {"x": 1}}, {"id": None}, {"status": ["completed"]}]
)
def test_a_response_without_a_string_id_and_status_is_not_stored_and_says_so(
    odd: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    store = Store()
    ctx = RequestContext(model="public", key_id="k1")
    with caplog.at_level(logging.WARNING, logger="polyrelay.responses"):
        save_response(store, {**RESPONSE, **odd}, ResponsesOptions(), ctx)
    assert store.saved == []
    assert any("was not stored" in warning for warning in ctx.warnings)
    [record] = caplog.records  # a stream's client is not told: the operator is
    assert ctx.request_id in record.getMessage() and "not stored" in record.getMessage()


@pytest.mark.parametrize("created", [2**70, -5, 1e400, "soon", True, None])
def test_an_implausible_created_at_is_stored_as_the_request_time(created: object) -> None:
    store = Store()
    ctx = RequestContext(model="public", key_id="k1")
    save_response(store, {**RESPONSE, "created_at": created}, ResponsesOptions(), ctx)
    [record] = store.saved
    assert record.created_at == ctx.created


def unmentioned(item_text: str) -> bytes:
    """A stream that names the terminal event only in its terminal frame (so the frames
    before are held undecoded), with an output item of `item_text` before it."""
    return (
        frame("response.created", {"response": {**RESPONSE, "status": "in_progress"}})
        + frame("response.output_text.delta", {"delta": "plain\n\ntext"})
        + frame("response.output_item.done", {"item": {"type": "message", "text": item_text}})
        + frame("response.completed", {"response": RESPONSE})
    )


WITH_BIG = unmentioned("x" * 3000)


@FUZZ
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(WITH_BIG)), max_size=40))
def test_saved_once_whatever_the_cuts(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(WITH_BIG)]
    chunks = [WITH_BIG[a:b] for a, b in itertools.pairwise(bounds)]
    [record] = observe(chunks).saved
    assert record.id == "resp_1"


def test_a_large_frame_in_small_chunks_is_seen_in_linear_time() -> None:
    """A 16 MB output item in 4 KB chunks: the held frame was joined and searched again
    with every chunk (quadratic)."""
    stream = unmentioned("x" * (16 << 20))
    chunks = [stream[at : at + 4096] for at in range(0, len(stream), 4096)]
    started = time.process_time()
    [record] = observe(chunks).saved
    assert time.process_time() - started < 2
    assert record.id == "resp_1"


@pytest.mark.parametrize("mentioned", [False, True])
def test_a_frame_past_the_cap_is_not_held_and_the_response_not_stored(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, mentioned: bool
) -> None:
    """Held undecoded, or (after a frame that mentions the terminal name) in the decoder:
    either way the observer lets go, and the relayed stream is not touched."""
    monkeypatch.setattr(persist, "MAX_EVENT_BYTES", 10_000)
    monkeypatch.setattr(sse, "MAX_EVENT_BYTES", 10_000)
    text = "response.completed" if mentioned else "plain"
    stream = (
        frame("response.created", {"response": {**RESPONSE, "status": "in_progress"}})
        + frame("response.output_text.delta", {"delta": text})
        + frame("response.output_item.done", {"item": {"text": "x" * 20_000}})
        + frame("response.completed", {"response": RESPONSE})
    )
    with caplog.at_level(logging.WARNING):
        saved = observe([stream[at : at + 1000] for at in range(0, len(stream), 1000)]).saved
    assert saved == []
    assert "event is larger than 0 MiB; its response is not stored" in caplog.text
