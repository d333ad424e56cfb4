"""The OpenAI Responses upstream (`type: openai-responses`): POST `{base_url}/responses`."""

from __future__ import annotations

from polyrelay.codec import JSONObject, encode
from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.ir import ChatRequest, ChatResponse
from polyrelay.providers import (
    Capabilities,
    Route,
    UpstreamRequest,
    UpstreamResponse,
    upstream_headers,
)
from polyrelay.providers.openai_errors import parse_error
from polyrelay.providers.openai_responses.request import PROVIDER_TYPE, build_body
from polyrelay.providers.openai_responses.response import response_to_ir
from polyrelay.providers.openai_responses.stream import OpenAIResponsesStreamParser

__all__ = ["OpenAIResponsesProvider", "OpenAIResponsesStreamParser"]


class OpenAIResponsesProvider:
    type = PROVIDER_TYPE
    capabilities = Capabilities(native_n=False, image_urls=True, document_urls=True)

    def _request(self, route: Route, body: bytes) -> UpstreamRequest:
        provider = route.provider
        headers = upstream_headers(provider, {"content-type": "application/json"})
        url = provider.base_url.rstrip("/") + "/responses"
        return UpstreamRequest(method="POST", url=url, headers=headers, body=body)

    def build_request(
        self, request: ChatRequest, route: Route, ctx: RequestContext
    ) -> UpstreamRequest:
        return self._request(route, build_body(request, route.upstream_model, ctx))

    def parse_response(
        self, response: UpstreamResponse, route: Route, ctx: RequestContext
    ) -> ChatResponse:
        del route  # the body names its own model
        return response_to_ir(response.body, ctx)

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        return parse_error(response)

    def stream_parser(self, route: Route, ctx: RequestContext) -> OpenAIResponsesStreamParser:
        del route
        return OpenAIResponsesStreamParser(ctx)

    def relay_parser(self, route: Route, ctx: RequestContext) -> OpenAIResponsesStreamParser:
        del route
        return OpenAIResponsesStreamParser(ctx, usage_only=True)

    def passthrough_request(
        self, body: JSONObject, route: Route, stream: bool, headers: dict[str, str]
    ) -> UpstreamRequest:
        """Same-protocol fast path: only `model` changes; every other field (`stream`
        included) is kept as the client sent it, and no client header is forwarded."""
        del stream, headers
        body["model"] = route.upstream_model
        return self._request(route, encode(body))
