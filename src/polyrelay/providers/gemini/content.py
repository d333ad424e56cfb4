"""IR messages → Gemini `contents`: roles, merged turns, parts, tool calls and results.

Rules (translation.md §1, §2, §5, §6):
- roles are `user` / `model`; TOOL messages become `user` Contents of functionResponses;
  consecutive Contents with the same role are merged (strict alternation is safest);
- a mid-conversation SYSTEM message becomes user text wrapped in <system-reminder> (lossy);
- a functionResponse needs the function's `name`: taken from the result, else from the
  call with that id earlier in the history (unknown id → InvalidRequestError);
- reasoning is replayed only when Gemini issued it; a signature-only ReasoningPart (how
  response.py keeps a signature that sat on a text part) goes back onto the part before it,
  else onto the next part without one;
- no empty text part is sent: Gemini refuses one (its `data` is unset).
"""

from __future__ import annotations

from typing import assert_never

import msgspec

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError, UnsupportedError
from polyrelay.ir import (
    DocumentPart,
    ImagePart,
    MediaPart,
    Message,
    Part,
    ReasoningPart,
    Role,
    ServerToolCallPart,
    ServerToolResultPart,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from polyrelay.providers.empty_messages import leave_out_empty
from polyrelay.providers.message_names import warn_names_left_out
from polyrelay.schemas.gemini import (
    Blob,
    Content,
    FunctionCall,
    FunctionResponse,
    Part as GeminiPart,
)

__all__ = [
    "PROVIDER_TYPE",
    "SIGNATURE_KEY",
    "SKIP_SIGNATURE_CHECK",
    "contents_from_ir",
    "media_from_url",
    "sign_unsigned_calls",
    "system_from_ir",
]

PROVIDER_TYPE = "gemini"
SIGNATURE_KEY = "gemini.thought_signature"
"""ToolCallPart.extensions key holding the functionCall part's thoughtSignature."""

SKIP_SIGNATURE_CHECK = "skip_thought_signature_validator"
"""The thoughtSignature Gemini documents for a call it did not issue (ai.google.dev/gemini-
api/docs/thought-signatures): a call another model made, or one whose id came back
without the signature (a legacy `function_call` has no id to carry it)."""

_EMPTY_ARGS = msgspec.Raw(b"{}")


def system_from_ir(system: tuple[TextPart, ...]) -> Content | None:
    parts = [GeminiPart(text=p.text) for p in system if p.text]
    return Content(parts=parts) if parts else None


def contents_from_ir(messages: tuple[Message, ...], ctx: RequestContext) -> list[Content]:
    warn_names_left_out(messages, PROVIDER_TYPE, ctx)
    builder = _ContentsBuilder(ctx)
    for i, message in enumerate(messages):
        if not builder.add(message) and message.role is Role.USER:
            leave_out_empty(messages, i, PROVIDER_TYPE, ctx)  # else raises
    return builder.contents


def sign_unsigned_calls(contents: list[Content], ctx: RequestContext) -> None:
    """Gemini 3 answers 400 ("Function call is missing a thought_signature") when the
    first functionCall of a model turn has no signature; such a call gets the stand-in."""
    signed = False
    for content in contents:
        if content.role != "model":
            continue
        first = next((p for p in content.parts if p.function_call is not None), None)
        if first is not None and first.thought_signature is None:
            first.thought_signature, signed = SKIP_SIGNATURE_CHECK, True
    if signed:
        ctx.warn("a tool call gemini did not sign was sent with its stand-in signature")


def media_from_url(url: str) -> GeminiPart:
    """Gemini does not fetch arbitrary URLs (only Files API URIs): pipeline/media.py fetches
    and inlines every URL before a request reaches this provider, so this is only a guard."""
    raise UnsupportedError(
        f"image URLs must be fetched by the gateway before they can go to gemini ({url[:80]})",
        param="messages",
    )


class _ContentsBuilder:
    __slots__ = ("call_names", "contents", "ctx")

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        self.contents: list[Content] = []
        self.call_names: dict[str, str] = {}

    def add(self, message: Message) -> bool:
        """Whether anything of `message` went: an empty turn is left out."""
        match message.role:
            case Role.SYSTEM:
                self.ctx.warn("a mid-conversation system message was sent to gemini as user text")
                text = f"<system-reminder>{message.text()}</system-reminder>"
                return self._append("user", [GeminiPart(text=text)])
            case Role.USER | Role.TOOL:
                return self._append("user", self._parts(message.parts))
            case Role.ASSISTANT:
                return self._append("model", self._parts(message.parts))
            case _:
                assert_never(message.role)

    def _append(self, role: str, parts: list[GeminiPart]) -> bool:
        if not parts:
            return False
        last = self.contents[-1] if self.contents else None
        if last is not None and last.role == role:
            last.parts.extend(parts)
        else:
            self.contents.append(Content(role=role, parts=parts))
        return True

    def _parts(self, parts: tuple[Part, ...]) -> list[GeminiPart]:
        out: list[GeminiPart] = []
        trailing: list[GeminiPart] = []
        homeless: str | None = None
        """A thought signature that found no part before it to ride on."""
        for part in parts:
            if isinstance(part, ReasoningPart):
                homeless = self._reasoning(part, out) or homeless
                continue
            converted = (
                self._function_response(part, trailing)
                if isinstance(part, ToolResultPart)
                else self._part(part)
            )
            if converted is None:
                continue
            if homeless is not None and converted.thought_signature is None:
                converted.thought_signature, homeless = homeless, None
            out.append(converted)
        if homeless is not None:
            self.ctx.warn("a gemini thought signature with no part to carry it was dropped")
        out.extend(trailing)
        return out

    def _part(self, part: Part) -> GeminiPart | None:
        match part:
            case TextPart() | ImagePart() | DocumentPart():
                if isinstance(part, TextPart) and part.refusal:
                    self.ctx.warn("an assistant refusal in the history was sent as plain text")
                if isinstance(part, ImagePart):
                    self._warn_detail(part)
                elif isinstance(part, DocumentPart):
                    self._warn_name(part)
                converted = media_part_from_ir(part)
                # Gemini refuses an empty text part: "required oneof field 'data' must
                # have one initialized field".
                return None if converted.text == "" else converted
            case ToolCallPart():
                self.call_names[part.id] = part.name
                return _function_call(part)
            case ServerToolCallPart() | ServerToolResultPart():
                self.ctx.warn("server tool activity in the history was not sent to gemini")
                return None
            case ToolResultPart() | ReasoningPart():
                raise AssertionError("handled by _parts")
            case _:
                assert_never(part)

    def _warn_name(self, part: DocumentPart) -> None:
        # Gemini's inline data and file data take no display name (the Developer API
        # refuses one), so the model never sees what the file was called.
        if part.title is not None or part.filename is not None:
            self.ctx.warn("a document's title or filename is not carried to gemini; ignored")

    def _warn_detail(self, part: ImagePart) -> None:
        # Gemini's media resolution is per request or (Gemini 3, v1alpha) per part, in
        # levels of its own: an image's OpenAI detail has no place to go.
        if part.detail not in (None, "auto"):
            self.ctx.warn(f"image detail {part.detail} is not supported by gemini; ignored")

    def _reasoning(self, part: ReasoningPart, out: list[GeminiPart]) -> str | None:
        """Appends a thought part; returns the signature of a signature-only part that the
        part before it cannot carry (there is none, or it has its own), for the next part:
        an empty text part to hold it is a 400."""
        if part.origin != PROVIDER_TYPE or part.redacted:
            self.ctx.warn("reasoning from another provider was dropped from the history")
            return None
        if part.text:
            out.append(GeminiPart(text=part.text, thought=True, thought_signature=part.signature))
            return None
        if out and out[-1].thought_signature is None:
            out[-1].thought_signature = part.signature
            return None
        return part.signature

    def _function_response(self, part: ToolResultPart, trailing: list[GeminiPart]) -> GeminiPart:
        name = part.name or self.call_names.get(part.tool_call_id)
        if name is None:
            raise InvalidRequestError(
                f"tool result {part.tool_call_id!r} does not answer any tool call in the history",
                param="messages",
            )
        text = part.text()
        response = {"error": text} if part.is_error else {"output": text}
        media = [p for p in part.content if not isinstance(p, TextPart)]
        if media:
            self.ctx.warn("images in tool results were sent to gemini as parts after the results")
            for image in media:
                if isinstance(image, ImagePart):
                    self._warn_detail(image)
            trailing.extend(media_part_from_ir(p) for p in media)
        fr = FunctionResponse(id=part.tool_call_id, name=name, response=response)
        return GeminiPart(function_response=fr)


def media_part_from_ir(part: MediaPart) -> GeminiPart:
    match part:
        case TextPart():
            return GeminiPart(text=part.text)
        case ImagePart():
            if part.data is not None:
                return _inline(part.media_type or "image/png", part.data)
            return media_from_url(part.url or "")
        case DocumentPart():
            if part.text is not None:
                return GeminiPart(text=part.text)
            if part.data is not None:
                return _inline(part.media_type or "application/pdf", part.data)
            return media_from_url(part.url or "")
        case _:
            assert_never(part)


def _inline(media_type: str, data: str) -> GeminiPart:
    return GeminiPart(inline_data=Blob(mime_type=media_type, data=data))


def _function_call(part: ToolCallPart) -> GeminiPart:
    call = FunctionCall(id=part.id, name=part.name, args=_args_from_ir(part))
    return GeminiPart(function_call=call, thought_signature=part.extensions.get(SIGNATURE_KEY))


def _args_from_ir(part: ToolCallPart) -> msgspec.Raw:
    """Validate and compact the raw arguments in C, without building Python objects."""
    if not part.arguments.strip():
        return _EMPTY_ARGS
    try:
        compact = codec.compact(part.arguments.encode())
    except msgspec.DecodeError:
        compact = b""
    if not compact.startswith(b"{"):
        raise InvalidRequestError(
            f"arguments of tool call {part.id!r} are not a JSON object", param="messages"
        )
    return msgspec.Raw(compact)
