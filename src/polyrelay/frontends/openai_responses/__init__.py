"""The OpenAI Responses frontend (`POST /v1/responses`).

Besides the `Frontend` protocol, it offers `decode_with_options`, which also returns the
ResponsesOptions side channel (store, previous_response_id, truncation, background, the
echoed parameters and the tool-name map); pass those options back to `encode` and
`stream_renderer` so namespace and custom tool calls return in the client's own shape.
"""

from __future__ import annotations

from collections.abc import Sequence

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError
from polyrelay.frontends.openai_responses.decode import decode_request
from polyrelay.frontends.openai_responses.encode import encode_error, encode_response
from polyrelay.frontends.openai_responses.options import ResponsesOptions, ToolNames
from polyrelay.frontends.openai_responses.stream import OpenAIResponsesStreamRenderer
from polyrelay.ir import ChatRequest, ChatResponse
from polyrelay.schemas.openai_responses import Response

__all__ = [
    "OpenAIResponsesFrontend",
    "OpenAIResponsesStreamRenderer",
    "ResponsesOptions",
    "ToolNames",
]


class OpenAIResponsesFrontend:
    name = "openai-responses"

    def decode(self, body: bytes, ctx: RequestContext) -> ChatRequest:
        request, options = decode_request(body, ctx)
        ctx.frontend_state = options
        return request

    def decode_with_options(
        self, body: bytes, ctx: RequestContext
    ) -> tuple[ChatRequest, ResponsesOptions]:
        """One parse of `body` into the IR request and the Responses-only options."""
        return decode_request(body, ctx)

    def decode_options(self, body: bytes) -> ResponsesOptions:
        """The Responses-only options alone (decodes `body` again; prefer
        `decode_with_options` on the hot path)."""
        return decode_request(body, RequestContext())[1]

    def encode(
        self,
        responses: Sequence[ChatResponse],
        ctx: RequestContext,
        options: ResponsesOptions | None = None,
    ) -> bytes:
        # `codec.encode`: the name `encode` here is the submodule of this package.
        return codec.encode(self.encode_response(responses, ctx, options or _options(ctx)))

    def encode_response(
        self,
        responses: Sequence[ChatResponse],
        ctx: RequestContext,
        options: ResponsesOptions | None = None,
    ) -> Response:
        """The Response object itself (for the pipeline to store)."""
        return encode_response(responses[0], ctx, options or _options(ctx))

    def encode_error(self, error: GatewayError) -> tuple[int, bytes]:
        return encode_error(error)

    def stream_renderer(
        self,
        request: ChatRequest,
        ctx: RequestContext,
        options: ResponsesOptions | None = None,
    ) -> OpenAIResponsesStreamRenderer:
        del request  # the echoed parameters come from `options`
        return OpenAIResponsesStreamRenderer(ctx, options or _options(ctx))


def _options(ctx: RequestContext) -> ResponsesOptions | None:
    state = ctx.frontend_state
    return state if isinstance(state, ResponsesOptions) else None
