"""The OpenAI Chat Completions frontend (`POST /v1/chat/completions`)."""

from __future__ import annotations

from collections.abc import Sequence

from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError
from polyrelay.frontends.openai_chat.decode import decode_request
from polyrelay.frontends.openai_chat.encode import encode_error, encode_response
from polyrelay.frontends.openai_chat.legacy import LEGACY_FUNCTIONS
from polyrelay.frontends.openai_chat.stream import (
    LegacyFunctionsStreamRenderer,
    LegacyLogprobsStreamRenderer,
    LogprobsStreamRenderer,
    OpenAIChatStreamRenderer,
)
from polyrelay.ir import ChatRequest, ChatResponse

__all__ = ["OpenAIChatFrontend", "OpenAIChatStreamRenderer"]


class OpenAIChatFrontend:
    name = "openai"
    paths = ("/v1/chat/completions", "/chat/completions")

    def decode(self, body: bytes, ctx: RequestContext) -> ChatRequest:
        return decode_request(body, ctx)

    def encode(self, responses: Sequence[ChatResponse], ctx: RequestContext) -> bytes:
        return encode_response(responses, ctx)

    def encode_error(self, error: GatewayError) -> tuple[int, bytes]:
        return encode_error(error)

    def stream_renderer(
        self, request: ChatRequest, ctx: RequestContext
    ) -> OpenAIChatStreamRenderer:
        legacy = ctx.frontend_state is LEGACY_FUNCTIONS
        if request.logprobs is not None:  # each text chunk carries its tokens
            if legacy:
                return LegacyLogprobsStreamRenderer(request, ctx)
            return LogprobsStreamRenderer(request, ctx)
        if legacy:
            return LegacyFunctionsStreamRenderer(request, ctx)
        return OpenAIChatStreamRenderer(request, ctx)
