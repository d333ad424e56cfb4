"""The emulator's Starlette app: routes, the request log, and the shared answer pipeline.

Routes are relative, so the app also works mounted under a prefix (the gateway's offline
demo mounts it at `/_upstream/emulator`, with an `api_key` that every request must carry:
see auth.py).
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from polyrelay.codec import DecodeError, JSONObject, decode
from polyrelay.emulator.anthropic import AnthropicDialect
from polyrelay.emulator.auth import RequireKey, presented_keys
from polyrelay.emulator.dialect import Dialect, Reply
from polyrelay.emulator.errors import gemini_error, json_response
from polyrelay.emulator.gemini import GeminiDialect
from polyrelay.emulator.models import (
    anthropic_model,
    anthropic_models,
    gemini_model,
    gemini_models,
    openai_model,
    openai_models,
)
from polyrelay.emulator.openai_chat import ChatDialect
from polyrelay.emulator.openai_responses import ResponsesDialect
from polyrelay.emulator.script import Plan, RequestError, make_plan
from polyrelay.emulator.state import EmulatorState, RequestRecord
from polyrelay.emulator.streaming import (
    EmulatorStream,
    install_cut_log_filter,
    sleep_unless_disconnected,
)

__all__ = ["create_emulator_app"]

_CHAT = ChatDialect()
_RESPONSES = ResponsesDialect()
_ANTHROPIC = AnthropicDialect()
_JSON = "application/json"


def create_emulator_app(
    latency_ms: int = 0, tokens_per_second: float | None = None, api_key: str | None = None
) -> Starlette:
    """The emulator; with `api_key`, a request without that key gets the provider's 401
    (403 on Gemini paths), whatever its route, the request log's included."""
    install_cut_log_filter()
    handlers = _Handlers(EmulatorState(latency_ms, tokens_per_second))
    routes = [
        Route("/", handlers.root, methods=["GET", "HEAD"]),
        Route("/v1/chat/completions", handlers.chat, methods=["POST"]),
        Route("/v1/responses", handlers.responses, methods=["POST"]),
        Route("/v1/messages", handlers.messages, methods=["POST"]),
        Route("/v1/messages/count_tokens", handlers.count_tokens, methods=["POST"]),
        Route("/v1/models", handlers.list_models, methods=["GET"]),
        Route("/v1/models/{target}", handlers.model_item, methods=["GET", "POST"]),
        Route("/v1beta/models", handlers.list_gemini_models, methods=["GET"]),
        Route("/v1beta/models/{target}", handlers.gemini_model_item, methods=["GET", "POST"]),
        Route("/_emulator/requests", handlers.requests_log, methods=["GET", "DELETE"]),
        Route("/_emulator/cache", handlers.prompt_cache, methods=["DELETE"]),
    ]
    middleware = [] if api_key is None else [Middleware(RequireKey, key=api_key)]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.emulator = handlers.state
    return app


class _Handlers:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    async def root(self, _request: Request) -> Response:
        return Response(b"polyrelay emulator\n", media_type="text/plain")

    async def chat(self, request: Request) -> Response:
        return await self._answer(request, _CHAT)

    async def responses(self, request: Request) -> Response:
        return await self._answer(request, _RESPONSES)

    async def messages(self, request: Request) -> Response:
        return await self._answer(request, _ANTHROPIC)

    async def count_tokens(self, request: Request) -> Response:
        _, body = await self._record(request)
        try:
            conversation = _ANTHROPIC.conversation(
                _require_object(body), self.state.call_names, counting=True
            )
        except RequestError as exc:
            return _ANTHROPIC.error(exc.status, exc.message, exc.param)
        return json_response({"input_tokens": conversation.input_tokens})

    async def list_models(self, request: Request) -> Response:
        if "anthropic-version" in request.headers:
            return json_response(anthropic_models())
        if "x-goog-api-key" in request.headers:
            return json_response(gemini_models())
        return json_response(openai_models())

    async def list_gemini_models(self, _request: Request) -> Response:
        return json_response(gemini_models())

    async def model_item(self, request: Request) -> Response:
        target: str = request.path_params["target"]
        if request.method == "POST":
            return await self._gemini(request, target)
        if "anthropic-version" in request.headers:
            return json_response(anthropic_model(target))
        if "x-goog-api-key" in request.headers:
            return json_response(gemini_model(target))
        return json_response(openai_model(target))

    async def gemini_model_item(self, request: Request) -> Response:
        target: str = request.path_params["target"]
        if request.method == "POST":
            return await self._gemini(request, target)
        return json_response(gemini_model(target))

    async def requests_log(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.log.clear()
            return json_response({"cleared": True})
        return Response(self.state.log.to_json(), media_type=_JSON)

    async def prompt_cache(self, _request: Request) -> Response:
        self.state.prompt_cache.clear()
        return json_response({"cleared": True})

    async def _gemini(self, request: Request, target: str) -> Response:
        model, _, action = target.rpartition(":")
        if action == "countTokens":
            _, body = await self._record(request)
            try:
                conversation = GeminiDialect(model).conversation(
                    _count_tokens_request(body), self.state.call_names
                )
            except RequestError as exc:
                return gemini_error(exc.status, exc.message)
            return json_response({"totalTokens": conversation.input_tokens})
        if action not in ("generateContent", "streamGenerateContent"):
            return gemini_error(404, f"Method {action or target!r} is not found for {model!r}.")
        stream = action == "streamGenerateContent"
        sse = request.query_params.get("alt") == "sse"
        return await self._answer(request, GeminiDialect(model, stream=stream, sse=sse))

    async def _answer(self, request: Request, dialect: Dialect) -> Response:
        record, body = await self._record(request)
        try:
            body = _require_object(body)
            conversation = dialect.conversation(body, self.state.call_names)
            plan = make_plan(conversation)
        except RequestError as exc:
            return dialect.error(exc.status, exc.message, exc.param, exc.code)
        delay = self.state.latency_seconds + plan.delay_seconds
        if not await sleep_unless_disconnected(request.receive, delay):
            record.cancelled = True
            return Response(status_code=499)
        if plan.error is not None and self.state.should_fail(plan.error.once_key):
            return dialect.error(plan.error.status)
        if conversation.cached_prompt is not None:
            # Only an answered request reads or writes the cache (a failed one never did).
            plan.cache = self.state.prompt_cache.use(_api_key(request), conversation.cached_prompt)
        for call in plan.tool_calls:
            self.state.call_names.remember(f"call_{call.token}", call.name)
            self.state.call_names.remember(f"toolu_{call.token}", call.name)
        return self._send(dialect.reply(plan, body), plan, record)

    def _send(self, reply: Reply, plan: Plan, record: RequestRecord) -> Response:
        if reply.frames is None:
            return Response(reply.body, headers=reply.headers, media_type=reply.media_type)

        def mark_cancelled() -> None:
            record.cancelled = True

        return EmulatorStream(
            reply.frames,
            headers=reply.headers,
            on_cancel=mark_cancelled,
            pace=plan.pace or self.state.tokens_per_second,
            cut_after=plan.cut_after,
        )

    async def _record(self, request: Request) -> tuple[RequestRecord, Any]:
        raw = await request.body()
        try:
            body = decode(raw) if raw else None
        except DecodeError:
            body = None
        scope = request.scope
        path: str = scope["path"]
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path):
            path = path[len(root_path) :] or "/"
        query = scope.get("query_string", b"").decode("latin-1")
        record = self.state.log.record(
            request.method, path, query, request.headers, body, size=len(raw)
        )
        return record, body


def _api_key(request: Request) -> str:
    """The key the request came with: each key has a prompt cache of its own."""
    keys = presented_keys(request.scope)
    return keys[0].decode("latin-1") if keys else ""


def _require_object(body: Any) -> JSONObject:
    if not isinstance(body, dict):
        raise RequestError(400, "the request body must be a JSON object")
    return body


def _count_tokens_request(body: Any) -> JSONObject:
    body = _require_object(body)
    nested = body.get("generateContentRequest")
    return nested if isinstance(nested, dict) else body
