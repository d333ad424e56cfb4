"""create_app: the ASGI application, wired from Settings and injectable dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from polyrelay.auth import Authenticator
from polyrelay.frontends import Frontend
from polyrelay.pipeline import Gateway
from polyrelay.providers import Provider
from polyrelay.providers.transport import UpstreamClient
from polyrelay.settings import Settings
from polyrelay.storage import Database
from polyrelay.storage.unreachable import database_unreachable
from polyrelay.web import EndpointModule, failure_response, unrouted, with_request_id

__all__ = ["Deps", "create_app"]


class Deps:
    """What the app needs from the outside; tests pass their own."""

    def __init__(
        self,
        database: Database,
        client: UpstreamClient | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.database = database
        self.client = client or UpstreamClient()
        self.clock = clock or time.time


def default_providers() -> dict[str, Provider]:
    from polyrelay.providers.anthropic import AnthropicProvider
    from polyrelay.providers.gemini import GeminiProvider
    from polyrelay.providers.openai_chat import OpenAIChatProvider
    from polyrelay.providers.openai_responses import OpenAIResponsesProvider

    providers: list[Provider] = [
        OpenAIChatProvider(),
        OpenAIResponsesProvider(),
        AnthropicProvider(),
        GeminiProvider(),
    ]
    return {p.type: p for p in providers}


def endpoint_modules() -> list[EndpointModule]:
    """The endpoint modules beyond the three protocol routes; each adds its routes."""
    from polyrelay.web import (
        batches,
        count_tokens,
        models,
        responses,
        responses_ws,
        tasks,
        usage,
    )

    # `batches` after `tasks`, whose TaskService it uses.
    return [models, count_tokens, responses, responses_ws, tasks, batches, usage]


def default_frontends(settings: Settings, database: Database) -> dict[str, Frontend]:
    from polyrelay.frontends.anthropic_messages import AnthropicMessagesFrontend
    from polyrelay.frontends.openai_chat import OpenAIChatFrontend
    from polyrelay.frontends.openai_responses import OpenAIResponsesFrontend

    return {
        "/v1/chat/completions": OpenAIChatFrontend(),
        "/v1/messages": AnthropicMessagesFrontend.from_settings(settings),
        "/v1/responses": OpenAIResponsesFrontend(store=database.responses, models=settings.models),
    }


def _protocol_endpoint(
    gateway: Gateway, frontend: Frontend
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await gateway.handle(request, frontend)
        except Exception as exc:
            # Never crash a request: an unexpected fault is a 500 in the client's protocol,
            # a database out of reach a 503 (polyrelay.web.failure_response).
            return failure_response(gateway, request, frontend, exc)

    return endpoint


async def _root(request: Request) -> Response:
    # Claude Code probes `HEAD /` before its first request; any 200 will do.
    return Response(b"polyrelay\n" if request.method == "GET" else b"", media_type="text/plain")


class _GatewayApp(Starlette):
    """Starlette, except that a POST to a protocol path goes straight to its endpoint.

    The protocol routes are exact paths with one method; their endpoint turns every
    exception into a response in the client's protocol, so Starlette's middleware and
    router layers (≈8 % of a fast-path request's samples) would only add cost. Everything
    else (other endpoints, lifespan, 404/405) takes the ordinary way."""

    def __init__(
        self,
        *,
        protocol: Mapping[str, Callable[[Request], Awaitable[Response]]],
        routes: list[BaseRoute],
        lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]],
        unrouted: Callable[[Request, Exception], Awaitable[Response]],
    ) -> None:
        handlers = {404: unrouted, 405: unrouted}
        super().__init__(routes=routes, lifespan=lifespan, exception_handlers=handlers)
        self._protocol = dict(protocol)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._protocol.get(scope["path"])
            if endpoint is not None:
                scope["app"] = self
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, deps: Deps) -> Starlette:
    authenticator = Authenticator(
        deps.database.keys, settings.keys, deps.clock, call=deps.database.call
    )
    frontends: Mapping[str, Frontend] = default_frontends(settings, deps.database)
    gateway = Gateway(
        settings,
        authenticator=authenticator,
        client=deps.client,
        providers=default_providers(),
        database=deps.database,
        frontends=frontends,
    )
    protocol = {path: _protocol_endpoint(gateway, f) for path, f in frontends.items()}
    routes: list[BaseRoute] = [
        Route(path, endpoint, methods=["POST"]) for path, endpoint in protocol.items()
    ]
    for module in endpoint_modules():
        routes.extend(module.routes(gateway))
    routes.append(Route("/", with_request_id(_root), methods=["GET", "HEAD"]))
    if settings.embedded_emulator:
        from polyrelay.emulator.app import create_emulator_app

        # Behind the secret only the gateway's own emulator providers send: the mount is
        # on the gateway's port, and its request log holds every client's prompts.
        emulator = create_emulator_app(api_key=settings.embedded_emulator_key)
        routes.append(Mount("/_upstream/emulator", app=emulator))

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        for start in gateway.on_startup:
            await start()
        yield
        for stop in gateway.on_shutdown:
            await stop()
        await deps.client.close()
        flush = getattr(deps.database.responses, "flush", None)
        if flush is not None:  # stored responses parked for the writer thread
            try:
                flush()
            except Exception as exc:
                if not database_unreachable(exc):
                    raise
                # The store has logged how many responses this loses; the shutdown goes on.

    app = _GatewayApp(
        protocol=protocol, routes=routes, lifespan=lifespan, unrouted=unrouted(gateway)
    )
    app.state.gateway = gateway
    return app
