"""What a Responses WebSocket connection remembers: its own latest responses.

In OpenAI's WebSocket mode a turn continues the previous one by `previous_response_id`
even with `store: false`: the server keeps the connection's recent responses in memory.
ConnectionStore is the ResponseStore a connection's frontend reads through: its own
responses first (the newest `LIMIT`, whatever their `store`, and fewer when their JSON
passes `max_bytes` together: the newest is always kept), then the database's. Writes go to
the database. Nothing here outlives the connection.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal

import msgspec

from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.frontends.openai_responses.options import ResponsesOptions
from polyrelay.storage import EncodedResponse, InputItemsPage, ResponseStore, StoredResponse

__all__ = ["LIMIT", "ConnectionStore"]

LIMIT = 64
"""Responses a connection remembers (each lane continues its newest; forks may reach back)."""


class ConnectionStore:
    def __init__(self, store: ResponseStore, max_bytes: int) -> None:
        self._store = store
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
        if not isinstance(response_id, str) or ctx.key_id is None:
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
        while len(self._local) > LIMIT or (self._held > self._max_bytes and len(self._local) > 1):
            self._forget(next(iter(self._local)))

    def _forget(self, response_id: str) -> None:
        forgotten = self._local.pop(response_id, None)
        if forgotten is not None:
            self._held -= forgotten[1]

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
