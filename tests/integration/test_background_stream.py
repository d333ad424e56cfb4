"""`background: true, stream: true` on /v1/responses and resuming its stream with
`GET /v1/responses/{id}?stream=true&starting_after=N`, through the real gateway with the
openai SDK and raw SSE: a translated upstream (Anthropic) and the Responses fast path."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.integration.conftest import Emulator
from tests.integration.servers import LIMITED_KEY, STATIC_KEY, stop
from tests.integration.tasks_support import TasksGateway, running

MODELS = ["gpt-5-mini", "claude-sonnet-4-5"]
"""The Responses fast path (an openai-responses upstream) and a translated one."""


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TasksGateway]:
    yield from running(tmp_path_factory.mktemp("background-stream"), emulator.url)


@pytest.fixture
def gpt(gateway: TasksGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:8]}"


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """The JSON of each `data:` line of an SSE stream, as the stream goes."""
    for line in lines:
        if line.startswith("data: "):
            yield json.loads(line[6:])


def create_streamed(gateway: TasksGateway, model: str, text: str) -> httpx.Response:
    """A raw `background` + `stream` POST, its body not read yet (close it)."""
    client = httpx.Client(timeout=30)
    request = client.build_request(
        "POST",
        f"{gateway.url}/v1/responses",
        headers=gateway.headers(),
        json={"model": model, "input": text, "background": True, "stream": True},
    )
    return client.send(request, stream=True)


def replay(gateway: TasksGateway, response_id: str, **params: str) -> list[dict[str, Any]]:
    url = f"{gateway.url}/v1/responses/{response_id}"
    query = {"stream": "true", **params}
    with httpx.stream("GET", url, params=query, headers=gateway.headers(), timeout=30) as reply:
        assert reply.status_code == 200, reply.read()
        assert reply.headers["content-type"].startswith("text/event-stream")
        return list(sse_events(reply.iter_lines()))


def deltas(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


@pytest.mark.parametrize("model", MODELS)
def test_the_sdk_streams_a_background_response(gpt: openai.OpenAI, model: str) -> None:
    text = unique("stream me in the background")
    with gpt.responses.stream(model=model, input=text, background=True) as stream:
        events = list(stream)
        final = stream.get_final_response()
    first, second = events[0], events[1]
    assert first.type == "response.created" and first.response.status == "queued"
    assert second.type == "response.queued" and second.response.background is True
    assert events[-1].type == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    lifecycle = [e for e in events if hasattr(e, "response")]
    assert {e.response.id for e in lifecycle} == {final.id}
    assert all(e.response.background for e in lifecycle)
    assert final.output_text == f"You said: {text}"
    stored = gpt.responses.retrieve(final.id)
    assert stored.status == "completed" and stored.background is True
    assert stored.output_text == final.output_text
    following = gpt.responses.create(model=model, input="and next", previous_response_id=final.id)
    assert following.output_text == "You said: and next"


@pytest.mark.parametrize("model", MODELS)
def test_a_dropped_stream_resumes_after_its_last_event(
    gateway: TasksGateway, gpt: openai.OpenAI, model: str
) -> None:
    text = unique("[[pace 40]] resume " + "word " * 30)
    reply = create_streamed(gateway, model, text)
    assert reply.status_code == 200
    seen: list[dict[str, Any]] = []
    for event in sse_events(reply.iter_lines()):
        seen.append(event)
        if event["type"] == "response.output_text.delta" and len(seen) > 6:
            break
    reply.close()  # the client drops; the run goes on
    response_id = seen[0]["response"]["id"]
    last = seen[-1]["sequence_number"]
    rest = replay(gateway, response_id, starting_after=str(last))
    assert rest[0]["sequence_number"] == last + 1
    assert rest[-1]["type"] == "response.completed"
    assert deltas(seen) + deltas(rest) == rest[-1]["response"]["output"][0]["content"][0]["text"]
    # From the start, through the SDK's own resume helper:
    with gpt.responses.stream(response_id=response_id) as again:
        final = again.get_final_response()
    assert final.id == response_id
    assert final.output_text == rest[-1]["response"]["output"][0]["content"][0]["text"]
    assert [e["sequence_number"] for e in replay(gateway, response_id)][: len(seen)] == [
        e["sequence_number"] for e in seen
    ]


def test_the_raw_sdk_retrieve_stream_starts_after_the_number(gpt: openai.OpenAI) -> None:
    with gpt.responses.stream(model="gpt-5-mini", input=unique("raw"), background=True) as s:
        final = s.get_final_response()
    events = list(gpt.responses.retrieve(final.id, stream=True, starting_after=2))
    assert events[0].sequence_number == 3
    assert events[-1].type == "response.completed"
    assert list(gpt.responses.retrieve(final.id, stream=True, starting_after=10**30)) == []


def test_the_run_finishes_without_its_client(gateway: TasksGateway, gpt: openai.OpenAI) -> None:
    text = unique("[[pace 50]] unattended " + "word " * 20)
    reply = create_streamed(gateway, "claude-sonnet-4-5", text)
    first = next(sse_events(reply.iter_lines()))
    reply.close()
    response_id = first["response"]["id"]
    deadline = time.monotonic() + 20
    while (stored := gpt.responses.retrieve(response_id)).status != "completed":
        assert stored.status in ("queued", "in_progress"), stored.status
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert "unattended" in stored.output_text and stored.output_text.count("word") == 20


def test_an_upstream_refusal_ends_the_stream_failed(gpt: openai.OpenAI) -> None:
    text = unique("[[error 400]] refused")
    with gpt.responses.stream(model="claude-sonnet-4-5", input=text, background=True) as stream:
        events = list(stream)
    assert [e.type for e in events[:2]] == ["response.created", "response.queued"]
    assert events[-1].type == "response.failed"
    failed = events[-1].response
    assert failed.status == "failed" and failed.error is not None
    assert gpt.responses.retrieve(failed.id).status == "failed"


@pytest.mark.parametrize("model", MODELS)
def test_a_run_cut_mid_stream_ends_its_recording_failed_with_the_output(
    gateway: TasksGateway, gpt: openai.OpenAI, model: str
) -> None:
    text = unique("[[words 20]] [[cut 5]]")
    with gpt.responses.stream(model=model, input=text, background=True) as stream:
        events = list(stream)
    kinds = [e.type for e in events]
    assert kinds.count("response.in_progress") == 1 and kinds[-1] == "response.failed"
    assert kinds.index("response.in_progress") < kinds.index("response.output_item.added")
    assert [e.sequence_number for e in events] == list(range(len(events)))
    failed = events[-1].response
    assert {e.response.id for e in events if hasattr(e, "response")} == {failed.id}
    streamed = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert streamed and failed.output_text == streamed
    replayed = replay(gateway, failed.id)
    assert [e["type"] for e in replayed] == kinds
    assert gpt.responses.retrieve(failed.id).status == "failed"


def test_cancel_ends_the_streams_that_follow(gateway: TasksGateway, gpt: openai.OpenAI) -> None:
    reply = create_streamed(gateway, "gpt-5-mini", unique("[[delay 5000]] cancel me"))
    events = sse_events(reply.iter_lines())
    response_id = next(events)["response"]["id"]
    started = time.monotonic()
    assert gpt.responses.cancel(response_id).status == "cancelled"
    rest = list(events)  # ends, though the upstream is still waiting
    reply.close()
    assert time.monotonic() - started < 3
    assert all(e["type"] != "response.completed" for e in rest)
    assert replay(gateway, response_id)[0]["type"] == "response.created"


def test_refusals(gateway: TasksGateway, gpt: openai.OpenAI) -> None:
    plain = gpt.responses.create(model="gpt-5-mini", input=unique("not in the background"))
    with pytest.raises(openai.BadRequestError) as bad:
        list(gpt.responses.retrieve(plain.id, stream=True))
    assert bad.value.body["param"] == "stream"  # type: ignore[index]
    with pytest.raises(openai.NotFoundError):
        list(gpt.responses.retrieve("resp_unknown", stream=True))
    with gpt.responses.stream(model="gpt-5-mini", input=unique("mine"), background=True) as s:
        mine = s.get_final_response()
    other = openai.OpenAI(base_url=gateway.url + "/v1", api_key=LIMITED_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):  # another key's response is an unknown one
        list(other.responses.retrieve(mine.id, stream=True))
    url = f"{gateway.url}/v1/responses/{mine.id}"
    for bad_value in ("-1", "x", "1.5"):
        refused = httpx.get(
            url,
            params={"stream": "true", "starting_after": bad_value},
            headers=gateway.headers(),
        )
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "starting_after"
    with pytest.raises(openai.BadRequestError):
        gpt.responses.create(
            model="gpt-5-mini", input="x", background=True, stream=True, store=False
        )


def test_a_client_of_another_server_process_follows_the_run(
    gateway: TasksGateway, emulator: Emulator
) -> None:
    second = TasksGateway(gateway.workdir, emulator.url)  # the same database
    second.start()
    try:
        text = unique("[[pace 40]] two processes " + "word " * 20)
        reply = create_streamed(gateway, "claude-sonnet-4-5", text)
        events = sse_events(reply.iter_lines())
        response_id = next(events)["response"]["id"]
        there = replay(second, response_id)  # follows while the run goes on
        here = [{"sequence_number": 0}, *events]
        reply.close()
    finally:
        assert second.proc is not None
        stop(second.proc)
    assert [e["sequence_number"] for e in there] == [e["sequence_number"] for e in here]
    assert there[-1]["type"] == "response.completed"
    assert deltas(there).count("word") == 20


def test_a_run_cut_off_by_a_dead_server_ends_failed(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> None:
    gateway = TasksGateway(tmp_path_factory.mktemp("cut-off"), emulator.url)
    gateway.start()
    try:
        reply = create_streamed(gateway, "gpt-5-mini", unique("[[pace 10]] " + "word " * 50))
        kinds = (e["type"] for e in sse_events(reply.iter_lines()))
        assert "response.output_text.delta" in kinds  # streaming now
        gateway.kill()  # SIGKILL mid-stream: the lease expires, another run takes the task
        reply.close()
        gateway.start()
        with sqlite3.connect(gateway.database) as conn:
            (response_id,) = conn.execute("SELECT id FROM tasks").fetchone()
        events_after = replay(gateway, response_id)
    finally:
        assert gateway.proc is not None
        stop(gateway.proc)
    assert events_after[-1]["type"] == "response.failed"
    assert "stopped mid-stream" in events_after[-1]["response"]["error"]["message"]
    numbers = [e["sequence_number"] for e in events_after]
    assert numbers == list(range(len(numbers)))
    assert 0 < len(deltas(events_after).split()) < 50


@pytest.mark.parametrize("stream", [False, True])
def test_a_refused_model_leaves_nothing_queued(
    gateway: TasksGateway, gpt: openai.OpenAI, stream: bool
) -> None:
    def queued() -> int:
        with sqlite3.connect(gateway.database) as conn:
            (count,) = conn.execute("SELECT count(*) FROM responses").fetchone()
        return int(count)

    before = queued()
    with pytest.raises(openai.APIStatusError) as refused:
        gpt.responses.create(model="no-such-model", input="x", background=True, stream=stream)
    assert refused.value.status_code in (400, 404)
    time.sleep(0.1)  # the response writer commits within 10 ms
    assert queued() == before


def test_deleting_a_running_response_stops_its_run_quietly(
    gateway: TasksGateway, gpt: openai.OpenAI
) -> None:
    reply = create_streamed(gateway, "gpt-5-mini", unique("[[pace 20]] " + "word " * 40))
    events = sse_events(reply.iter_lines())
    response_id = next(events)["response"]["id"]
    next(e for e in events if e["type"] == "response.output_text.delta")  # running now
    gpt.responses.delete(response_id)
    rest = list(events)  # the stream ends: there is no response to follow any more
    reply.close()
    assert all(e["type"] != "response.completed" for e in rest)
    with pytest.raises(openai.NotFoundError):
        gpt.responses.retrieve(response_id)
    assert gateway.get(response_id).status_code == 404  # its task went with it
    time.sleep(0.5)
    assert "Traceback" not in logs(gateway)


def logs(gateway: TasksGateway) -> str:
    return "".join(path.read_text() for path in gateway.workdir.glob("gateway-*.log"))


def _log_lines(gateway: TasksGateway, needle: str) -> list[str]:
    log = gateway.workdir / f"gateway-{gateway.url.rsplit(':', 1)[1]}.log"
    return [line for line in log.read_text().splitlines() if needle in line]


def test_a_resumed_stream_writes_one_log_line_at_its_end(
    gateway: TasksGateway, gpt: openai.OpenAI
) -> None:
    """`GET /v1/responses/{id}?stream=true` may follow a run for minutes: it wrote no line
    at all, as if it never happened; now one at its end, as a streamed POST's."""
    with gpt.responses.stream(model="gpt-5-mini", input=unique("log me"), background=True) as s:
        response_id = s.get_final_response().id
    needle = f"GET /v1/responses/{response_id} model=gpt-5-mini status=200 "
    assert replay(gateway, response_id)[-1]["type"] == "response.completed"
    deadline = time.monotonic() + 5
    while not _log_lines(gateway, needle) and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = _log_lines(gateway, needle)
    assert len(lines) == 1 and "(first byte " in lines[0], lines
