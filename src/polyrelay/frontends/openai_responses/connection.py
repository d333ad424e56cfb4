"""What a Responses WebSocket connection remembers: its own latest responses.

In OpenAI's WebSocket mode a turn continues the previous one by `previous_response_id`
even with `store: false`: the server keeps the connection's recent responses in memory.
ConnectionStore is the ResponseStore a connection's frontend reads through: its own
responses first (the newest `LIMIT`, whatever their `store`, and fewer when their JSON
passes `max_bytes` together: the newest is always kept), then the database's. Writes go to
the database. Nothing here outlives the connection.

Connections per key are not limited, so the process's connections together are bounded
too: every ConnectionStore registers what it remembers with the process's MemoryBudget,
which forgets the oldest responses across all connections once they pass its bytes (a
connection's newest too, when it is among the oldest). A forgotten `store: true` response
is still in the database; a turn continuing a forgotten `store: false` one gets
`previous_response_not_found`, as for any response no longer remembered.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Literal

import msgspec

from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.frontends.openai_responses.options import ResponsesOptions
from polyrelay.storage import EncodedResponse, InputItemsPage, ResponseStore, StoredResponse

__all__ = ["LIMIT", "ConnectionStore", "MemoryBudget"]

LIMIT = 64
"""Responses a connection remembers (each lane continues its newest; forks may reach back)."""


class MemoryBudget:
    """The bytes every connection of the process remembers together, oldest first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[ConnectionStore, str], int] = OrderedDict()
        """By connection and response id, oldest first: the size its store was told."""
        self.held = 0
        """The sizes of `_entries` together."""
        # The stores are used from the event loop, and read from Database.call's threads.
        self._lock = threading.Lock()

    def add(self, store: ConnectionStore, response_id: str, size: int) -> None:
        """Count a response `store` now remembers; past `max_bytes`, the oldest of every
        connection are forgotten until the rest fit (the newest stays, whatever its size)."""
        with self._lock:
            self._entries[store, response_id] = size
            self.held += size
            while self.held > self.max_bytes and len(self._entries) > 1:
                (owner, oldest), freed = self._entries.popitem(last=False)
                self.held -= freed
                owner.evicted(oldest)

    def remove(self, store: ConnectionStore, response_ids: list[str]) -> None:
        """`store` forgot these responses (its own bound, a delete, its close)."""
        with self._lock:
            for response_id in response_ids:
                self.held -= self._entries.pop((store, response_id), 0)


class ConnectionStore:
    def __init__(self, store: ResponseStore, max_bytes: int, budget: MemoryBudget) -> None:
        self._store = store
        self._budget = budget
        self._closed = False
        """Closed: remembers nothing more (a turn still finishing after the close)."""
        self._local: OrderedDict[str, tuple[StoredResponse, int]] = OrderedDict()
        """By id: the response, and its size as `remember` was told it."""
        self._held = 0
        """The sizes of `_local` together."""
        self._max_bytes = max_bytes
        """What the remembered responses may hold together (their turns' bodies and
        their output as sent): without it, 64 turns of max_body_bytes each stayed in
        memory for the connection's hour."""

    def remember(
        self, response: JSONObject, options: ResponsesOptions, ctx: RequestContext, size: int
    ) -> None:
        """Keep a Response this connection produced (its terminal event's) for the turns
        that continue it; `size`: the bytes of its turn's body and of that event."""
        response_id = response.get("id")
        output = response.get("output")
        if not isinstance(response_id, str) or ctx.key_id is None or self._closed:
            return
        stored = StoredResponse(
            id=response_id,
            key_id=ctx.key_id,
            created_at=ctx.created,
            status=str(response.get("status") or "completed"),
            previous_response_id=options.previous_response_id,
            response=response,
            input_items=[msgspec.to_builtins(item) for item in options.input_items],
            output_items=list(output) if isinstance(output, list) else [],
        )
        self._forget(response_id)  # a response remembered again counts once
        self._local[response_id] = (stored, size)
        self._held += size
        self._budget.add(self, response_id, size)
        while len(self._local) > LIMIT or (self._held > self._max_bytes and len(self._local) > 1):
            self._forget(next(iter(self._local)))

    def _forget(self, response_id: str) -> None:
        if self.evicted(response_id):
            self._budget.remove(self, [response_id])

    def evicted(self, response_id: str) -> bool:
        """Drop a response from this connection's memory (the budget's call, when it
        forgets it); whether it was remembered."""
        forgotten = self._local.pop(response_id, None)
        if forgotten is not None:
            self._held -= forgotten[1]
        return forgotten is not None

    def close(self) -> None:
        """The connection has ended: its responses leave the process's budget."""
        self._closed = True
        self._budget.remove(self, list(self._local))
        self._local.clear()
        self._held = 0

    def get(self, response_id: str, key_id: str) -> StoredResponse | None:
        local = self._local.get(response_id)
        if local is not None and local[0].key_id == key_id:
            return local[0]
        return self._store.get(response_id, key_id)

    # The rest is the database's.

    def put(self, record: StoredResponse | EncodedResponse) -> None:
        self._store.put(record)

    def flush(self) -> None:
        self._store.flush()

    def delete(self, response_id: str, key_id: str) -> bool:
        self._forget(response_id)
        return self._store.delete(response_id, key_id)

    def purge(self, created_before: int, limit: int) -> int:
        return self._store.purge(created_before, limit)

    def update_status(
        self,
        response_id: str,
        key_id: str,
        status: str,
        *,
        response: JSONObject | None = None,
        output_items: list[JSONObject] | None = None,
    ) -> bool:
        return self._store.update_status(
            response_id, key_id, status, response=response, output_items=output_items
        )

    def input_items(
        self,
        response_id: str,
        key_id: str,
        *,
        after: str | None = None,
        limit: int = 20,
        order: Literal["asc", "desc"] = "desc",
    ) -> InputItemsPage | None:
        return self._store.input_items(response_id, key_id, after=after, limit=limit, order=order)
