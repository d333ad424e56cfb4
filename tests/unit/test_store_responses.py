"""The ResponseStore on both backends: key scoping, replacement, status updates, input
item pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from polyrelay import codec
from polyrelay.schemas.openai_responses import InputItemParam
from polyrelay.storage import EncodedResponse, StoredResponse, open_database
from polyrelay.storage.responses import SqlResponseStore


@pytest.fixture
def store(database_url: str) -> Iterator[SqlResponseStore]:
    database = open_database(database_url)
    responses = database.responses
    assert isinstance(responses, SqlResponseStore)
    yield responses
    database.close()


def record(rid: str = "resp_1", key: str = "k1", items: int = 3, **kw: object) -> StoredResponse:
    return StoredResponse(
        id=rid,
        key_id=key,
        created_at=100,
        status=str(kw.get("status", "completed")),
        previous_response_id=None,
        response={"id": rid, "object": "response"},
        input_items=[{"id": f"msg_{i}", "type": "message"} for i in range(items)],
        output_items=[{"id": "msg_out", "type": "message"}],
    )


def test_get_is_scoped_to_the_key(store: SqlResponseStore) -> None:
    store.put(record())
    got = store.get("resp_1", "k1")
    assert got is not None and got.response == {"id": "resp_1", "object": "response"}
    assert [i["id"] for i in got.input_items] == ["msg_0", "msg_1", "msg_2"]
    assert got.output_items == [{"id": "msg_out", "type": "message"}]
    assert store.get("resp_1", "k2") is None
    assert store.input_items("resp_1", "k2") is None
    assert store.delete("resp_1", "k2") is False
    assert store.delete("resp_1", "k1") is True
    assert store.get("resp_1", "k1") is None and store.input_items("resp_1", "k1") is None


def test_put_replaces_and_never_takes_over_another_keys_id(store: SqlResponseStore) -> None:
    store.put(record(status="queued", items=1))
    store.put(record(items=2))
    got = store.get("resp_1", "k1")
    assert got is not None and got.status == "completed" and len(got.input_items) == 2
    store.put(record(key="k2", status="failed", items=5))
    still = store.get("resp_1", "k1")
    assert still is not None and still.status == "completed"
    assert store.get("resp_1", "k2") is None
    # The colliding put must not replace the owner's input items either.
    store.flush()
    owner = store.get("resp_1", "k1")
    assert owner is not None and len(owner.input_items) == 2


def test_update_status(store: SqlResponseStore) -> None:
    store.put(record(status="queued"))
    assert store.update_status("resp_1", "k1", "completed", response={"id": "resp_1", "x": 1})
    got = store.get("resp_1", "k1")
    assert got is not None and got.status == "completed" and got.response["x"] == 1
    assert not store.update_status("resp_1", "k2", "cancelled")
    with pytest.raises(ValueError, match="status"):
        store.update_status("resp_1", "k1", "done")


def test_input_item_pages(store: SqlResponseStore) -> None:
    store.put(record(items=5))

    def ids(**kw: object) -> tuple[list[str], bool]:
        page = store.input_items("resp_1", "k1", **kw)  # type: ignore[arg-type]
        assert page is not None
        return [i["id"] for i in page.items], page.has_more

    assert ids() == (["msg_4", "msg_3", "msg_2", "msg_1", "msg_0"], False)
    assert ids(order="asc", limit=2) == (["msg_0", "msg_1"], True)
    assert ids(order="asc", limit=2, after="msg_1") == (["msg_2", "msg_3"], True)
    assert ids(order="desc", after="msg_1") == (["msg_0"], False)
    assert ids(after="msg_unknown") == ([], False)


def encoded(rid: str = "resp_e", key: str = "k1") -> EncodedResponse:
    response = {"id": rid, "object": "response", "status": "completed", "output": [{"id": "o"}]}
    items = [InputItemParam(type="message", role="user", id="msg_in", content="hi")]
    return EncodedResponse(
        id=rid,
        key_id=key,
        created_at=100,
        status="completed",
        response=codec.encode(response),
        input_items=list(items),
    )


@pytest.mark.parametrize("committed", [False, True])
def test_an_encoded_response_reads_back_as_plain_json(
    store: SqlResponseStore, committed: bool
) -> None:
    store.put(encoded())
    if committed:
        store.flush()
    got = store.get("resp_e", "k1")
    assert got is not None and got.response["output"] == [{"id": "o"}]
    assert got.output_items == [{"id": "o"}]  # the Response's own output
    assert got.input_items == [{"type": "message", "role": "user", "id": "msg_in", "content": "hi"}]
    page = store.input_items("resp_e", "k1")
    assert page is not None and [i["id"] for i in page.items] == ["msg_in"]
    assert store.get("resp_e", "k2") is None


def test_output_items_default_to_the_responses_output(store: SqlResponseStore) -> None:
    plain = record(rid="resp_p")
    plain.output_items = []
    plain.response = {"id": "resp_p", "output": [{"id": "from_response"}]}
    store.put(plain)
    parked = store.get("resp_p", "k1")
    store.flush()
    committed = store.get("resp_p", "k1")
    assert parked is not None and committed is not None
    assert parked.output_items == committed.output_items == [{"id": "from_response"}]
    # Given explicitly (a background response's update), they are kept as given.
    assert store.update_status("resp_p", "k1", "completed", output_items=[{"id": "x"}])
    again = store.get("resp_p", "k1")
    assert again is not None and again.output_items == [{"id": "x"}]
