"""Looking once more for a stored response that another process answered moments ago.

A replica (or worker process) answers a stored response before its writer commits it
(within COMMIT_SECONDS, polyrelay.storage.responses), so a client that names it in its
next request (`previous_response_id`, or a GET or DELETE of it), sent to another process
through a load balancer, may come before the commit. Every request that reads a stored
conversation therefore looks again once after a few commit periods before it answers
`previous_response_not_found` (the synchronous call, a background response's submission
and `input_tokens` alike), and so does one that reads or deletes a stored response before
it answers 404: a delete answered 404 would otherwise see the response committed after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from polyrelay.errors import NotStoredYetError
from polyrelay.storage import COMMIT_SECONDS

__all__ = ["LOOK_AGAIN_SECONDS", "found_again", "looking_again"]

T = TypeVar("T")

LOOK_AGAIN_SECONDS = 3 * COMMIT_SECONDS
"""How long to wait before the second look: a quiet writer commits within 10 ms, a busy
one at most every COMMIT_SECONDS."""


async def looking_again(attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()`, made once more after LOOK_AGAIN_SECONDS (without blocking the event
    loop) when it found a stored object missing (NotStoredYetError)."""
    try:
        return await attempt()
    except NotStoredYetError:
        await asyncio.sleep(LOOK_AGAIN_SECONDS)
    return await attempt()


async def found_again(attempt: Callable[[], Awaitable[T | None]]) -> T | None:
    """`attempt()`, made once more after LOOK_AGAIN_SECONDS when it found nothing (None
    or False: a read or a delete of a stored response)."""
    found = await attempt()
    if found is None or found is False:
        await asyncio.sleep(LOOK_AGAIN_SECONDS)
        found = await attempt()
    return found
