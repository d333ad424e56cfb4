"""The Anthropic Messages frontend (`POST /v1/messages`)."""

from __future__ import annotations

from collections.abc import Sequence

from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, InvalidRequestError
from polyrelay.frontends.anthropic_messages.decode import MAX_TOKENS_LIMIT, decode_request
from polyrelay.frontends.anthropic_messages.encode import encode_error, encode_response
from polyrelay.frontends.anthropic_messages.stream import AnthropicStreamRenderer
from polyrelay.ir import ChatRequest, ChatResponse

__all__ = ["AnthropicMessagesFrontend", "AnthropicStreamRenderer"]


class AnthropicMessagesFrontend:
    """Stateless; `default_model` serves requests that omit `model` (a service addition).
    `max_tokens_limit` is the service's documented 32000 unless configured otherwise."""

    name = "anthropic"

    def __init__(self, default_model: str, max_tokens_limit: int = MAX_TOKENS_LIMIT) -> None:
        self.default_model = default_model
        self.max_tokens_limit = max_tokens_limit

    def decode(self, body: bytes, ctx: RequestContext) -> ChatRequest:
        return decode_request(body, ctx, self.default_model, self.max_tokens_limit)

    def encode(self, responses: Sequence[ChatResponse], ctx: RequestContext) -> bytes:
        if len(responses) != 1:
            raise InvalidRequestError("the Anthropic Messages API returns exactly one answer")
        return encode_response(responses[0], ctx)

    def encode_error(self, error: GatewayError) -> tuple[int, bytes]:
        return encode_error(error)

    def stream_renderer(self, request: ChatRequest, ctx: RequestContext) -> AnthropicStreamRenderer:
        del request
        return AnthropicStreamRenderer(ctx)
