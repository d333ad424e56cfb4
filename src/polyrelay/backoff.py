"""The pauses between the retries of a call that meets a database (or a network) outage:
`first` seconds, doubling up to `most`. Shared by the asyncio loops that retry their step
(background_loop) and the writer threads that retry a batch (storage/group_commit); `take`
is pure, so either kind of waiting serves."""

from __future__ import annotations

import asyncio
from typing import NamedTuple

__all__ = ["DELAYS", "Backoff", "Delays"]


class Delays(NamedTuple):
    """The pauses between retries: `first` seconds, doubling up to `most`."""

    first: float = 0.5
    most: float = 5.0


DELAYS = Delays()


class Backoff:
    """Pauses between retries: `delays.first` seconds, doubling up to `delays.most`."""

    def __init__(self, delays: Delays = DELAYS) -> None:
        self._delays = delays
        self.next = delays.first
        """The pause `take` gives next."""

    def reset(self) -> None:
        self.next = self._delays.first

    def take(self) -> float:
        """The next pause, doubling the one after it."""
        pause, self.next = self.next, min(self.next * 2, self._delays.most)
        return pause

    async def wait(self) -> None:
        await asyncio.sleep(self.take())
