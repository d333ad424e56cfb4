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

from polyrelay.storage import ResponseStore, StoreCall, call_at_once

__all__ = ["BATCH", "ResponseRetention"]

log = logging.getLogger("polyrelay.storage")

BATCH = 500
_MAX_INTERVAL = 600.0


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
        total = 0
        while True:
            deleted = await self._call(self._store.purge, cutoff, BATCH)
            total += deleted
            if deleted < BATCH:
                return total
            await asyncio.sleep(0)  # let requests in between batches

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
