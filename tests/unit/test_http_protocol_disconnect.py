"""HeadJoiningProtocol on a lost connection: it cancels the running request's task when the
app asked for it (CANCEL_ON_DISCONNECT) and the response has not started, and only then;
a task cancelled already (the server's shutdown) is left to that cancellation, which the
app then does not take for a disconnect."""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from polyrelay.http_protocol import (
    CANCEL_ON_DISCONNECT,
    HeadJoiningProtocol,
    cancelled_for_disconnect,
)

REQUEST = b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}"


class _Socket:
    """The transport under the protocol: writes kept, nothing sent."""

    def __init__(self) -> None:
        self.closed = False

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5), "sockname": ("127.0.0.1", 80)}.get(name, default)


class App:
    """Marks its task cancellable unless told not to, starts its response if told to, then
    waits; notes how it ended."""

    def __init__(self, *, mark: bool = True, start: bool = False) -> None:
        self.mark, self.start = mark, start
        self.task: asyncio.Task[Any] | None = None
        self.ended: str | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.task = asyncio.current_task()
        if self.mark:
            scope[CANCEL_ON_DISCONNECT] = self.task
        if self.start:
            await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            await asyncio.sleep(10)
            self.ended = "answered"
        except asyncio.CancelledError:
            self.ended = "disconnect" if cancelled_for_disconnect(scope) else "cancelled"


async def _serve(app: App, *, before_loss: Any = None) -> App:
    """One request to `app`; the connection lost while it runs."""
    config = uvicorn.Config(app, http=HeadJoiningProtocol, lifespan="off", log_level="critical")
    config.load()
    protocol = HeadJoiningProtocol(
        config=config, server_state=ServerState(), app_state={}, _loop=asyncio.get_running_loop()
    )
    protocol.connection_made(_Socket())  # type: ignore[arg-type]
    protocol.data_received(REQUEST)
    await asyncio.sleep(0.01)  # the app runs, and waits
    if before_loss is not None:
        before_loss(app)
    protocol.connection_lost(None)
    assert app.task is not None
    await asyncio.wait([app.task], timeout=1)
    return app


def test_a_marked_request_not_answered_is_cancelled_for_the_disconnect() -> None:
    assert asyncio.run(_serve(App())).ended == "disconnect"


def test_an_unmarked_request_runs_on() -> None:
    async def run() -> None:
        app = await _serve(App(mark=False))
        assert app.ended is None and app.task is not None and not app.task.done()
        app.task.cancel()

    asyncio.run(run())


def test_a_request_whose_response_started_runs_on() -> None:
    async def run() -> None:
        app = await _serve(App(start=True))
        assert app.ended is None and app.task is not None and not app.task.done()
        app.task.cancel()

    asyncio.run(run())


def test_a_task_cancelled_already_is_not_taken_for_a_disconnect() -> None:
    def shut_down(app: App) -> None:
        assert app.task is not None
        app.task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")

    assert asyncio.run(_serve(App(), before_loss=shut_down)).ended == "cancelled"
