"""The Anthropic Messages frontend (`POST /v1/messages`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, InvalidRequestError
from polyrelay.frontends import StreamObserver
from polyrelay.frontends.anthropic_messages.betas import betas_from_headers
from polyrelay.frontends.anthropic_messages.content import relayed_messages
from polyrelay.frontends.anthropic_messages.decode import (
    DEFAULT_MAX_TOKENS,
    MAX_TOKENS_LIMIT,
    DecodeOptions,
    HeaderState,
    decode_request,
)
from polyrelay.frontends.anthropic_messages.encode import encode_error, encode_response
from polyrelay.frontends.anthropic_messages.stream import AnthropicStreamRenderer
from polyrelay.ir import ChatRequest, ChatResponse
from polyrelay.settings import Settings

__all__ = ["AnthropicMessagesFrontend", "AnthropicStreamRenderer"]


class AnthropicMessagesFrontend:
    """Stateless; `default_model` serves requests that omit `model` (a service addition).
    `max_tokens_limit` is the service's documented 32000 unless configured otherwise;
    `upstream_types` (public model → provider type) lets decode leave Anthropic-only
    features to the fast path and refuse or warn about them for other upstreams."""

    name = "anthropic"

    def __init__(
        self,
        default_model: str,
        max_tokens_limit: int = MAX_TOKENS_LIMIT,
        upstream_types: Mapping[str, str] | None = None,
    ) -> None:
        self.options = DecodeOptions(
            default_model=default_model,
            max_tokens_limit=max_tokens_limit,
            upstream_types=dict(upstream_types or {}),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> AnthropicMessagesFrontend:
        types = {
            name: settings.providers[model.provider].type
            for name, model in settings.models.items()
            if model.provider in settings.providers
        }
        return cls(settings.default_model, upstream_types=types)

    def note_headers(self, headers: Mapping[str, str], ctx: RequestContext) -> None:
        ctx.frontend_state = HeaderState(betas=betas_from_headers(headers))

    def decode(self, body: bytes, ctx: RequestContext) -> ChatRequest:
        return decode_request(body, ctx, self.options)

    def decode_count_tokens(self, body: bytes, ctx: RequestContext) -> ChatRequest:
        """A `count_tokens` body: the create shape without max_tokens, sampling or stream."""
        return decode_request(body, ctx, self.options, counting=True)

    def passthrough_body(self, raw: JSONObject, ctx: RequestContext) -> JSONObject:
        """The service's additions in the Anthropic API's own terms before the fast path:
        `messages` as a string becomes one user message, and a missing `max_tokens` gets
        the service default (the API requires it). Thinking another provider issued is
        left out (the decode warned), as the translated path leaves it out. (Tool ids lose
        the round-trip data this gateway appended for another provider in the relay:
        ir/tool_ids.plain_wire_ids.) `messages`, most of the body, is decoded only then."""
        relayed_messages(raw, ctx)
        raw.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        return raw

    def passthrough_result(self, document: object, body: bytes, ctx: RequestContext) -> None:
        del document, body, ctx  # the relay's model echo is all a Message needs

    def passthrough_observer(self, ctx: RequestContext) -> StreamObserver:
        del ctx
        return _NoObserver()

    def passthrough_echoes(self, ctx: RequestContext) -> list[tuple[bytes, bytes]]:
        del ctx  # nothing `passthrough_body` changes is echoed in a Message
        return []

    def encode(self, responses: Sequence[ChatResponse], ctx: RequestContext) -> bytes:
        if len(responses) != 1:
            raise InvalidRequestError("the Anthropic Messages API returns exactly one answer")
        return encode_response(responses[0], ctx)

    def encode_error(self, error: GatewayError) -> tuple[int, bytes]:
        return encode_error(error)

    def encode_error_in(self, error: GatewayError, ctx: RequestContext) -> tuple[int, bytes]:
        return encode_error(error, ctx.request_id)

    def stream_renderer(self, request: ChatRequest, ctx: RequestContext) -> AnthropicStreamRenderer:
        del request
        return AnthropicStreamRenderer(ctx)


class _NoObserver:
    def feed(self, chunk: bytes) -> None:
        del chunk

    def finish(self) -> None:
        return None
