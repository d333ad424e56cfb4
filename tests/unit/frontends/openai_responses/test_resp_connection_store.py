"""A WebSocket connection's memory of its own responses: read before the database, scoped
to the key, bounded per connection and across the process's connections, and never
written to the database by itself."""

from __future__ import annotations

from pathlib import Path

from polyrelay.context import RequestContext
from polyrelay.frontends.openai_responses.connection import LIMIT, ConnectionStore, MemoryBudget
from polyrelay.frontends.openai_responses.options import ResponsesOptions
from polyrelay.storage import StoredResponse, open_database


def test_the_connection_remembers_its_own_responses_first(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store = ConnectionStore(database.responses, 10**9, MemoryBudget(10**12))
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
    store = ConnectionStore(database.responses, 100, MemoryBudget(10**12))
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


def test_the_process_budget_forgets_the_oldest_of_every_connection(tmp_path: Path) -> None:
    """Connections per key are not limited: 20 idle ones after a 2 MB turn each took RSS
    from 54 to 220 MB, up to 64 MB each at the default max_body_bytes. Together they now
    keep what the budget allows, the oldest going first, a connection's newest included;
    a closed connection's leave it."""
    database = open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    budget = MemoryBudget(100)
    first, second = (ConnectionStore(database.responses, 1000, budget) for _ in range(2))
    ctx = RequestContext(key_id="k1")
    options = ResponsesOptions(store=False)
    first.remember({"id": "resp_a1"}, options, ctx, 40)
    second.remember({"id": "resp_b1"}, options, ctx, 40)
    first.remember({"id": "resp_a2"}, options, ctx, 40)  # 120: resp_a1 goes
    assert first.get("resp_a1", "k1") is None and second.get("resp_b1", "k1") is not None
    second.remember({"id": "resp_b2"}, options, ctx, 40)  # resp_b1, the oldest, goes
    second.remember({"id": "resp_b3"}, options, ctx, 40)  # then the first's newest
    assert second.get("resp_b1", "k1") is None and first.get("resp_a2", "k1") is None
    assert second.get("resp_b2", "k1") is not None and budget.held == 80
    second.close()
    assert budget.held == 0 and second.get("resp_b3", "k1") is None
    second.remember({"id": "resp_late"}, options, ctx, 40)  # a turn ending after the close
    assert budget.held == 0 and second.get("resp_late", "k1") is None
    first.remember({"id": "resp_big"}, options, ctx, 500)  # the newest stays, whatever its size
    assert first.get("resp_big", "k1") is not None and budget.held == 500
    first.delete("resp_big", "k1")
    assert budget.held == 0
    first.remember({"id": "resp_c"}, options, ctx, 60)
    first.remember({"id": "resp_c"}, options, ctx, 60)  # remembered again: counted once
    assert budget.held == 60
    database.close()
