"""How long this process may act on a leased row (a task, a webhook delivery) before
another process may claim it: the time a store call granted, counted from when it was
asked for, less a margin."""

from __future__ import annotations

__all__ = ["Lease"]

_MARGIN = 0.2
"""The part of a lease left unused: the slack for the store call's round trip and the
clocks of the other processes."""


class Lease:
    """Until when (time.monotonic()) this process may act without renewing the lease."""

    def __init__(self, asked: float, seconds: float) -> None:
        self._seconds = seconds
        self.expires = 0.0
        self.renewed(asked)

    def renewed(self, asked: float) -> None:
        """The store granted `seconds` more, counted from when they were asked for (the
        store's lease started between that and the answer)."""
        self.expires = asked + self._seconds

    @property
    def stop_at(self) -> float:
        """When work not renewed must stop: before another process may claim the row."""
        return self.expires - self._seconds * _MARGIN
