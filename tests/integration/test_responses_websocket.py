"""The Responses API's WebSocket mode through the real gateway, with the openai SDK's
`client.responses.connect()` (and a raw websockets client where the SDK hides the wire):
turns on every upstream type, `store: false` continuations from the connection's memory,
lanes, `generate: false`, errors that leave the connection open, the handshake's key
check, and the connection's time limit."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import websockets.sync.client as ws_client
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.integration.conftest import Emulator, Gateway, serving
from tests.integration.servers import LIMITED_KEY, MODELS_BY_PROVIDER, STATIC_KEY

PROVIDERS = list(MODELS_BY_PROVIDER)
ENDS = ("response.completed", "response.failed", "response.incomplete", "error")


@pytest.fixture
def client(gateway: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=STATIC_KEY, max_retries=0)


def until_end(connection: Any) -> list[Any]:
    events = []
    for event in connection:
        events.append(event)
        if event.type in ENDS:
            return events
    raise AssertionError("the connection closed before the response ended")


def text_of(events: list[Any]) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_store_false_turn_continues_from_the_connections_memory(
    client: openai.OpenAI, emulator: Emulator, provider: str
) -> None:
    model = MODELS_BY_PROVIDER[provider]
    with client.responses.connect() as connection:
        connection.response.create(model=model, input="first over the socket", store=False)
        first = until_end(connection)
        assert [first[0].type, first[-1].type] == ["response.created", "response.completed"]
        assert text_of(first) == "You said: first over the socket"
        first_id = first[-1].response.id
        connection.response.create(
            model=model, input="second turn", store=False, previous_response_id=first_id
        )
        second = until_end(connection)
    assert second[-1].type == "response.completed", second[-1]
    assert second[-1].response.previous_response_id == first_id
    assert text_of(second) == "You said: second turn"
    sent = str(emulator.last()["body"])
    assert "first over the socket" in sent and "You said: first over the socket" in sent
    with pytest.raises(openai.NotFoundError):  # store: false kept it on the connection only
        client.responses.retrieve(first_id)


def test_a_stored_turn_is_stored_and_continued_on_another_connection(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    with client.responses.connect() as connection:
        connection.response.create(model="claude-sonnet-4-5", input="keep this one")
        stored = until_end(connection)[-1].response
    assert client.responses.retrieve(stored.id).output_text == "You said: keep this one"
    with client.responses.connect() as connection:
        connection.response.create(
            model="gpt-4o-mini", input="and continue", previous_response_id=stored.id
        )
        assert until_end(connection)[-1].type == "response.completed"
    assert "keep this one" in str(emulator.last()["body"])


def test_lanes_run_at_once_and_each_lane_in_order(client: openai.OpenAI) -> None:
    with client.responses.connect() as connection:
        started = time.monotonic()
        for lane in ("a", "b"):
            for n in (1, 2):
                connection.send(
                    {
                        "type": "response.create",
                        "model": "claude-sonnet-4-5",
                        "input": f"[[delay 1000]] lane {lane} turn {n}",
                        "store": False,
                        "stream_id": lane,
                    }
                )
        events: list[Any] = []
        while sum(e.type == "response.completed" for e in events) < 4:
            events.append(connection.recv())
        elapsed = time.monotonic() - started
    assert 2.0 < elapsed < 3.5  # two lanes of two 1 s turns each: 2 s side by side, 4 s not
    for lane in ("a", "b"):
        own = [e for e in events if e.stream_id == lane]
        texts = [e.response.output_text for e in own if e.type == "response.completed"]
        assert texts == [f"You said: lane {lane} turn 1", f"You said: lane {lane} turn 2"]
        kinds = [e.type for e in own]
        assert kinds.index("response.completed") < len(kinds) - 1  # turn 2 came after
    assert all(e.stream_id in ("a", "b") for e in events)


def test_generate_false_prepares_a_turn_without_the_upstream(
    client: openai.OpenAI, emulator: Emulator
) -> None:
    before = len(emulator.requests())
    with client.responses.connect() as connection:
        connection.send(
            {
                "type": "response.create",
                "model": "gpt-5-mini",
                "input": "context prepared ahead",
                "store": False,
                "generate": False,
            }
        )
        prepared = until_end(connection)
        assert [e.type for e in prepared] == [
            "response.created",
            "response.in_progress",
            "response.completed",
        ]
        assert prepared[-1].response.output == []
        assert len(emulator.requests()) == before  # no upstream call
        connection.response.create(
            model="gpt-5-mini",
            input="now answer",
            store=False,
            previous_response_id=prepared[-1].response.id,
        )
        answered = until_end(connection)
    assert text_of(answered) == "You said: now answer"
    assert "context prepared ahead" in str(emulator.last()["body"])


def test_errors_are_events_and_the_connection_stays_open(client: openai.OpenAI) -> None:
    with client.responses.connect() as connection:
        connection.response.create(model="no-such-model", input="x")
        missing = until_end(connection)[-1]
        assert missing.type == "error" and missing.status == 404
        assert missing.error.type == "invalid_request_error" and missing.error.message
        connection.send_raw("not json")  # type: ignore[attr-defined]
        assert until_end(connection)[-1].status == 400
        connection.send({"type": "response.create", "model": "gpt-4o-mini", "background": True})
        refused = until_end(connection)[-1]
        assert refused.error.param == "background"
        connection.send({"type": "session.update"})  # type: ignore[arg-type]
        assert until_end(connection)[-1].error.param == "type"
        connection.response.create(
            model="gpt-4o-mini", input="x", previous_response_id="resp_unknown", store=False
        )
        assert until_end(connection)[-1].error.code == "previous_response_not_found"
        connection.response.create(model="gpt-4o-mini", input="still here")
        assert text_of(until_end(connection)) == "You said: still here"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_turn_cut_mid_stream_fails_the_response_it_started(
    client: openai.OpenAI, provider: str
) -> None:
    with client.responses.connect() as connection:
        connection.response.create(
            model=MODELS_BY_PROVIDER[provider], input="[[words 20]] [[cut 5]]", store=False
        )
        events = until_end(connection)
        connection.response.create(model="gpt-4o-mini", input="next turn", store=False)
        assert text_of(until_end(connection)) == "You said: next turn"
    kinds = [e.type for e in events]
    assert kinds.count("response.created") == 1 and kinds[-1] == "response.failed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert {e.response.id for e in events if hasattr(e, "response")} == {events[0].response.id}
    assert events[-1].response.output_text == text_of(events) != ""


def test_steering_is_declined_in_the_protocols_own_terms(gateway: Gateway) -> None:
    url = gateway.url.replace("http", "ws") + "/v1/responses"
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    with ws_client.connect(url, additional_headers=headers) as socket:
        socket.send(
            json.dumps({"type": "response.steer", "previous_response_id": "resp_1", "input": "hi"})
        )
        failed = json.loads(socket.recv(timeout=5))
    assert failed["type"] == "response.steer.failed"
    assert failed["error"]["code"] == "steering_not_supported"
    assert failed["steer"] == {"input": "hi", "previous_response_id": "resp_1"}


def test_the_handshake_checks_the_key(gateway: Gateway) -> None:
    url = gateway.url.replace("http", "ws") + "/v1/responses"
    with pytest.raises(InvalidStatus) as refused:
        ws_client.connect(url, additional_headers={"authorization": "Bearer sk-wrong"})
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body or b"{}")["error"]["code"] == "invalid_api_key"
    limited = {"authorization": f"Bearer {LIMITED_KEY}"}
    with ws_client.connect(url, additional_headers=limited) as socket:
        socket.send(json.dumps({"type": "response.create", "model": "gpt-5-mini", "input": "x"}))
        denied = json.loads(socket.recv(timeout=5))
    assert denied["type"] == "error" and denied["status"] == 403


def test_a_client_gone_mid_stream_ends_its_turn_at_once_as_499(
    gateway: Gateway, client: openai.OpenAI
) -> None:
    url = gateway.url.replace("http", "ws") + "/v1/responses"
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    logged = len(gateway.log.read_text().splitlines())
    with ws_client.connect(url, additional_headers=headers) as socket:
        body = {"type": "response.create", "model": "claude-sonnet-4-5", "store": False}
        socket.send(json.dumps({**body, "input": "[[pace 20]] " + "word " * 100}))
        assert json.loads(socket.recv(timeout=5))["type"] == "response.created"
    deadline = time.monotonic() + 2.5  # the whole stream would take 5 s
    while True:
        lines = gateway.log.read_text().splitlines()[logged:]
        if any(" WS /v1/responses " in line for line in lines):
            break
        assert time.monotonic() < deadline, lines
        time.sleep(0.05)
    assert any("status=499" in line for line in lines), lines
    assert not any("Traceback" in line or "unhandled" in line for line in lines), lines
    with client.responses.connect() as connection:  # the gateway carries on
        connection.response.create(model="gpt-4o-mini", input="after", store=False)
        assert text_of(until_end(connection)) == "You said: after"


@pytest.fixture(scope="module")
def short_lived(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway whose WebSocket connections last 2 s; its ws:// URL."""
    extra = "responses: {websocket_max_seconds: 2}\n"
    for gateway in serving(tmp_path_factory.mktemp("short-lived"), emulator, extra):
        yield gateway.url.replace("http", "ws") + "/v1/responses"


def messages_until_closed(socket: Any) -> tuple[list[dict[str, Any]], int | None]:
    received = []
    try:
        while True:
            received.append(json.loads(socket.recv(timeout=10)))
    except ConnectionClosed as closed:
        return received, closed.rcvd.code if closed.rcvd else None


def test_an_idle_connection_ends_at_its_limit_with_openais_error(short_lived: str) -> None:
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    started = time.monotonic()
    with ws_client.connect(short_lived, additional_headers=headers) as socket:
        received, code = messages_until_closed(socket)
    assert 1.9 <= time.monotonic() - started < 5
    assert [m["type"] for m in received] == ["error"] and code == 1000
    assert received[0]["error"]["code"] == "websocket_connection_limit_reached"
    assert received[0]["status"] == 400 and "stream_id" not in received[0]


def test_a_turn_under_way_at_the_limit_finishes_before_the_close(short_lived: str) -> None:
    headers = {"authorization": f"Bearer {STATIC_KEY}"}
    with ws_client.connect(short_lived, additional_headers=headers) as socket:
        body = {"type": "response.create", "model": "gpt-4o-mini", "store": False}
        words = " ".join(f"w{n}" for n in range(60))  # 3 s at 20 tokens/s: past the limit
        socket.send(json.dumps({**body, "input": f"[[pace 20]] {words}", "stream_id": "a"}))
        received, code = messages_until_closed(socket)
    kinds = [m["type"] for m in received]
    assert kinds[0] == "response.created" and kinds[-2:] == ["response.completed", "error"]
    assert received[-2]["stream_id"] == "a" and "stream_id" not in received[-1]
    assert received[-1]["error"]["code"] == "websocket_connection_limit_reached"
    text = "".join(m["delta"] for m in received if m["type"] == "response.output_text.delta")
    assert text == f"You said: {words}" and code == 1000
