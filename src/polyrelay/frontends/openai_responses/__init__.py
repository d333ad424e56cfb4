"""The OpenAI Responses frontend (`POST /v1/responses`), stateful.

Besides the `Frontend` protocol, it offers `decode_with_options`, which also returns the
ResponsesOptions side channel (store, previous_response_id, truncation, background, the
echoed parameters, the tool-name map and the resolved conversation); `decode` keeps those
options in `ctx.frontend_state`, where `encode`, `stream_renderer` and the passthrough
hooks find them, so namespace and custom tool calls return in the client's own shape.

With a ResponseStore, `decode` expands `previous_response_id` into the stored history
(history.py) and applies `truncation`; finished responses are saved for the request's
key (persist.py). Without one (unit tests), nothing is stored and chaining is a 400.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from polyrelay import codec
from polyrelay.codec import JSONObject
from polyrelay.context import RequestContext
from polyrelay.errors import GatewayError, InvalidRequestError
from polyrelay.frontends import StreamObserver, StreamRenderer
from polyrelay.frontends.openai_responses.decode import (
    options_from_params,
    parse_params,
    request_from_params,
)
from polyrelay.frontends.openai_responses.encode import (
    encode_echoing,
    encode_error,
    encode_response,
)
from polyrelay.frontends.openai_responses.history import fit_context, load_history, normalise_input
from polyrelay.frontends.openai_responses.options import ResponsesOptions, ToolNames
from polyrelay.frontends.openai_responses.persist import (
    StoringObserver,
    StoringStreamRenderer,
    finish_response,
    save_encoded,
    save_response,
    upstream_input,
)
from polyrelay.frontends.openai_responses.relayed import RelayedStream
from polyrelay.frontends.openai_responses.stream import OpenAIResponsesStreamRenderer
from polyrelay.ir import ChatRequest, ChatResponse
from polyrelay.schemas.openai_responses import InputItemParam, Response, ResponseCreateParams
from polyrelay.settings import ModelConfig
from polyrelay.storage import ResponseStore

__all__ = [
    "OpenAIResponsesFrontend",
    "OpenAIResponsesStreamRenderer",
    "ResponsesOptions",
    "ToolNames",
]


class OpenAIResponsesFrontend:
    name = "openai-responses"

    def __init__(
        self,
        store: ResponseStore | None = None,
        models: Mapping[str, ModelConfig] | None = None,
    ) -> None:
        self._store = store
        self._models: Mapping[str, ModelConfig] = models or {}

    def reading(self, store: ResponseStore) -> OpenAIResponsesFrontend:
        """The same frontend over another ResponseStore (a WebSocket connection's)."""
        return OpenAIResponsesFrontend(store, self._models)

    def decode(self, body: bytes, ctx: RequestContext) -> ChatRequest:
        request, options = self.decode_with_options(body, ctx)
        ctx.frontend_state = options
        return request

    def reads_store(self, body: bytes) -> bool:
        # A false positive (the words inside a message) costs a greenlet on PostgreSQL.
        return self._store is not None and b"previous_response_id" in body

    def decode_with_options(
        self, body: bytes, ctx: RequestContext
    ) -> tuple[ChatRequest, ResponsesOptions]:
        """One parse of `body` into the IR request (with the stored history, truncated as
        asked) and the Responses-only options."""
        params = parse_params(body, ctx)
        options = options_from_params(params, ctx)
        self.check_background(options)
        return self._conversation(params, options, ctx), options

    def check_background(self, options: ResponsesOptions) -> None:
        """`background: true` runs through the async task mode (the task engineer's hook:
        the ResponseStore keeps `queued`/`in_progress` responses and `update_status`)."""
        if options.background:
            raise InvalidRequestError(
                "background: true needs the gateway's async task mode, which is not "
                "available here; send the request without background.",
                param="background",
            )

    def _conversation(
        self, params: ResponseCreateParams, options: ResponsesOptions, ctx: RequestContext
    ) -> ChatRequest:
        current = normalise_input(params.input)
        history: list[InputItemParam] = []
        if options.previous_response_id is not None:
            history = load_history(self._store, options.previous_response_id, ctx.key_id)
        items = [*history, *current]
        names = ["previous_response_id"] * len(history)
        names += [f"input[{i}]" for i in range(len(current))]
        limit = self._input_limit(params)
        # The tools are encoded only to be counted, so not for a model with no window.
        fixed = 0 if limit is None else self._fixed_chars(params)
        kept = fit_context(
            items, fixed_chars=fixed, limit=limit, truncation=options.truncation, ctx=ctx
        )
        options.input_items = current
        options.history = [items[i] for i in kept if i < len(history)]
        if len(kept) < len(items):
            options.kept_input = [i - len(history) for i in kept if i >= len(history)]
        items, names = [items[i] for i in kept], [names[i] for i in kept]
        return request_from_params(params, items, options.tool_names, ctx, names)

    @staticmethod
    def _fixed_chars(params: ResponseCreateParams) -> int:
        tools = len(codec.encode(params.tools)) if params.tools else 0
        return len(params.instructions or "") + tools

    def _input_limit(self, params: ResponseCreateParams) -> int | None:
        """Tokens left for the input: the context window minus the output budget."""
        model = self._models.get(params.model)
        if model is None or model.context_window is None:
            return None
        output = params.max_output_tokens or model.max_output_tokens or 0
        return model.context_window - output

    def decode_options(self, body: bytes) -> ResponsesOptions:
        """The Responses-only options alone (decodes `body` again)."""
        return options_from_params(parse_params(body), RequestContext())

    def encode(
        self,
        responses: Sequence[ChatResponse],
        ctx: RequestContext,
        options: ResponsesOptions | None = None,
    ) -> bytes:
        opts = options or _options(ctx)
        response = self.encode_response(responses, ctx, opts)
        body = encode_echoing(response)
        if opts is not None:
            save_encoded(self._store, response, body, opts, ctx)
        return body

    def encode_response(
        self,
        responses: Sequence[ChatResponse],
        ctx: RequestContext,
        options: ResponsesOptions | None = None,
    ) -> Response:
        """The Response object itself."""
        return encode_response(responses[0], ctx, options or _options(ctx))

    def encode_error(self, error: GatewayError) -> tuple[int, bytes]:
        return encode_error(error)

    def stream_renderer(
        self,
        request: ChatRequest,
        ctx: RequestContext,
        options: ResponsesOptions | None = None,
    ) -> StreamRenderer:
        del request  # the echoed parameters come from `options`
        opts = options or _options(ctx)
        if opts is None or self._store is None or not opts.store:
            return OpenAIResponsesStreamRenderer(ctx, opts)
        return StoringStreamRenderer(ctx, opts, self._store)

    # PassthroughHooks: the same-protocol fast path to an openai-responses upstream.

    def passthrough_body(self, raw: JSONObject, ctx: RequestContext) -> JSONObject:
        options = _options(ctx)
        if options is None:
            return raw
        # The upstream's own state is not ours: the history goes in `input` instead.
        raw.pop("previous_response_id", None)
        expanded = upstream_input(raw, options, ctx)
        if expanded is not None:
            raw["input"] = expanded
        # The gateway holds the conversation state, so the upstream keeps no copy; the
        # reasoning then has to travel as encrypted_content to be replayable next turn.
        raw["store"] = False
        if raw.get("reasoning") is not None:
            include = [i for i in raw.get("include") or () if isinstance(i, str)]
            if "reasoning.encrypted_content" not in include:
                raw["include"] = [*include, "reasoning.encrypted_content"]
        return raw

    def passthrough_result(
        self, document: object, body: bytes, ctx: RequestContext
    ) -> bytes | None:
        del body
        options = _options(ctx)
        if options is None or not isinstance(document, dict):
            return None
        finish_response(document, options, ctx)
        encoded = codec.encode(document)
        save_response(self._store, document, options, ctx, encoded=encoded)
        return encoded

    def passthrough_observer(self, ctx: RequestContext) -> StreamObserver:
        options = _options(ctx) or ResponsesOptions(store=False)
        # The relay calls the stream renderer's `fail` when the upstream breaks off: the
        # renderer (made before this) finds the relayed response here, and continues it.
        options.relayed = RelayedStream()
        return StoringObserver(self._store, options, ctx)

    def passthrough_echoes(self, ctx: RequestContext) -> list[tuple[bytes, bytes]]:
        """`passthrough_body` sent `store: false` and no `previous_response_id`; the
        upstream's lifecycle events echo those, the client gets its own (as
        `finish_response` does for a complete response)."""
        options = _options(ctx)
        if options is None:
            return []
        pairs = codec.member_replacements(b"store", False, True) if options.store else []
        previous = options.previous_response_id
        if previous is not None:
            pairs += codec.member_replacements(b"previous_response_id", None, previous)
        return pairs


def _options(ctx: RequestContext) -> ResponsesOptions | None:
    state = ctx.frontend_state
    return state if isinstance(state, ResponsesOptions) else None
