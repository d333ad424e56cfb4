"""The Anthropic Messages upstream (`type = "anthropic"`): POST {base_url}/v1/messages."""

from __future__ import annotations

from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.ir import ChatRequest, ChatResponse
from polyrelay.ir.tool_names import ANTHROPIC_NAMES
from polyrelay.providers import Capabilities, Route, UpstreamRequest, UpstreamResponse
from polyrelay.providers.anthropic import request as _request, response as _response
from polyrelay.providers.anthropic.stream import AnthropicStreamParser

__all__ = ["AnthropicProvider", "AnthropicStreamParser"]


class AnthropicProvider:
    """Stateless; one instance serves every Anthropic route."""

    type = "anthropic"
    capabilities = Capabilities(
        native_n=False,
        image_urls=True,
        document_urls=True,
        text_documents=True,
        native_web_search=True,
        tool_names=ANTHROPIC_NAMES,
    )

    def build_request(
        self, request: ChatRequest, route: Route, ctx: RequestContext
    ) -> UpstreamRequest:
        return _request.build_request(request, route, ctx)

    def parse_response(
        self, response: UpstreamResponse, route: Route, ctx: RequestContext
    ) -> ChatResponse:
        del route
        return _response.parse_response(response, ctx)

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        return _response.parse_error(response)

    def stream_parser(self, route: Route, ctx: RequestContext) -> AnthropicStreamParser:
        del route
        return AnthropicStreamParser(ctx)

    def relay_parser(self, route: Route, ctx: RequestContext) -> AnthropicStreamParser:
        del route
        return AnthropicStreamParser(ctx, usage_only=True)

    def passthrough_request(
        self, body: JSONObject, route: Route, stream: bool, headers: dict[str, str]
    ) -> UpstreamRequest:
        return _request.passthrough_request(body, route, stream, headers)

    def count_tokens_request(
        self, request_body: JSONObject, route: Route, headers: dict[str, str] | None = None
    ) -> UpstreamRequest:
        """`POST /v1/messages/count_tokens` with the client's body, model replaced;
        `headers` may carry the client's anthropic-version and anthropic-beta."""
        return _request.count_tokens_request(request_body, route, headers)
