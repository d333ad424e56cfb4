"""The stateful side of the Responses frontend: history, truncation, saving, fast-path input."""

from __future__ import annotations

import json
from typing import Any

import pytest

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend, ResponsesOptions
from polyrelay.frontends.openai_responses.history import estimate_tokens, normalise_input
from polyrelay.ir import ChatResponse, Role, StopReason, TextPart
from polyrelay.schemas.openai_responses import InputItemParam
from polyrelay.settings import ModelConfig
from polyrelay.sse import encode_event
from polyrelay.storage import ResponseStore, StoredResponse, open_database


@pytest.fixture
def store() -> ResponseStore:
    return open_database("sqlite:///:memory:").responses


def body(**fields: Any) -> bytes:
    return json.dumps({"model": "m", **fields}).encode()


def put(store: ResponseStore, rid: str, items: list[Any], output: list[Any], **kw: Any) -> None:
    store.put(
        StoredResponse(
            id=rid,
            key_id=kw.get("key", "k"),
            created_at=1,
            status=kw.get("status", "completed"),
            previous_response_id=kw.get("previous"),
            response={"id": rid},
            input_items=items,
            output_items=output,
        )
    )


def user(text: str) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}


def said(text: str) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}]
    return {"type": "message", "id": "msg_o", "role": "assistant", "content": content}


def test_normalise_gives_items_ids_and_list_content() -> None:
    items = normalise_input([InputItemParam(role="assistant", content="hi")])
    assert items[0].type == "message" and items[0].id and items[0].id.startswith("msg_")
    assert items[0].content is not None and items[0].content[0].type == "output_text"  # type: ignore[union-attr]
    assert normalise_input("x")[0].role == "user"


def test_chain_is_oldest_first_and_scoped(store: ResponseStore) -> None:
    put(store, "resp_a", [user("one")], [said("You said: one")])
    put(store, "resp_b", [user("two")], [said("You said: two")], previous="resp_a")
    frontend = OpenAIResponsesFrontend(store=store)
    ctx = RequestContext(key_id="k")
    request = frontend.decode(body(input="three", previous_response_id="resp_b"), ctx)
    texts = [p.text for m in request.messages for p in m.parts if isinstance(p, TextPart)]
    assert texts == ["one", "You said: one", "two", "You said: two", "three"]
    assert request.messages[-1].role is Role.USER
    options = ctx.frontend_state
    assert isinstance(options, ResponsesOptions) and len(options.history) == 4
    for key, rid in (("other", "resp_b"), ("k", "resp_zz")):
        with pytest.raises(InvalidRequestError) as info:
            frontend.decode(body(input="x", previous_response_id=rid), RequestContext(key_id=key))
        assert info.value.param == "previous_response_id"
        assert info.value.code == "previous_response_not_found"


def test_failed_responses_do_not_chain(store: ResponseStore) -> None:
    put(store, "resp_f", [user("one")], [], status="failed")
    with pytest.raises(InvalidRequestError):
        OpenAIResponsesFrontend(store=store).decode(
            body(input="x", previous_response_id="resp_f"), RequestContext(key_id="k")
        )


def test_truncation_keeps_system_and_pairs(store: ResponseStore) -> None:
    call = {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}
    output = {"type": "function_call_output", "call_id": "c1", "output": "ok"}
    put(store, "resp_a", [{"role": "developer", "content": "rules"}, user("a " * 100)], [said("b")])
    put(store, "resp_b", [user("go")], [call], previous="resp_a")
    models = {"m": ModelConfig(name="m", provider="p", model="m", context_window=40)}
    frontend = OpenAIResponsesFrontend(store=store, models=models)
    fields = {"input": [output], "previous_response_id": "resp_b"}
    with pytest.raises(InvalidRequestError) as info:
        frontend.decode(body(**fields), RequestContext(key_id="k"))
    assert info.value.code == "context_length_exceeded"
    ctx = RequestContext(key_id="k")
    request = frontend.decode(body(truncation="auto", **fields), ctx)
    assert request.system == (TextPart(text="rules"),)
    assert [m.role for m in request.messages] == [Role.USER, Role.ASSISTANT, Role.TOOL]
    assert any("truncation" in w for w in ctx.warnings)


def test_estimate_is_chars_over_four() -> None:
    assert estimate_tokens(normalise_input("abcdefgh"), fixed_chars=4) == 3


def test_encode_saves_completed_but_not_unstored(store: ResponseStore) -> None:
    frontend = OpenAIResponsesFrontend(store=store)
    done = ChatResponse(
        id="up", model="m", parts=(TextPart(text="hi"),), stop_reason=StopReason.END_TURN
    )
    for stored in (True, False):
        ctx = RequestContext(model="m", key_id="k")
        frontend.decode(body(input="x", store=stored), ctx)
        rid = json.loads(frontend.encode([done], ctx))["id"]
        assert (store.get(rid, "k") is not None) is stored


def test_passthrough_expands_history_and_strips_foreign_reasoning(store: ResponseStore) -> None:
    foreign = {"type": "reasoning", "summary": [], "encrypted_content": "gw1.abc"}
    openai = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"}
    put(store, "resp_a", [user("one")], [foreign, openai, said("You said: one")])
    frontend = OpenAIResponsesFrontend(store=store)
    ctx = RequestContext(model="m", key_id="k")
    frontend.decode(body(input="two", previous_response_id="resp_a"), ctx)
    raw = frontend.passthrough_body(
        {"model": "m", "input": "two", "previous_response_id": "resp_a"}, ctx
    )
    assert "previous_response_id" not in raw
    kinds = [(i.get("type"), i.get("id")) for i in raw["input"]]
    assert kinds == [("message", None), ("reasoning", None), ("message", "msg_o"), (None, None)]
    assert raw["input"][1]["encrypted_content"] == "gAAA"
    assert any("reasoning" in w for w in ctx.warnings)


def test_passthrough_strips_foreign_reasoning_from_the_input_and_keeps_the_rest_undecoded(
    store: ResponseStore,
) -> None:
    frontend = OpenAIResponsesFrontend(store=store)
    foreign = {"type": "reasoning", "summary": [], "encrypted_content": "gw1.abc"}
    items: list[dict[str, object]] = [user("one"), said("You said: one"), user("two")]
    for given, kept in ((items, items), ([items[0], foreign, *items[1:]], items)):
        ctx = RequestContext(model="m", key_id="k")
        frontend.decode(body(input=given), ctx)
        raw = codec.LazyObject.of(json.dumps({"model": "m", "input": given}).encode())
        raw = frontend.passthrough_body(raw, ctx)
        assert (raw.raw("input") is None) is (given is not items)  # decoded only to strip
        assert raw["input"] == kept


def test_passthrough_observer_saves_at_the_terminal_event(store: ResponseStore) -> None:
    frontend = OpenAIResponsesFrontend(store=store)
    ctx = RequestContext(model="public", key_id="k")
    frontend.decode(body(input="x"), ctx)
    observer = frontend.passthrough_observer(ctx)
    final = {"id": "resp_up", "status": "completed", "output": [said("hi")], "model": "up"}
    event = {"type": "response.completed", "response": final}
    frame = encode_event(json.dumps(event), event="response.completed")
    observer.feed(frame[:10])
    observer.feed(frame[10:])
    observer.finish()
    saved = store.get("resp_up", "k")
    assert saved is not None and saved.response["model"] == "public"
    assert saved.output_items == [said("hi")] and saved.input_items[0]["role"] == "user"


def test_background_without_the_task_mode_is_400() -> None:
    with pytest.raises(InvalidRequestError) as info:
        OpenAIResponsesFrontend().decode(body(input="x", background=True), RequestContext())
    assert info.value.param == "background"
