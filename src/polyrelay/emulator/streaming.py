"""Streaming responses: pacing, `[[cut N]]` connection drops and client-disconnect detection.

Protocol modules produce frames as `(bytes, is_content)`; `EmulatorStream` sends them.
Uvicorn (ASGI spec 2.3) silently drops writes to a closed connection, so a disconnect is
only noticed by listening on `receive` while the body is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = [
    "EmulatedCut",
    "EmulatorStream",
    "Frame",
    "install_cut_log_filter",
    "sleep_unless_disconnected",
]

Frame = tuple[bytes, bool]
_UNPACED_BATCH = 32


class EmulatedCut(Exception):
    """Raised inside a stream so the server drops the connection mid-body, as `[[cut N]]` asks."""


class _HideEmulatedCut(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        return not (exc_info and isinstance(exc_info[1], EmulatedCut))


def install_cut_log_filter() -> None:
    """Keep deliberate `[[cut N]]` drops out of the server's error log."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _HideEmulatedCut) for existing in logger.filters):
        logger.addFilter(_HideEmulatedCut())


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def sleep_unless_disconnected(receive: Receive, seconds: float) -> bool:
    """Sleep; False when the client went away meanwhile."""
    if seconds <= 0:
        return True
    watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
    done, _ = await asyncio.wait({watcher}, timeout=seconds)
    if done:
        return False
    watcher.cancel()
    return True


class EmulatorStream(Response):
    """A chunked event-stream body that can be paced, cut, or cancelled by the client."""

    media_type = "text/event-stream"

    def __init__(
        self,
        frames: Iterator[Frame],
        *,
        headers: dict[str, str],
        on_cancel: Callable[[], None],
        pace: float | None = None,
        cut_after: int | None = None,
        media_type: str | None = None,
    ) -> None:
        # Response.__init__ would add content-length: 0; a stream must be chunked instead.
        self.status_code = 200
        self.background = None
        if media_type is not None:
            self.media_type = media_type
        self.init_headers({"cache-control": "no-cache", **headers})
        self._frames = frames
        self._on_cancel = on_cancel
        self._pace = pace
        self._cut_after = cut_after

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        del scope  # the stream depends only on its frames
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        pump = asyncio.ensure_future(self._pump(send))
        watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            await asyncio.wait({pump, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not pump.done():
                pump.cancel()
                self._on_cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump

    async def _pump(self, send: Send) -> None:
        frames, cut_after, pace = self._frames, self._cut_after, self._pace
        if cut_after is not None:
            listed = list(frames)
            # Never wait for more content than there is: the cut must still come before
            # the trailing events, so the client always sees an unfinished stream.
            cut_after = min(cut_after, sum(1 for _, is_content in listed if is_content))
            frames = iter(listed)
        loop = asyncio.get_running_loop()
        start = loop.time()
        pending: list[bytes] = []
        sent_content = 0
        for data, is_content in frames:
            if is_content:
                if sent_content == cut_after:
                    await _send_body(send, pending)
                    raise EmulatedCut
                if pace is not None:
                    # Scheduled from the start, so per-chunk overhead does not add up.
                    await asyncio.sleep(max(start + sent_content / pace - loop.time(), 0))
                sent_content += 1
            pending.append(data)
            if is_content and sent_content == cut_after:
                await _send_body(send, pending)
                raise EmulatedCut
            if pace is not None or len(pending) >= _UNPACED_BATCH:
                await _send_body(send, pending)
                # A send to a fast client never suspends: yield so disconnects get noticed
                # and one long stream cannot starve the other connections.
                await asyncio.sleep(0)
        await _send_body(send, pending)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_body(send: Send, pending: list[bytes]) -> None:
    if pending:
        await send({"type": "http.response.body", "body": b"".join(pending), "more_body": True})
        pending.clear()
