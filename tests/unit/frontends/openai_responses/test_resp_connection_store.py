"""A WebSocket connection's memory of its own responses: read before the database, scoped
to the key, bounded, and never written to the database by itself."""

from __future__ import annotations

from pathlib import Path

from polyrelay.context import RequestContext
from polyrelay.frontends.openai_responses.connection import LIMIT, ConnectionStore
from polyrelay.frontends.openai_responses.options import ResponsesOptions
from polyrelay.storage import StoredResponse, open_database


def test_the_connection_remembers_its_own_responses_first(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store = ConnectionStore(database.responses, max_bytes=10**9)
    ctx = RequestContext(key_id="k1")
    options = ResponsesOptions(store=False, previous_response_id="resp_0")
    store.remember({"id": "resp_1", "status": "completed", "output": [{"x": 1}]}, options, ctx, 1)
    got = store.get("resp_1", "k1")
    assert got is not None and got.previous_response_id == "resp_0"
    assert got.output_items == [{"x": 1}]
    assert store.get("resp_1", "k2") is None  # another key's, as in the database
    assert database.responses.get("resp_1", "k1") is None  # memory only
    database.responses.put(
        StoredResponse(id="resp_db", key_id="k1", created_at=0, status="completed", response={})
    )
    assert store.get("resp_db", "k1") is not None  # the database's behind it
    for n in range(LIMIT):
        store.remember({"id": f"resp_n{n}"}, options, ctx, 1)
    assert store.get("resp_1", "k1") is None  # the oldest gave way
    assert store.get(f"resp_n{LIMIT - 1}", "k1") is not None
    database.close()


def test_the_remembered_responses_are_bounded_in_bytes(tmp_path: Path) -> None:
    """64 turns of max_body_bytes each stayed in memory for the connection's hour (2 GB at
    the default 32 MB); now the oldest give way once the turns' bodies and answers pass
    the connection's bytes, and the newest stays whatever its size."""
    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store = ConnectionStore(database.responses, max_bytes=100)
    ctx = RequestContext(key_id="k1")
    options = ResponsesOptions(store=False)
    for n in range(3):
        store.remember({"id": f"resp_{n}"}, options, ctx, 40)
    assert store.get("resp_0", "k1") is None  # 120 bytes: the oldest gave way
    assert store.get("resp_1", "k1") is not None and store.get("resp_2", "k1") is not None
    store.remember({"id": "resp_big"}, options, ctx, 500)
    assert store.get("resp_big", "k1") is not None  # the newest is kept, alone
    assert store.get("resp_2", "k1") is None
    store.delete("resp_big", "k1")
    store.remember({"id": "resp_after"}, options, ctx, 60)  # nothing of resp_big counts
    assert store.get("resp_after", "k1") is not None
    database.close()
