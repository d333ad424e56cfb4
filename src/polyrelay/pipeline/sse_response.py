"""SSEResponse: the streamed answer, sent with a plain ASGI loop, with keep-alive frames.

Starlette's StreamingResponse runs every stream in an anyio task group with a second task
listening for the client's disconnect; per stream that costs more CPU than translating a
short answer (bench/README.md). This response sends each frame batch as it comes and:

- watches for the client's disconnect only once a stream has lasted `_WATCH_AFTER` seconds
  (a short stream is over before that); a disconnect tells the stream's meter
  (`StreamMeter.abandon`, so the usage row says 499) and cancels the stream, whose
  generators close the upstream streams in their `finally` (dropping the upstream
  connection);
- before that, a connection the server knows is lost (uvicorn's request cycle says so, and
  drops whatever is sent after) ends the stream the same way at its next frames, so that a
  short stream left early is not sent to its end into nothing and recorded as a 200;
- while the source is silent for `keepalive` seconds (a slow upstream, a gateway-run web
  search), sends the renderer's heartbeat frames (`event: ping` to Anthropic clients, an
  SSE comment to the others) — only after the first frame and never inside one, since the
  source yields whole frames. `keepalive <= 0` turns them off.

Sends never overlap: a heartbeat is sent by a short task only while the loop waits for the
source, and the loop waits for that task before it sends the next frames.

The head waits for the first frames (the server joins it to the first body write anyway, so
a healthy stream's first byte leaves no later): a stream that failed before them
(`FailedFrames` first) is answered with the HTTP error `refuse` makes of it, as the same
error before the stream would be, since the SDKs retry a 429 or 529 status but never an
in-band error. A failure after the first frames ends the stream with its in-band error.
So a stream's status is known only at its end, and so are the warnings its parser and
renderer give on the way: `ended` tells the request log then, once, with the status its
usage row records (its meter's `outcome`: 200, 499 for a client gone, an in-band error's
status).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Protocol

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from polyrelay.errors import ClientClosedError, GatewayError

__all__ = ["FailedFrames", "FinalFrames", "SSEResponse", "StreamMeter"]

log = logging.getLogger(__name__)


class FinalFrames(bytes):
    """The stream's last frames: sent together with the end of the body (one `send`
    instead of two). Nothing may follow them."""


class FailedFrames(FinalFrames):
    """The last frames of a stream that failed with `error`, its in-band error among them.
    First, they may be answered with the HTTP error instead; later, they go out as other
    frames do, then the end of the body (one send more, on an error's path only)."""

    def __new__(cls, frames: bytes, error: GatewayError) -> FailedFrames:
        failed = super().__new__(cls, frames)
        failed.error = error
        return failed

    error: GatewayError


_WATCH_AFTER = 0.25
"""Seconds into a stream before its client's disconnect is watched for."""


class StreamMeter(Protocol):
    """What the SSE response tells the usage meter of the upstream call its frames come
    from (metering.Meter), and asks it. The frames' `aclose` settles that meter's row, so
    the order of these calls against it matters."""

    def abandon(self) -> None:
        """The client went away before the stream's end (the row says 499): told before
        the frames are closed, which settles the stream's usage."""

    def outcome(self) -> int:
        """The status of a stream that ended after its head (the meter knows an in-band
        error's status): asked once, at its end, after the frames are closed."""

    def fail(self, status: int) -> None:
        """The stream raised (a fault of the gateway's), told with 500 before its frames
        are closed, so that its row says 500 as its log line does."""


class SSEResponse(Response):
    media_type = "text/event-stream"

    def __init__(
        self,
        frames: AsyncIterator[bytes],
        headers: Mapping[str, str],
        *,
        heartbeat: Callable[[], bytes],
        keepalive: float,
        meter: StreamMeter | None = None,
        refuse: Callable[[GatewayError], Response] | None = None,
        late_headers: Callable[[], Mapping[str, str] | None] | None = None,
    ) -> None:
        """`meter`: the usage meter of the upstream call the frames come from, told when
        the client leaves before the end or the stream raises, and asked the status the
        stream ended with. `refuse`: the error response to a stream that failed before its
        first frames (without it, such a stream is a 200 with its in-band error).
        `late_headers`: the headers anew when they changed since (warnings a stream parser
        gave before the first frames), else None; asked once, as the head goes out."""
        self.frames = frames
        self.status_code = 200
        self.background = None
        self.heartbeat = heartbeat
        """The bytes that keep the stream alive now (b"" for none), from the renderer."""
        self.keepalive = keepalive
        self.meter = meter
        self.refuse = refuse
        self.late_headers = late_headers
        self.head_sent: float | None = None
        """When the head went out (`time.perf_counter()`), if it did."""
        self.ended: Callable[[int, float | None], None] | None = None
        """Told, once, as the stream ends (for the request log): its status (a refusal's,
        499 when the client left, else the meter's `outcome`, or 200, or 500 when the stream
        raised) and `head_sent`."""
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        pump = _Pump(send, receive, self.heartbeat, self.keepalive, self.meter)
        refusal: Response | None = None
        status = 500  # the stream raised: before its head, the server answers 500
        try:
            refusal = await pump.run(self.frames, self._head, self.refuse)
            status = ClientClosedError.status if pump.left else 200
        finally:
            # After `run`, which closed the frames: their meter has settled its row.
            if self.ended is not None:
                self._end(status, refusal)
        if refusal is not None:
            self.status_code = refusal.status_code
            await refusal(scope, receive, send)

    def _head(self) -> Message:
        headers = self.late_headers() if self.late_headers is not None else None
        if headers is not None:
            self.init_headers(headers)
        self.head_sent = time.perf_counter()
        return {"type": "http.response.start", "status": 200, "headers": self.raw_headers}

    def _end(self, status: int, refusal: Response | None) -> None:
        """Tell `ended`: it runs in `__call__`'s finally, before a refusal is sent, so a
        failure in it is logged here and never keeps the client's answer from going out
        nor hides the stream's own exception."""
        ended, self.ended = self.ended, None
        assert ended is not None
        try:
            if refusal is not None:
                status = refusal.status_code
            elif status == 200 and self.head_sent is not None and self.meter is not None:
                status = self.meter.outcome()  # an in-band error's; a 500 (it raised) stays
            ended(status, self.head_sent)
        except Exception:
            log.exception("telling the end of a stream failed")


async def _first(frames: AsyncIterator[bytes]) -> bytes:
    """The first frames (FinalFrames() if none): read with `async for`, as the rest are,
    from the same iterator (breaking out of the loop does not close it)."""
    async for frames_ in frames:
        return frames_
    return FinalFrames()


class _Pump:
    __slots__ = (
        "beat",
        "cycle",
        "disconnected",
        "heartbeat",
        "keepalive",
        "last",
        "left",
        "loop",
        "meter",
        "receive",
        "send",
        "started",
        "task",
        "timer",
        "waiting",
        "watcher",
    )

    def __init__(
        self,
        send: Send,
        receive: Receive,
        heartbeat: Callable[[], bytes],
        keepalive: float,
        meter: StreamMeter | None,
    ) -> None:
        self.send = send
        self.meter = meter
        self.receive = receive
        self.cycle = getattr(receive, "__self__", None)
        """uvicorn's request cycle, whose `disconnected` the server sets (None elsewhere)."""
        self.heartbeat = heartbeat
        self.keepalive = keepalive
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.current_task()
        self.last = self.loop.time()
        self.waiting = True
        self.started = False
        self.disconnected = False
        self.left = False
        """The client went away before the stream's end."""
        self.beat: asyncio.Task[None] | None = None
        self.watcher: asyncio.Future[Message] | None = None
        first = min(self.keepalive, _WATCH_AFTER) if self.keepalive > 0 else _WATCH_AFTER
        self.timer: asyncio.TimerHandle | None = self.loop.call_later(first, self._tick)

    async def run(
        self,
        frames: AsyncIterator[bytes],
        head: Callable[[], Message],
        refuse: Callable[[GatewayError], Response] | None,
    ) -> Response | None:
        """Sends `head()` and the frames; or, if the stream failed before its first frames
        and `refuse` is given, sends nothing and returns the error response to send."""
        try:
            return await self._send_all(frames, head, refuse)
        except asyncio.CancelledError:
            if not self.disconnected or self.task is None:
                raise
            self.task.uncancel()  # our own cancellation: the client is gone, end quietly
            self._left()
            return None
        except Exception:
            if self.meter is not None:
                self.meter.fail(500)  # before `aclose` below, which settles the row
            raise
        finally:
            self._stop()
            aclose = getattr(frames, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    async def _send_all(
        self,
        frames: AsyncIterator[bytes],
        head: Callable[[], Message],
        refuse: Callable[[GatewayError], Response] | None,
    ) -> Response | None:
        send = self.send
        ended = False
        first = await _first(frames)
        if self._lost():
            self._left()
            return None
        if refuse is not None and type(first) is FailedFrames:
            self._stop()
            return refuse(first.error)
        await send(head())
        if type(first) is not bytes:  # FinalFrames: the whole stream
            self._stop()
            await send({"type": "http.response.body", "body": first, "more_body": False})
            return None
        await send({"type": "http.response.body", "body": first, "more_body": True})
        self.started = True
        self.last = self.loop.time()
        self.waiting = True
        async for chunk in frames:
            self.waiting = False
            if self.beat is not None:
                await self.beat
            if self._lost():
                self._left()
                return None
            if type(chunk) is FinalFrames:
                self._stop()
                ended = True
                await send({"type": "http.response.body", "body": chunk, "more_body": False})
                continue
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            self.started = True
            self.last = self.loop.time()
            self.waiting = True
        self.waiting = False
        if ended:
            return None
        if self.beat is not None:
            await self.beat
        self._stop()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return None

    def _lost(self) -> bool:
        return getattr(self.cycle, "disconnected", False) is True

    def _left(self) -> None:
        """The client is gone before the stream's end."""
        self.left = True
        if self.meter is not None:
            self.meter.abandon()  # before `aclose` in `run`, which settles the stream's usage

    def _stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.watcher is not None:
            self.watcher.remove_done_callback(self._gone)
            self.watcher.cancel()
            self.watcher = None
        if self.beat is not None and not self.beat.done():
            self.beat.cancel()

    def _tick(self) -> None:
        if self.watcher is None:
            self.watcher = asyncio.ensure_future(self.receive())
            self.watcher.add_done_callback(self._gone)
        if self.keepalive <= 0:
            self.timer = None
            return
        now = self.loop.time()
        due = self.last + self.keepalive
        if now >= due:
            if self.waiting and self.started and self.beat is None:
                self.beat = self.loop.create_task(self._beat())
            due = now + self.keepalive
        self.timer = self.loop.call_at(due, self._tick)

    async def _beat(self) -> None:
        try:
            frames = self.heartbeat()
            if frames:
                await self.send({"type": "http.response.body", "body": frames, "more_body": True})
            self.last = self.loop.time()
        finally:
            self.beat = None

    def _gone(self, watcher: asyncio.Future[Message]) -> None:
        if watcher.cancelled() or watcher.exception() is not None:
            return
        if watcher.result().get("type") == "http.disconnect" and self.task is not None:
            self.disconnected = True
            self.task.cancel()
