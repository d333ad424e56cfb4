"""The Gemini upstream: native generateContent / streamGenerateContent (Developer API).

Wire reference: protocols/gemini-generate-content.md. `request` builds the body,
`response` parses bodies and errors, `stream` is the SSE state machine.
"""

from __future__ import annotations

from polyrelay.context import RequestContext
from polyrelay.errors import UpstreamError
from polyrelay.ir import ChatRequest, ChatResponse
from polyrelay.ir.tool_names import GEMINI_NAMES
from polyrelay.providers import Capabilities, Route, UpstreamRequest, UpstreamResponse
from polyrelay.providers.gemini.request import (
    MAX_STOP_SEQUENCES,
    build_request,
    count_tokens_request,
)
from polyrelay.providers.gemini.response import parse_count_tokens, parse_error, parse_response
from polyrelay.providers.gemini.stream import GeminiStreamParser

__all__ = ["GeminiProvider", "GeminiStreamParser"]


class GeminiProvider:
    type = "gemini"
    # Gemini fetches no arbitrary URLs: the gateway fetches and inlines them (pipeline/media.py).
    capabilities = Capabilities(
        native_n=False, max_stop_sequences=MAX_STOP_SEQUENCES, tool_names=GEMINI_NAMES
    )

    def build_request(
        self, request: ChatRequest, route: Route, ctx: RequestContext
    ) -> UpstreamRequest:
        return build_request(request, route, ctx)

    def parse_response(
        self, response: UpstreamResponse, route: Route, ctx: RequestContext
    ) -> ChatResponse:
        return parse_response(response, route, ctx)

    def parse_error(self, response: UpstreamResponse) -> UpstreamError:
        return parse_error(response)

    def stream_parser(self, route: Route, ctx: RequestContext) -> GeminiStreamParser:
        return GeminiStreamParser(route.upstream_model, ctx)

    def count_tokens_request(
        self, request: ChatRequest, route: Route, ctx: RequestContext | None = None
    ) -> UpstreamRequest:
        """POST :countTokens for the Messages count_tokens endpoint."""
        return count_tokens_request(request, route, ctx)

    def parse_count_tokens(self, response: UpstreamResponse) -> int:
        return parse_count_tokens(response)
