"""Calling a provider through the IR: one upstream call per choice, complete or streamed.

When the request carries a server tool the upstream cannot run (web search on anything but
Anthropic), each choice runs the server-tool loop (polyrelay.tools.loop) instead of one call.

A request served by several calls (a tool loop's rounds, a paused turn's continuations,
`n` choices as parallel calls) reports each call's usage as it answers (`Answered`): a
run cancelled before its whole answer is recorded with it, since the upstream bills the
answered calls all the same (a failed call's error carries it instead: GatewayError.usage).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import msgspec

from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError
from polyrelay.ir import ChatRequest, ChatResponse, StreamEvent, Usage
from polyrelay.ir.tool_names import client_event, client_response, upstream_request
from polyrelay.pipeline.paused import complete_paused, may_pause
from polyrelay.pipeline.unstreamed import refuse_if_unstreamed
from polyrelay.providers import Provider, Route, UpstreamRequest, UpstreamResponse
from polyrelay.providers.transport import UpstreamClient, UpstreamStream
from polyrelay.tools.loop import complete_with_tool, prepare_request
from polyrelay.tools.web_search import WebSearchRuntime

__all__ = ["Answered", "call_once", "choice_count", "client_events", "complete", "open_streams"]

Answered = Callable[[Usage], None]
"""Told the usage of each upstream call that answers, and of the searches the gateway ran
(see the module doc)."""


def choice_count(request: ChatRequest, provider: Provider) -> int:
    """How many upstream calls serve the request: `n` of them when the upstream has no `n`."""
    return 1 if provider.capabilities.native_n else request.n


def built(
    provider: Provider, request: ChatRequest, route: Route, ctx: RequestContext
) -> UpstreamRequest:
    """The upstream request, with the tool names the upstream would refuse renamed; the
    map back is kept on `ctx` for the answers (ir/tool_names.py)."""
    renamed, back = upstream_request(request, provider.capabilities.tool_names)
    if back:
        ctx.tool_names_back = {**(ctx.tool_names_back or {}), **back}
    return provider.build_request(renamed, route, ctx)


def parsed(
    provider: Provider, response: UpstreamResponse, route: Route, ctx: RequestContext
) -> ChatResponse:
    return client_response(provider.parse_response(response, route, ctx), ctx.tool_names_back)


def client_events(events: list[StreamEvent], ctx: RequestContext) -> list[StreamEvent]:
    """A stream parser's events with the tool names the client gave (see `built`)."""
    back = ctx.tool_names_back
    return [client_event(event, back) for event in events] if back else events


def _single_choice(request: ChatRequest, provider: Provider) -> ChatRequest:
    """The request each of the parallel calls carries when the upstream has no `n`."""
    if request.n == 1 or provider.capabilities.native_n:
        return request
    return msgspec.structs.replace(request, n=1)


async def complete(
    client: UpstreamClient,
    provider: Provider,
    request: ChatRequest,
    route: Route,
    ctx: RequestContext,
    server_tools: WebSearchRuntime | None = None,
    client_protocol: str = "",
    *,
    answered: Answered,
) -> list[ChatResponse]:
    """`client_protocol`: the frontend's name, for the turns paused for a client whose
    protocol cannot say so (pipeline/paused.py)."""
    if server_tools is not None and server_tools.emulates(request, provider.capabilities):
        return await _complete_with_tools(
            client, provider, request, route, ctx, server_tools, answered
        )
    single = _single_choice(request, provider)
    upstream_request = built(provider, single, route, ctx)

    async def one() -> ChatResponse:
        if pausing:
            return await complete_paused(call, single)
        response = await client.send(upstream_request, route.provider)
        if response.status >= 400:
            raise provider.parse_error(response)
        answer = parsed(provider, response, route, ctx)
        answered(answer.usage)
        return answer

    async def call(prepared: ChatRequest) -> ChatResponse:
        return await call_once(client, provider, prepared, route, ctx, answered)

    pausing = may_pause(request, provider, client_protocol)
    count = choice_count(request, provider)
    if count == 1:
        return [await one()]
    return await _every_choice([one() for _ in range(count)])


async def _every_choice(calls: list[Awaitable[ChatResponse]]) -> list[ChatResponse]:
    """The parallel calls' answers, once all have ended. When one failed, its error is
    raised with the usage of the choices that were answered (billed all the same), for
    the request's usage row."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    answered = [r for r in results if isinstance(r, ChatResponse)]
    if len(answered) == len(results):
        return answered
    failure = next(r for r in results if isinstance(r, BaseException))
    if isinstance(failure, GatewayError):
        for response in answered:
            failure.add_usage(response.usage)
    raise failure


async def call_once(
    client: UpstreamClient,
    provider: Provider,
    request: ChatRequest,
    route: Route,
    ctx: RequestContext,
    answered: Answered,
) -> ChatResponse:
    response = await client.send(built(provider, request, route, ctx), route.provider)
    if response.status >= 400:
        raise provider.parse_error(response)
    answer = parsed(provider, response, route, ctx)
    answered(answer.usage)
    return answer


async def _complete_with_tools(
    client: UpstreamClient,
    provider: Provider,
    request: ChatRequest,
    route: Route,
    ctx: RequestContext,
    server_tools: WebSearchRuntime,
    answered: Answered,
) -> list[ChatResponse]:
    """Every choice runs its own loop (its own search count), each call asking for one."""
    single = msgspec.structs.replace(request, n=1)

    async def call(prepared: ChatRequest) -> ChatResponse:
        return await call_once(client, provider, prepared, route, ctx, answered)

    async def one() -> ChatResponse:
        tool = server_tools.tool_for(request, provider.capabilities, ctx)
        assert tool is not None
        try:
            return await complete_with_tool(call, prepare_request(single, tool), tool)
        except asyncio.CancelledError:  # the searches it ran were billed too
            answered(Usage(web_search_requests=tool.requests))
            raise

    return await _every_choice([one() for _ in range(request.n)])


async def _every_opening(
    openings: Sequence[Awaitable[UpstreamStream]],
) -> list[UpstreamStream | BaseException]:
    """The parallel openings' streams (or errors). Cancelled meanwhile (its client gone),
    the streams already open are closed, which drops their upstream connections: gather
    would drop them unclosed with its results."""
    tasks = [asyncio.ensure_future(opening) for opening in openings]
    try:
        return list(await asyncio.gather(*tasks, return_exceptions=True))
    except asyncio.CancelledError:
        for task in tasks:  # done: a cancelled gather ends once its children have
            if task.done() and not task.cancelled() and task.exception() is None:
                task.result().close()
        raise


async def open_streams(
    client: UpstreamClient,
    provider: Provider,
    request: ChatRequest,
    route: Route,
    ctx: RequestContext,
) -> list[UpstreamStream]:
    """Open every upstream stream and check its status and content type before the
    client's headers go out, so an upstream error (or an answer that is no stream) still
    reaches the client with an HTTP status."""
    upstream_request = built(provider, _single_choice(request, provider), route, ctx)
    count = choice_count(request, provider)
    results: list[UpstreamStream | BaseException]
    if count == 1:  # no gather: its task costs event-loop turns on every stream
        results = [await client.open(upstream_request, route.provider)]
    else:
        openings = [client.open(upstream_request, route.provider) for _ in range(count)]
        results = await _every_opening(openings)
    streams = [r for r in results if isinstance(r, UpstreamStream)]
    try:
        for result in results:
            if isinstance(result, BaseException):
                raise result
        for stream in streams:
            if stream.status >= 400:
                raise provider.parse_error(await stream.read())
            await refuse_if_unstreamed(stream, provider.type)
    except GatewayError:
        for stream in streams:
            stream.close()
        raise
    return streams
