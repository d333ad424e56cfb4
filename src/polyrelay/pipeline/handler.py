"""Gateway: the single request path shared by every client protocol.

authenticate → read the body (size-capped) → decode into the IR → route → authorize the
model → call the provider (fast path when the protocols match) → render. Every
GatewayError raised on the way is rendered by the client's frontend, with its status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol, cast

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from polyrelay import codec
from polyrelay.auth import Authenticator
from polyrelay.codec import JSONObject, LazyObject
from polyrelay.context import RequestContext
from polyrelay.errors import (
    ClientClosedError,
    GatewayError,
    InvalidRequestError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
    error_headers,
)
from polyrelay.fetch.client import UrlFetcher
from polyrelay.frontends import EncodesErrorInContext, Frontend, ReadsHeaders, ReadsStore
from polyrelay.http_protocol import CANCEL_ON_DISCONNECT, cancelled_for_disconnect
from polyrelay.ir import ChatRequest
from polyrelay.ir.tool_ids import outgoing_response, restore_request
from polyrelay.limits import KeyLimiter
from polyrelay.media import PdfTextReader
from polyrelay.pipeline import passthrough
from polyrelay.pipeline.body import read_body
from polyrelay.pipeline.calls import complete
from polyrelay.pipeline.media import MediaReaders, prepare_media
from polyrelay.pipeline.metering import Meter, MeteredFrames
from polyrelay.pipeline.replies import conforms, header_safe, response_headers, sse_response
from polyrelay.pipeline.sse_response import SSEResponse
from polyrelay.pipeline.stored_soon import looking_again
from polyrelay.pipeline.streaming import open_stream
from polyrelay.providers import Provider, Route, SupportsPassthrough
from polyrelay.providers.model_limits import capped
from polyrelay.providers.transport import UpstreamClient
from polyrelay.routing import Router
from polyrelay.settings import Settings
from polyrelay.signals import KEYS_CHANGED, Signals
from polyrelay.storage import ApiKey, Database
from polyrelay.tools.web_search import WebSearchRuntime

__all__ = ["Gateway", "TaskSubmitter", "log_request", "read_body", "response_headers"]

log = logging.getLogger("polyrelay.requests")
_LOGGED_MODEL = 200
"""The most of a client's model name the request log shows (it is the client's text: one
line, printable, bounded, so it cannot forge or flood log lines)."""

_UPSTREAM_ERRORS = (UpstreamError, UpstreamUnreachableError, UpstreamTimeoutError)
"""Errors that mean the request reached (or tried to reach) the upstream: metered."""
_LEFT_UNANSWERED = "The client closed the connection before its answer."


class TaskSubmitter(Protocol):
    """The async task mode (`async: true`): takes a request instead of running it."""

    def wants_async(self, frontend: Frontend, document: JSONObject | None) -> bool:
        """`document`: the body's top-level members (codec.top_level)."""
        ...

    async def submit(
        self,
        frontend: Frontend,
        body: bytes,
        key: ApiKey,
        ctx: RequestContext,
        headers: Mapping[str, str],
    ) -> Response:
        """`headers` are the client's: the task keeps those the frontends read."""
        ...

    async def stream_response(
        self, response_id: str, key: ApiKey, after: int, *, logprobs: bool = True
    ) -> Response:
        """The events of a background streamed response numbered above `after`, then
        its new ones as they come (`GET /v1/responses/{id}?stream=true`); their token
        logprobs emptied unless `logprobs`."""
        ...


class Gateway:
    """The request path plus what the endpoints share: settings, stores, the upstream
    client. Endpoint modules (polyrelay.web) register start-up and shut-down work here."""

    def __init__(
        self,
        settings: Settings,
        *,
        authenticator: Authenticator,
        client: UpstreamClient,
        providers: Mapping[str, Provider],
        database: Database,
        frontends: Mapping[str, Frontend],
    ) -> None:
        self.settings = settings
        self.router = Router(settings)
        self.authenticator = authenticator
        self.client = client
        self.providers = providers
        self.database = database
        self.limiter = KeyLimiter(database.keys, database.usage, time.time, call=database.call)
        """Each key's rpm, tpm and token budget (polyrelay.limits)."""
        self.frontends = frontends
        """By route path, e.g. "/v1/messages"."""
        self.fetcher = UrlFetcher.from_settings(settings.fetch)
        """The one hardened fetcher for every URL the server fetches (media, search, hooks)."""
        self.pdf_reader = PdfTextReader(settings.media)
        """Worker processes that read PDFs for models that cannot."""
        self.media_readers = MediaReaders(self.fetcher, self.pdf_reader)
        self.tasks: TaskSubmitter | None = None
        self.on_startup: list[Callable[[], Awaitable[None]]] = []
        self.on_shutdown: list[Callable[[], Awaitable[None]]] = []
        self.signals = _signals(settings)
        """Wake-ups between the parts of this server and, with Redis, between replicas."""
        self.signals.on(KEYS_CHANGED, authenticator.forget)
        self.on_startup.append(self.signals.start)
        self.server_tools = WebSearchRuntime(settings.search, max_bytes=settings.fetch.max_bytes)
        """The search backend, built at start-up, behind the gateway-run web search tool."""
        self.on_startup.append(self.server_tools.start)
        self.on_shutdown.append(self.server_tools.close)
        self.on_shutdown.append(self.signals.stop)
        self.on_shutdown.append(self.pdf_reader.close)

    async def handle(self, request: Request, frontend: Frontend) -> Response:
        ctx = RequestContext()
        started = time.perf_counter()
        try:
            response = await self._handle(request, frontend, ctx)
        except GatewayError as error:
            response = self.error_response(frontend, error, ctx)
        log_request(request, response, ctx, started)
        return response

    def route_for(self, key: ApiKey, model: str) -> Route:
        """The route of `model` for `key`, its permission checked first: a key limited to
        some models gets the same 403 for a model that exists and one that does not, so
        it cannot probe which others are configured. Every endpoint routes through this."""
        self.authenticator.authorize_model(key, model)
        return self.router.resolve(model, key)

    def error_response(
        self, frontend: Frontend, error: GatewayError, ctx: RequestContext
    ) -> Response:
        if conforms(frontend, EncodesErrorInContext):
            status, body = cast(EncodesErrorInContext, frontend).encode_error_in(error, ctx)
        else:
            status, body = frontend.encode_error(error)
        headers = response_headers(ctx) | error_headers(error)
        return Response(body, status, headers, media_type="application/json")

    async def _handle(self, request: Request, frontend: Frontend, ctx: RequestContext) -> Response:
        key = await self.authenticator.authenticate(request.headers)
        ctx.key_id = key.id
        await self.limiter.admit(key)
        body = await read_body(request, self.settings.max_body_bytes)
        # Its top level read once: for the async mode's fields, and as the fast path's body.
        top = codec.top_level(body)
        if self.tasks is not None and self.tasks.wants_async(frontend, top):
            return await self.tasks.submit(frontend, body, key, ctx, request.headers)
        # Unlike a task, this run is its client's: it stops if the client leaves before its
        # answer (http_protocol.CANCEL_ON_DISCONNECT). What must not be cut halfway cannot
        # be: the usage row and a stored Response are written by sync calls, with no await
        # between the upstream's answer and them.
        request.scope[CANCEL_ON_DISCONNECT] = asyncio.current_task()
        try:
            return await self.dispatch(frontend, body, key, ctx, request.headers, top=top)
        except asyncio.CancelledError:
            if cancelled_for_disconnect(request.scope):  # logged and answered as a 499
                raise ClientClosedError(_LEFT_UNANSWERED) from None
            raise
        finally:
            request.scope[CANCEL_ON_DISCONNECT] = None  # answered: a disconnect drops it only

    async def dispatch(
        self,
        frontend: Frontend,
        body: bytes,
        key: ApiKey,
        ctx: RequestContext,
        headers: Mapping[str, str],
        *,
        top: LazyObject | None = None,
    ) -> Response:
        """Run one authenticated request: decode, route, call, render. Async tasks call
        this too, so a task's result is exactly what the synchronous call returns. `top`:
        `body`'s top level if already read (codec.top_level), which the fast path takes."""
        if conforms(frontend, ReadsHeaders):
            cast(ReadsHeaders, frontend).note_headers(headers, ctx)
        decoded = await _decode(frontend, body, ctx, self.database)
        chat = restore_request(decoded)
        # Ids this gateway extended for another upstream: the fast path sends them plain.
        extended_ids = chat is not decoded
        ctx.model = chat.model
        route = self.route_for(key, chat.model)
        provider = self.providers[route.provider.type]
        chat = await prepare_media(chat, route, provider.capabilities, self.media_readers, ctx)
        fast = provider.type == frontend.name and ctx.passthrough_ok
        # A web search the upstream cannot run takes the IR path, where the gateway runs it.
        fast = fast and not self.server_tools.emulates(chat, provider.capabilities)
        if not fast:
            chat = _translating(chat, route, provider.type != frontend.name, ctx)
        # Usage accounting (pipeline/metering.py): every path below settles this once.
        meter = Meter(
            self.database.usage, ctx, route, stream=chat.stream, counted=key.limits.counts_tokens
        )
        try:
            if fast and conforms(provider, SupportsPassthrough):
                return await passthrough.relay(
                    self,
                    provider,
                    route,
                    body,
                    chat,
                    frontend,
                    ctx,
                    headers,
                    meter,
                    extended_ids,
                    top,
                )
            if chat.stream:
                return await self._stream(frontend, provider, chat, route, ctx, meter)
            responses = await complete(
                self.client,
                provider,
                chat,
                route,
                ctx,
                self.server_tools,
                frontend.name,
                answered=meter.answered,
            )
        except _UPSTREAM_ERRORS as error:
            if error.usage is not None:
                meter.add(error.usage)
            meter.settle(error.status)
            raise
        except asyncio.CancelledError:
            # The call went out and its run was stopped (a cancelled task or background
            # response, a closed WebSocket, a client gone before its answer): recorded, as
            # a stream its client left is.
            meter.cancel()
            raise
        for response in responses:
            meter.add(response.usage)
        meter.settle(200)
        return Response(
            frontend.encode([outgoing_response(r) for r in responses], ctx),
            200,
            response_headers(ctx),
            media_type="application/json",
        )

    async def _stream(
        self,
        frontend: Frontend,
        provider: Provider,
        chat: ChatRequest,
        route: Route,
        ctx: RequestContext,
        meter: Meter,
    ) -> Response:
        renderer = frontend.stream_renderer(chat, ctx)
        frames = await open_stream(
            self.client,
            provider,
            chat,
            route,
            ctx,
            renderer,
            meter,
            self.server_tools,
            frontend.name,
        )
        return sse_response(
            MeteredFrames(frames, meter),
            renderer.heartbeat,
            ctx,
            self.settings.stream_keepalive_seconds,
            meter,
            lambda error: self.error_response(frontend, error, ctx),
        )


def log_request(request: Request, response: Response, ctx: RequestContext, started: float) -> None:
    """The request's one log line: now, or for a stream at its end. Only then is its status
    known (an HTTP error before its first frames, 499 for a client gone, an in-band
    error's as its usage row says), and the warnings its parser and renderer gave on the
    way, which come too late for the polyrelay-warnings header, are in the log at least."""
    if not log.isEnabledFor(logging.INFO):
        return
    if type(response) is SSEResponse:
        response.ended = lambda status, head_sent: _log_request(
            request, ctx, started, status, head_sent
        )
    else:
        _log_request(request, ctx, started, response.status_code)


def _log_request(
    request: Request,
    ctx: RequestContext,
    started: float,
    status: int,
    head_sent: float | None = None,
) -> None:
    """One line per request, at its end: for a stream, the whole duration and, when its
    head went out, its first byte's."""
    log.info(
        "%s %s model=%s status=%s %.1fms%s%s",
        request.method,
        request.scope["path"],
        header_safe(ctx.model[:_LOGGED_MODEL]) if ctx.model else "-",
        status,
        (time.perf_counter() - started) * 1000,
        "" if head_sent is None else f" (first byte {(head_sent - started) * 1000:.1f}ms)",
        f" warnings={ctx.warnings}" if ctx.warnings else "",
    )


def _translating(
    chat: ChatRequest, route: Route, other_protocol: bool, ctx: RequestContext
) -> ChatRequest:
    """`chat` made ready to translate (`other_protocol`: the upstream's is not the client's)."""
    ctx.translating()
    chat = _without_reasoning(chat, route, ctx)
    if other_protocol:
        # The client asked in its own protocol's terms (Claude Code: 32000), not the
        # upstream model's; its own protocol's upstream answers for itself.
        chat = capped(chat, route, ctx)
    if not chat.messages:  # only a Responses body decodes so (Chat, Messages refuse it)
        raise InvalidRequestError(
            "input: there is nothing to answer: no input items and no history"
            " from previous_response_id.",
            param="input",
        )
    return chat


def _without_reasoning(chat: ChatRequest, route: Route, ctx: RequestContext) -> ChatRequest:
    """A model configured with `reasoning: false` gets no reasoning settings (its API
    would refuse them); the client hears so."""
    if route.model.reasoning or chat.reasoning is None:
        return chat
    ctx.warn(f"{route.model.name} takes no reasoning settings (reasoning: false); left out")
    return msgspec.structs.replace(chat, reasoning=None)


def _signals(settings: Settings) -> Signals:
    """Between processes through Redis when it is set, else through PostgreSQL's
    LISTEN/NOTIFY when the database is PostgreSQL reached per session; otherwise this
    process's only (other processes poll)."""
    if settings.redis is not None:
        from polyrelay.signals_redis import RedisSignals  # only deployments with Redis load it

        return RedisSignals(settings.redis)
    if settings.signals_through_postgres:
        from polyrelay.signals_postgres import PostgresSignals

        return PostgresSignals(settings.database)
    return Signals()


async def _decode(
    frontend: Frontend, body: bytes, ctx: RequestContext, database: Database
) -> ChatRequest:
    # Another process may have stored the previous response moments ago, uncommitted yet.
    return await looking_again(lambda: _decode_once(frontend, body, ctx, database))


async def _decode_once(
    frontend: Frontend, body: bytes, ctx: RequestContext, database: Database
) -> ChatRequest:
    if conforms(frontend, ReadsStore) and cast(ReadsStore, frontend).reads_store(body):
        return await database.call(frontend.decode, body, ctx)
    return frontend.decode(body, ctx)
