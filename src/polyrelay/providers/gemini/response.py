"""Gemini response / error bodies → ir.ChatResponse / UpstreamError.

Part rules (shared with stream.py, translation.md §9.2 G): consecutive text parts form
one TextPart and consecutive `thought: true` parts one ReasoningPart(origin="gemini");
a functionCall becomes a ToolCallPart with an invented `call_…` id when Gemini gave none,
its thoughtSignature kept in `extensions`. A thoughtSignature on a plain text part has no
IR slot, so it becomes a signature-only ReasoningPart right after that text (content.py
puts it back on the text when the history is replayed). A `logprobsResult` goes on the
text parts (logprobs.py).
"""

from __future__ import annotations

import msgspec

from polyrelay.context import RequestContext, new_id
from polyrelay.errors import UpstreamError, kind_for_status, upstream_credential_error
from polyrelay.ir import (
    ChatResponse,
    Part,
    ReasoningPart,
    StopReason,
    TextPart,
    ToolCallPart,
    Usage,
)
from polyrelay.providers import Route, UpstreamResponse, surrogates, upstream_json
from polyrelay.providers.error_body import error_object, foreign_error_message, text
from polyrelay.providers.gemini.content import PROVIDER_TYPE, SIGNATURE_KEY
from polyrelay.providers.gemini.logprobs import with_logprobs
from polyrelay.schemas.gemini import (
    Candidate,
    CountTokensResponse,
    GenerateContentResponse,
    Part as GeminiPart,
    Status,
    UsageMetadata,
)

__all__ = [
    "NON_TEXT_DROPPED",
    "decode_error_body",
    "error_from_status",
    "parse_count_tokens",
    "parse_error",
    "parse_response",
    "stop_reason_to_ir",
    "tool_call_to_ir",
    "usage_to_ir",
]

_REFUSALS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_OTHER",
        "IMAGE_RECITATION",
        "MODEL_ARMOR",
        "JAILBREAK",
    }
)
_REQUEST_CAUSED = {
    "LANGUAGE": "the request is in a language the model does not support",
    "UNEXPECTED_TOOL_CALL": "the model called a tool, but the request enables no tools",
    "MISSING_THOUGHT_SIGNATURE": "a model turn in the conversation lacks its thought signature",
}
"""finishReasons that say the request, as sent, cannot be answered (why, for the client):
with no output, a 400, which a client does not retry. The others without output
(MALFORMED_FUNCTION_CALL, TOO_MANY_TOOL_CALLS, MALFORMED_RESPONSE, OTHER...) are the
model's or the service's failure, which another try may get past: a 502. The refusals
above stay refusals, a 200 whose stop reason says so."""
_KEY_REFUSED = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED"})
"""google.rpc.ErrorInfo reasons of the 400 INVALID_ARGUMENT Gemini answers for an unknown
or expired API key ("API key not valid. Please pass a valid API key.")."""
_KIND_BY_RPC_STATUS = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "NOT_FOUND": "not_found_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "INTERNAL": "api_error",
    "UNAVAILABLE": "overloaded_error",
    "DEADLINE_EXCEEDED": "timeout_error",
}


NON_TEXT_DROPPED = "gemini returned a non-text part; it was dropped"
"""The warning for a part of a kind the IR has no room for, streamed or not."""


def parse_response(response: UpstreamResponse, route: Route, ctx: RequestContext) -> ChatResponse:
    try:
        body = surrogates.decode_whole(response.body, GenerateContentResponse)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise UpstreamError(f"gemini sent an unreadable response: {exc}", status=502) from exc
    candidate = body.candidates[0] if body.candidates else None
    parts = _parts_to_ir(candidate, ctx)
    usage = usage_to_ir(body.usage_metadata)
    try:
        stop_reason = _stop_reason(body, candidate, parts)
    except UpstreamError as error:  # no output: the prompt was billed all the same
        error.usage = usage
        raise
    return ChatResponse(
        id=body.response_id or new_id("gemini-"),
        model=body.model_version or route.upstream_model,
        parts=parts,
        stop_reason=stop_reason,
        usage=usage,
    )


def _parts_to_ir(candidate: Candidate | None, ctx: RequestContext) -> tuple[Part, ...]:
    if candidate is None or candidate.content is None:
        return ()
    folder = _PartFolder()
    for part in candidate.content.parts:
        if part.function_call is not None:
            folder.close()
            folder.parts.append(tool_call_to_ir(part))
        elif part.text is None:
            ctx.warn(NON_TEXT_DROPPED)
        elif part.thought:
            folder.thought(part.text, part.thought_signature)
        else:
            folder.text(part.text, part.thought_signature)
    folder.close()
    if candidate.logprobs_result is not None:
        return with_logprobs(folder.parts, candidate.logprobs_result)
    return tuple(folder.parts)


class _PartFolder:
    """Merges consecutive text / thought parts as the stream parser does across chunks.
    The open part's text is kept in pieces and joined when it closes (joining with every
    part was quadratic in a reply of many small parts)."""

    __slots__ = ("_pieces", "_signature", "open", "parts", "pending_signature")

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.open: type[TextPart] | type[ReasoningPart] | None = None
        self.pending_signature: str | None = None
        self._pieces: list[str] = []
        self._signature: str | None = None
        """The open thought's signature."""

    def text(self, text: str, signature: str | None) -> None:
        if text:
            if self.open is not TextPart:
                self.close()
                self.open = TextPart
            self._pieces.append(text)
        if signature is not None:
            self.pending_signature = signature

    def thought(self, text: str, signature: str | None) -> None:
        if self.open is ReasoningPart:
            self._signature = signature or self._signature
        else:
            self.close()
            self.open, self._signature = ReasoningPart, signature
        self._pieces.append(text)

    def close(self) -> None:
        text, self._pieces = "".join(self._pieces), []
        if self.open is TextPart:
            self.parts.append(TextPart(text=text))
        elif self.open is ReasoningPart:
            self.parts.append(
                ReasoningPart(text=text, signature=self._signature, origin=PROVIDER_TYPE)
            )
        if self.pending_signature is not None:
            sig, self.pending_signature = self.pending_signature, None
            self.parts.append(ReasoningPart(signature=sig, origin=PROVIDER_TYPE))
        self.open = None


def tool_call_to_ir(part: GeminiPart) -> ToolCallPart:
    call = part.function_call
    assert call is not None
    sig = part.thought_signature
    return ToolCallPart(
        id=call.id or new_id("call_"),
        name=call.name,
        arguments=msgspec.json.format(bytes(call.args), indent=-1).decode(),
        extensions={SIGNATURE_KEY: sig} if sig is not None else {},
    )


def stop_reason_to_ir(
    reason: str | None, *, blocked: bool, has_calls: bool, has_text: bool, detail: str | None
) -> StopReason:
    """translation.md §7. Raises UpstreamError when Gemini failed without any output."""
    if blocked:
        return StopReason.REFUSAL
    if reason == "STOP":
        return StopReason.TOOL_USE if has_calls else StopReason.END_TURN
    if reason == "MAX_TOKENS":
        return StopReason.MAX_TOKENS
    if reason in _REFUSALS:
        return StopReason.REFUSAL
    # LANGUAGE, MALFORMED_FUNCTION_CALL, OTHER, ...: keep what was produced, else fail.
    if has_calls or has_text:
        return StopReason.TOOL_USE if has_calls else StopReason.END_TURN
    message = f"gemini stopped with finishReason {reason} and no output"
    if detail:
        message = f"{message}: {detail}"
    why = _REQUEST_CAUSED.get(reason or "")
    if why is not None:
        raise UpstreamError(f"{message} ({why})", status=400, kind="invalid_request_error")
    raise UpstreamError(message, status=502)


def _stop_reason(
    body: GenerateContentResponse, candidate: Candidate | None, parts: tuple[Part, ...]
) -> StopReason:
    feedback = body.prompt_feedback
    return stop_reason_to_ir(
        candidate.finish_reason if candidate is not None else None,
        blocked=candidate is None and feedback is not None and feedback.block_reason is not None,
        has_calls=any(isinstance(p, ToolCallPart) for p in parts),
        has_text=any(isinstance(p, TextPart) for p in parts),
        detail=candidate.finish_message if candidate is not None else None,
    )


def usage_to_ir(meta: UsageMetadata | None) -> Usage:
    """translation.md §8: promptTokenCount already includes the cached tokens."""
    if meta is None:
        return Usage()
    return Usage(
        input_tokens=meta.prompt_token_count + meta.tool_use_prompt_token_count,
        output_tokens=meta.candidates_token_count + meta.thoughts_token_count,
        cache_read_tokens=meta.cached_content_token_count,
        reasoning_tokens=meta.thoughts_token_count,
    )


def parse_error(response: UpstreamResponse) -> UpstreamError:
    status = decode_error_body(response.body)
    if status is None or not status.message:
        # Not Gemini's shape, or no text for a message in it: JSON text is kept, a
        # proxy's page is only logged.
        message = foreign_error_message(response, "Gemini")
        if status is None:
            status = Status(code=response.status)
        status = msgspec.structs.replace(status, message=message)
    return error_from_status(status, response.status, response.headers.get("retry-after"))


def decode_error_body(data: bytes | str) -> Status | None:
    """`{"error": {...}}`, or a JSON list of those (older servers), whatever the types of
    its members (error_body.error_object: a `code` of "429" is 429, `details` that are not
    a list of objects are none); None if neither."""
    error = error_object(data)
    if error is None:
        return None
    code, details = text(error.get("code")), error.get("details")
    return Status(
        code=int(code) if code is not None and code.isdecimal() else 0,
        message=text(error.get("message")) or "",
        status=text(error.get("status")),
        details=[d for d in details if isinstance(d, dict)] if isinstance(details, list) else [],
    )


def error_from_status(
    status: Status, http_status: int, retry_after: str | None = None
) -> UpstreamError:
    """One google.rpc.Status → UpstreamError; also used for errors inside a stream."""
    if http_status in (401, 403) or _key_refused(status):
        # The gateway's own key: relayed, a client would think its key was refused.
        return upstream_credential_error(http_status)
    kind = _KIND_BY_RPC_STATUS.get(status.status or "") or kind_for_status(http_status)
    # No `code`: an OpenAI client would get Google's RPC status (RESOURCE_EXHAUSTED) where
    # it knows OpenAI's codes (rate_limit_exceeded), which the kind gives it.
    return UpstreamError(
        status.message or f"gemini error {http_status}",
        status=http_status,
        kind=kind,
        retry_after=retry_after or _retry_delay(status),
    )


def _key_refused(status: Status) -> bool:
    return any(detail.get("reason") in _KEY_REFUSED for detail in status.details)


def _retry_delay(status: Status) -> str | None:
    """RESOURCE_EXHAUSTED details may carry google.rpc.RetryInfo {retryDelay: "37s"}."""
    for detail in status.details:
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return str(max(1, round(float(delay[:-1]))))
            except ValueError:
                return None
    return None


def parse_count_tokens(response: UpstreamResponse) -> int:
    try:
        return upstream_json.decode(response.body, CountTokensResponse).total_tokens
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise UpstreamError(
            f"gemini sent an unreadable countTokens reply: {exc}", status=502
        ) from exc
