"""Deleting stored Responses once they are `responses.retention_seconds` old.

OpenAI keeps a stored response for 30 days; so does the gateway by default, since without
a limit the `responses` table (the Response JSON and the input items of every
`store: true` request, some kilobytes each) grows without bound. A loop in every server
process deletes expired rows in batches of `BATCH`, each one short write transaction, so
requests wait for the database lock at most one batch at a time; their recorded stream
events go with them (ON DELETE CASCADE). A chain that reaches a deleted response then
gets `previous_response_not_found`, as it would from OpenAI. 0 keeps responses forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TypeVar

from polyrelay.storage import ResponseStore, StoreCall, call_at_once

__all__ = ["BATCH", "ResponseRetention", "purge_in_chunks"]

log = logging.getLogger("polyrelay.storage")

BATCH = 500
Cutoff = TypeVar("Cutoff", int, float)
_MAX_INTERVAL = 600.0


async def purge_in_chunks(
    call: StoreCall, purge: Callable[[Cutoff, int], int], cutoff: Cutoff, chunk: int
) -> int:
    """`purge(cutoff, chunk)` through `call` until a call deletes fewer than `chunk`, each
    one short write transaction, yielding to requests in between (one transaction for a
    backlog of 200,000 held the database's write lock throughout); how many went."""
    total = 0
    while True:
        deleted = await call(purge, cutoff, chunk)
        total += deleted
        if deleted < chunk:
            return total
        await asyncio.sleep(0)  # let requests in between chunks


class ResponseRetention:
    def __init__(
        self,
        store: ResponseStore,
        retention_seconds: int,
        clock: Callable[[], float],
        *,
        call: StoreCall = call_at_once,
    ) -> None:
        """`call` makes the deletes (Database.call: never blocking the event loop)."""
        self._store = store
        self._call = call
        self._retention = retention_seconds
        self._clock = clock
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._retention > 0:
            self._loop = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None

    async def purge(self) -> int:
        """Delete every expired response now, a batch at a time; how many were deleted."""
        cutoff = int(self._clock()) - self._retention
        return await purge_in_chunks(self._call, self._store.purge, cutoff, BATCH)

    async def _run(self) -> None:
        while True:
            try:
                purged = await self.purge()
            except Exception:  # a locked or broken database: try again next time
                log.exception("could not delete expired stored responses")
            else:
                if purged:
                    log.info("deleted %d stored responses older than %ds", purged, self._retention)
            await asyncio.sleep(min(self._retention / 4, _MAX_INTERVAL))
