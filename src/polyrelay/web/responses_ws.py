"""The Responses API's WebSocket mode: `GET /v1/responses` upgraded to a WebSocket, as the
openai SDK's `client.responses.connect()` and the Codex CLI's OpenAI provider use it.

The key is checked at the handshake (a refused one is an HTTP 401 in OpenAI's shape).
Then each `response.create` client event runs exactly as a streamed `POST /v1/responses`
with the same body would (decode, routing, fast path or translation, media, web search,
usage, key limits), and every event of its stream goes back as one JSON text message.

- Lanes: events with the same `stream_id` (and those without one) run in order, one
  response at a time; different lanes run at once. Each event of a lane's responses
  echoes its `stream_id`.
- A turn continues an earlier one of the connection by `previous_response_id` even with
  `store: false`: the connection remembers its latest responses (ConnectionStore).
- `generate: false` prepares a response without calling the upstream: it completes at
  once, empty, and a later turn continues it (the Codex CLI warms a connection so).
- An error is an `error` event (`status`, and `error` with `type`, `code`, `message`,
  `param`); the connection stays open. `background` is refused, as OpenAI does.
- `response.steer` gets `response.steer.failed` with `steering_not_supported`.
- A connection lasts `responses.websocket_max_seconds` (60 minutes, as OpenAI's): then it
  stops reading, lets the turns under way finish, sends an `error` event with the code
  `websocket_connection_limit_reached` on the default lane and closes (1000). The
  client opens a new connection; a `store: false` chain does not carry over to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.responses import Response
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, InvalidRequestError, error_headers, internal_error
from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend
from polyrelay.frontends.openai_responses.connection import ConnectionStore, MemoryBudget
from polyrelay.frontends.openai_responses.encode import response_id, response_shell
from polyrelay.frontends.openai_responses.options import ResponsesOptions
from polyrelay.frontends.openai_responses.persist import save_response
from polyrelay.pipeline.replies import header_safe
from polyrelay.pipeline.sse_response import SSEResponse
from polyrelay.sse import SSEDecoder
from polyrelay.storage import ApiKey
from polyrelay.web import RESPONSES, logged_unexpected

if TYPE_CHECKING:
    from polyrelay.pipeline import Gateway

__all__ = ["routes"]

log = logging.getLogger("polyrelay.requests")
_WHERE = "the Responses WebSocket"
"""Where `logged_unexpected` says an unexpected error happened."""

_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_LANE_BACKLOG = 64
"""`response.create` events a lane holds while it runs one; more is a client bug."""
_MAX_LANES = 32
"""Lanes (distinct `stream_id`s) a connection may open: each runs a task."""


class _Gone(Exception):
    """The client closed the socket: its lanes stop without an error message."""


def routes(gateway: Gateway) -> list[BaseRoute]:
    frontend = gateway.frontends[RESPONSES]
    assert isinstance(frontend, OpenAIResponsesFrontend)
    # One per process (each server process builds its app): all its connections' memories.
    budget = MemoryBudget(gateway.settings.responses.websocket_memory_bytes)

    async def endpoint(websocket: WebSocket) -> None:
        try:
            key = await gateway.authenticator.authenticate(websocket.headers)
        except Exception as exc:
            # Refused in the Responses API's shape, a database out of reach included.
            error = exc if isinstance(exc, GatewayError) else logged_unexpected(exc, _WHERE)
            status, body = frontend.encode_error(error)
            refusal = Response(body, status, error_headers(error), media_type="application/json")
            await websocket.send_denial_response(refusal)
            return
        await websocket.accept()
        connection = _Connection(gateway, frontend, websocket, key, budget)
        try:
            await connection.run()
        finally:
            # Every way out (a close, the client gone, the time limit, an error, a
            # shutdown's cancel): what it remembered leaves the process's budget.
            connection.store.close()

    return [WebSocketRoute(RESPONSES, endpoint)]


class _Job(msgspec.Struct, frozen=True):
    body: bytes
    stream_id: str | None
    generate: bool


class _Connection:
    def __init__(
        self,
        gateway: Gateway,
        frontend: OpenAIResponsesFrontend,
        websocket: WebSocket,
        key: ApiKey,
        budget: MemoryBudget,
    ) -> None:
        self.gateway = gateway
        # Twice a body: the newest turn's and its answer, or a few smaller ones.
        memory = 2 * gateway.settings.max_body_bytes
        self.store = ConnectionStore(gateway.database.responses, memory, budget)
        self.frontend = frontend.reading(self.store)
        self.websocket = websocket
        self.key = key
        self.headers = {name: value for name, value in websocket.headers.items()}
        self.lanes: dict[str | None, asyncio.Queue[_Job]] = {}
        self.workers: list[asyncio.Task[None]] = []
        self.sending = asyncio.Lock()
        self.queued_bytes = 0
        """The bodies queued and not yet started, all lanes together: kept under
        max_body_bytes, else one socket could park lanes x backlog x max_body_bytes
        (tens of GB) in the gateway's memory while a slow turn runs."""

    async def run(self) -> None:
        limit = self.gateway.settings.responses.websocket_max_seconds
        deadline = asyncio.get_running_loop().time() + limit
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        message = await self.websocket.receive()
                except TimeoutError:
                    await self.end_at_limit(limit)
                    return
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode("utf-8", "replace")
                await self.on_event(text)
                # Not kept while the socket waits for the next event (an idle hour).
                del message, text
        except _Gone:
            return
        finally:
            for worker in self.workers:
                worker.cancel()
            await asyncio.gather(*self.workers, return_exceptions=True)

    async def on_event(self, text: str) -> None:
        try:
            event = codec.decode(text)
        except codec.DecodeError:
            event = None
        if not isinstance(event, dict):
            await self.send_error(InvalidRequestError("Events must be JSON objects."), None)
            return
        kind = event.pop("type", None)
        if kind == "response.create":
            await self.on_create(event)
        elif kind == "response.steer":
            await self.send(_steer_failed(event), None)
        else:
            message = f"Unknown event type {str(kind)[:100]!r}; send response.create."
            await self.send_error(InvalidRequestError(message, param="type"), None)

    async def on_create(self, event: dict[str, Any]) -> None:
        stream_id = event.pop("stream_id", None)
        generate = event.pop("generate", True)
        if stream_id is not None and not isinstance(stream_id, str):
            error = InvalidRequestError("stream_id must be a string", param="stream_id")
            await self.send_error(error, None)
            return
        if event.pop("background", None) is True:
            message = "background is not supported over WebSocket; use POST /v1/responses"
            await self.send_error(InvalidRequestError(message, param="background"), stream_id)
            return
        if not isinstance(generate, bool):
            error = InvalidRequestError("generate must be a boolean", param="generate")
            await self.send_error(error, stream_id)
            return
        event["stream"] = True  # implicit over the socket
        lane = self.lanes.get(stream_id)
        if lane is None:
            if len(self.lanes) >= _MAX_LANES:
                message = f"a connection may use at most {_MAX_LANES} stream_id lanes"
                await self.send_error(InvalidRequestError(message, param="stream_id"), stream_id)
                return
            lane = self.lanes[stream_id] = asyncio.Queue(_LANE_BACKLOG)
            self.workers.append(asyncio.create_task(self.serve(lane)))
        if lane.full():
            message = f"too many response.create events queued on this lane ({_LANE_BACKLOG})"
            await self.send_error(InvalidRequestError(message, status=429), stream_id)
            return
        body = codec.encode(event)
        limit = self.gateway.settings.max_body_bytes
        if self.queued_bytes and self.queued_bytes + len(body) > limit:
            message = (
                f"the response.create events queued on this connection would pass {limit}"
                " bytes (max_body_bytes); send more once the turns under way have started"
            )
            await self.send_error(InvalidRequestError(message, status=429), stream_id)
            return
        self.queued_bytes += len(body)
        lane.put_nowait(_Job(body, stream_id, generate))

    async def serve(self, lane: asyncio.Queue[_Job]) -> None:
        while True:
            job = await lane.get()
            self.queued_bytes -= len(job.body)
            try:
                await self.respond(job)
            finally:
                lane.task_done()
            del job  # its body is not kept while the lane waits for the next turn

    async def end_at_limit(self, limit: float) -> None:
        """The connection's time is up: what the lanes hold runs to its end, then the
        connection-scoped error and a normal close."""
        for lane in self.lanes.values():
            await lane.join()
        minutes = f"{limit / 60:g} minutes" if limit >= 60 else f"{limit:g} seconds"
        message = f"This WebSocket connection reached its limit of {minutes}; open a new one."
        error = InvalidRequestError(message, code="websocket_connection_limit_reached")
        await self.send_error(error, None)
        await self.websocket.close(1000)

    async def respond(self, job: _Job) -> None:
        ctx = RequestContext(key_id=self.key.id)
        started = time.perf_counter()
        status = 499  # unless the turn ends otherwise, the client went away (as over HTTP)
        try:
            status = await self.turn(job, ctx)
        except _Gone:
            pass
        finally:
            log.info(
                "WS /v1/responses model=%s status=%s %.1fms%s",
                header_safe(ctx.model[:200]) if ctx.model else "-",
                status,
                (time.perf_counter() - started) * 1000,
                f" warnings={ctx.warnings}" if ctx.warnings else "",
            )

    async def turn(self, job: _Job, ctx: RequestContext) -> int:
        """Run one `response.create`; its status, as the HTTP log would show it."""
        try:
            # Per turn, as over HTTP: a key revoked or expired meanwhile stops here.
            self.key = await self.gateway.authenticator.authenticate(self.headers)
            await self.gateway.limiter.admit(self.key)
            if job.generate:
                return await self.stream(job, ctx)
            await self.prepare(job, ctx)
        except GatewayError as error:
            await self.send_error(error, job.stream_id)
            return error.status
        except _Gone:
            raise
        except Exception as exc:
            failure = logged_unexpected(exc, _WHERE)
            await self.send_error(failure, job.stream_id)
            return failure.status
        return 200

    async def stream(self, job: _Job, ctx: RequestContext) -> int:
        """Run the turn as a streamed POST and send its events; its status, as its usage
        row records it (an in-band error's, when the upstream failed mid-stream)."""
        reply = await self.gateway.dispatch(self.frontend, job.body, self.key, ctx, self.headers)
        if not isinstance(reply, SSEResponse):  # only a stream can answer a streamed request
            raise internal_error()
        frames, meter = reply.frames, reply.meter
        decoder = SSEDecoder()
        try:
            async for chunk in frames:
                for event in decoder.feed(chunk):
                    if _is_terminal(event.event, event.data):
                        self.remember(event.data, ctx, len(job.body))
                    await self.send(event.data, job.stream_id)
        except _Gone:
            # The socket closed under a send, before the receive loop cancelled this turn:
            # the client left before the end all the same (the row said 200).
            if meter is not None:
                meter.abandon()
            raise
        finally:
            with contextlib.suppress(Exception):
                await frames.aclose()  # type: ignore[attr-defined]
        return 200 if meter is None else meter.outcome()

    async def prepare(self, job: _Job, ctx: RequestContext) -> None:
        """`generate: false`: validate, route and keep the turn, with no model output."""
        chat, options = await self.gateway.database.call(
            self.frontend.decode_with_options, job.body, ctx
        )
        ctx.model = chat.model
        self.gateway.route_for(self.key, chat.model)
        shell = response_shell(ctx, options, "in_progress", response_id(ctx, options))
        document: dict[str, Any] = msgspec.to_builtins(shell)
        for seq, kind in enumerate(("response.created", "response.in_progress")):
            await self.send(_event(kind, seq, document), job.stream_id)
        document = {**document, "status": "completed"}
        save_response(self.store, document, options, ctx)
        self.store.remember(document, options, ctx, len(job.body))
        await self.send(_event("response.completed", 2, document), job.stream_id)

    def remember(self, data: str, ctx: RequestContext, body_bytes: int) -> None:
        options = ctx.frontend_state
        try:
            document = codec.decode(data)
        except codec.DecodeError:
            return
        response = document.get("response") if isinstance(document, dict) else None
        if isinstance(options, ResponsesOptions) and isinstance(response, dict):
            self.store.remember(response, options, ctx, body_bytes + len(data))

    async def send_error(self, error: GatewayError, stream_id: str | None) -> None:
        status, body = self.frontend.encode_error(error)
        detail = codec.decode(body).get("error", {})
        await self.send({"type": "error", "status": status, "error": detail}, stream_id)

    async def send(self, event: str | dict[str, Any], stream_id: str | None) -> None:
        """One event as one text message, tagged with its lane."""
        if isinstance(event, dict):
            if stream_id is not None:
                event = {**event, "stream_id": stream_id}
            text = codec.encode(event).decode()
        elif stream_id is not None and event.endswith("}"):
            text = f"{event[:-1]},{codec.encode({'stream_id': stream_id}).decode()[1:]}"
        else:
            text = event
        async with self.sending:
            try:
                await self.websocket.send_text(text)
            except (WebSocketDisconnect, OSError, RuntimeError) as gone:
                # uvicorn: ClientDisconnected (an OSError); Starlette: RuntimeError after
                # the close message.
                raise _Gone from gone


def _is_terminal(name: str | None, data: str) -> bool:
    if name is not None:
        return name in _TERMINAL
    # An upstream that names no events: look for the type (a JSON string's own quotes
    # are escaped, so this is the member, not text).
    return any(f'"type":"{kind}"' in data for kind in _TERMINAL)


def _event(kind: str, seq: int, response: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "sequence_number": seq, "response": response}


def _steer_failed(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "response.steer.failed",
        "sequence_number": 0,
        "error": {
            "type": "invalid_request_error",
            "code": "steering_not_supported",
            "message": "This gateway does not support steering; send the input with the"
            " next response.create instead.",
        },
        "steer": {
            "input": event.get("input"),
            "previous_response_id": event.get("previous_response_id"),
        },
    }
