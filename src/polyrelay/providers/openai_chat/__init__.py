"""The OpenAI Chat Completions provider (`type = "openai"`), also the engine for
OpenAI-compatible servers."""

from __future__ import annotations

from collections.abc import Callable

from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.ir import ChatRequest, ChatResponse
from polyrelay.providers import Capabilities, Route, UpstreamRequest, UpstreamResponse
from polyrelay.providers.openai_chat.relay import drop_unasked_usage
from polyrelay.providers.openai_chat.request import build_request, passthrough_request
from polyrelay.providers.openai_chat.response import parse_choices, parse_error
from polyrelay.providers.openai_chat.stream import OpenAIChatStreamParser

__all__ = ["OpenAIChatProvider", "OpenAIChatStreamParser"]


class OpenAIChatProvider:
    type = "openai"
    capabilities = Capabilities(native_n=True, max_stop_sequences=4, image_urls=True)

    def build_request(
        self, request: ChatRequest, route: Route, ctx: RequestContext
    ) -> UpstreamRequest:
        return build_request(request, route, ctx)

    def parse_response(
        self, response: UpstreamResponse, route: Route, ctx: RequestContext
    ) -> ChatResponse:
        """The first choice; `parse_choices` returns all of them (n > 1)."""
        del route  # Chat responses need nothing from the route.
        choices = parse_choices(response, ctx.warn)
        if len(choices) > 1:
            ctx.warn("only the first choice of the upstream completion was kept")
        return choices[0]

    def parse_choices(
        self, response: UpstreamResponse, ctx: RequestContext | None = None
    ) -> list[ChatResponse]:
        """Every choice; what they lose is warned to `ctx`, when one is given."""
        return parse_choices(response, ctx.warn if ctx is not None else lambda _: None)

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        return parse_error(response)

    def stream_parser(self, route: Route, ctx: RequestContext) -> OpenAIChatStreamParser:
        del route
        return OpenAIChatStreamParser(ctx)

    def relay_parser(self, route: Route, ctx: RequestContext) -> OpenAIChatStreamParser:
        """Chunks are unnamed and any may carry usage: all are read (text-only chunks by
        their learned shape, which is cheap)."""
        return self.stream_parser(route, ctx)

    def passthrough_request(
        self, body: JSONObject, route: Route, stream: bool, headers: dict[str, str]
    ) -> UpstreamRequest:
        return passthrough_request(body, route, stream, headers)

    def relay_trim(self, ctx: RequestContext) -> Callable[[bytes], bytes] | None:
        """The stream usage `passthrough_request` always asks for, out of the frames of
        a client that did not (relay.py)."""
        return None if ctx.include_usage else drop_unasked_usage
