"""IR messages and parts → Anthropic `messages` (request side).

Rules (translation.md §1, §5): TOOL messages become `tool_result` blocks in a user turn;
consecutive same-role turns are merged, and inside a merged user turn the tool results
go first (the API demands it). A mid-conversation SYSTEM message becomes a
`<system-reminder>` user text block in its position (lossy). Reasoning is replayed only
when Anthropic issued it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from typing import Literal, assert_never

import msgspec

from polyrelay.codec import DecodeError, decode
from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.ir import (
    Citation,
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
from polyrelay.providers.anthropic.cache_markers import cache_control_from_ir
from polyrelay.providers.empty_messages import leave_out_empty
from polyrelay.providers.message_names import warn_names_left_out
from polyrelay.schemas.anthropic_messages import (
    Base64Source,
    ContentBlockParam,
    DocumentBlockParam,
    ImageBlockParam,
    MessageParam,
    PlainTextSource,
    RedactedThinkingBlock,
    ServerToolUseBlock,
    TextBlock,
    TextCitation,
    ThinkingBlock,
    ToolResultBlockParam,
    ToolResultContentParam,
    ToolUseBlock,
    URLSource,
    WebSearchResultBlock,
    WebSearchToolResultBlock,
    WebSearchToolResultError,
)
from polyrelay.tools.web_search import BLOB_PREFIX

__all__ = [
    "ORIGIN",
    "gateway_citation",
    "gateway_search",
    "messages_from_ir",
    "text_block_from_ir",
    "web_search_result_from_ir",
]

ORIGIN = "anthropic"
_Role = Literal["user", "assistant"]
_WireRole = Literal["user", "assistant", "system"]
_EMPTY_INPUT = msgspec.Raw(b"{}")
_TOOL_USE_ID = re.compile(r"[a-zA-Z0-9_-]+")
_NOT_IN_TOOL_USE_ID = re.compile(r"[^a-zA-Z0-9_-]")


def messages_from_ir(messages: tuple[Message, ...], ctx: RequestContext) -> list[MessageParam]:
    warn_names_left_out(messages, ORIGIN, ctx)
    turns: list[tuple[_WireRole, list[ContentBlockParam]]] = []
    for i, message in enumerate(messages):
        role, blocks = _turn_from_ir(message, ctx)
        if not blocks and message.role is Role.USER:
            leave_out_empty(messages, i, ORIGIN, ctx)  # else raises; `_merged` leaves it out
        turns.append((role, blocks))
    out = _without_trailing_thinking(_merged(turns), ctx)
    for turn in out:
        if turn.role == "user" and isinstance(turn.content, list):
            # Stable partition: tool_result blocks first (anthropic-messages.md §3 rule 2).
            turn.content.sort(key=lambda b: not isinstance(b, ToolResultBlockParam))
    _trim_prefill(out, ctx)
    return out


def _merged(turns: list[tuple[_WireRole, list[ContentBlockParam]]]) -> list[MessageParam]:
    """Consecutive turns of a role as one message, empty ones left out (an assistant turn
    of only what Anthropic cannot take, a user turn beside another: leave_out_empty)."""
    out: list[MessageParam] = []
    for role, blocks in turns:
        if not blocks:
            continue
        if out and out[-1].role == role and isinstance(out[-1].content, list):
            out[-1].content.extend(blocks)
        else:
            out.append(MessageParam(role=role, content=blocks))
    return out


def _without_trailing_thinking(
    turns: list[MessageParam], ctx: RequestContext
) -> list[MessageParam]:
    """Anthropic refuses an assistant message that ends with its thinking ("The final
    block in an assistant message cannot be `thinking`"), which a Responses client sends
    back of a turn cut short while thinking: that thinking goes (warned), and a turn left
    empty with it, its neighbours then one message."""
    if not any(_ends_thinking(turn) for turn in turns):  # nearly always: nothing copied
        return turns
    cut: list[tuple[_WireRole, list[ContentBlockParam]]] = []
    for turn in turns:
        blocks = turn.content if isinstance(turn.content, list) else []
        end = len(blocks)
        while turn.role == "assistant" and end and _is_thinking(blocks[end - 1]):
            end -= 1
        cut.append((turn.role, blocks[:end]))
    if all(len(blocks) == len(turn.content) for (_, blocks), turn in zip(cut, turns, strict=True)):
        return turns
    ctx.warn("thinking that ended an assistant turn was dropped (Anthropic refuses it)")
    return _merged(cut)


def _ends_thinking(turn: MessageParam) -> bool:
    blocks = turn.content if turn.role == "assistant" else None
    return isinstance(blocks, list) and bool(blocks) and _is_thinking(blocks[-1])


def _is_thinking(block: ContentBlockParam) -> bool:
    return isinstance(block, ThinkingBlock | RedactedThinkingBlock)


def _trim_prefill(turns: list[MessageParam], ctx: RequestContext) -> None:
    """Anthropic refuses a final assistant message (a prefill the answer continues) whose
    text ends in whitespace ("final assistant content cannot end with trailing
    whitespace"); OpenAI takes it, so the trailing whitespace goes (a block left empty
    with it, and a turn left empty)."""
    if not turns or turns[-1].role != "assistant" or not isinstance(turns[-1].content, list):
        return
    blocks = turns[-1].content
    last = blocks[-1] if blocks else None
    if not isinstance(last, TextBlock) or last.text == last.text.rstrip():
        return
    ctx.warn("trailing whitespace of the final assistant message was removed (refused)")
    last.text = last.text.rstrip()
    if not last.text:
        blocks.pop()
        if not blocks:
            turns.pop()


def _turn_from_ir(message: Message, ctx: RequestContext) -> tuple[_Role, list[ContentBlockParam]]:
    match message.role:
        case Role.SYSTEM:
            ctx.warn("a mid-conversation system message was sent as a <system-reminder> user block")
            text = f"<system-reminder>\n{message.text()}\n</system-reminder>"
            return "user", [TextBlock(text=text)]
        case Role.USER | Role.TOOL:
            return "user", _blocks_from_ir(message.parts, ctx)
        case Role.ASSISTANT:
            return "assistant", _blocks_from_ir(message.parts, ctx)
        case _:
            assert_never(message.role)


def _blocks_from_ir(parts: tuple[Part, ...], ctx: RequestContext) -> list[ContentBlockParam]:
    blank = _only_blank_text(parts)
    blocks: list[ContentBlockParam] = []
    for part in parts:
        if _is_empty_text_part(part) or (blank and isinstance(part, TextPart)):
            continue
        block = _block_from_ir(part, parts, ctx)
        if block is not None:
            blocks.append(block)
    return blocks


def _block_from_ir(
    part: Part, parts: tuple[Part, ...], ctx: RequestContext
) -> ContentBlockParam | None:
    # The common parts by exact type first: a `match` of classes costs more than they do.
    if type(part) is TextPart:
        return text_block_from_ir(part, ctx)
    if type(part) is ToolCallPart:
        return ToolUseBlock(id=_tool_use_id(part.id), name=part.name, input=_tool_input(part))
    if type(part) is ToolResultPart:
        return _tool_result_from_ir(part, ctx)
    match part:
        case TextPart() | ImagePart() | DocumentPart():
            return _media_from_ir(part, ctx)
        case ToolCallPart():
            return ToolUseBlock(id=_tool_use_id(part.id), name=part.name, input=_tool_input(part))
        case ToolResultPart():
            return _tool_result_from_ir(part, ctx)
        case ReasoningPart():
            return _reasoning_from_ir(part, ctx)
        case ServerToolCallPart():
            return None if _ran_here(part, parts, ctx) else _server_call_from_ir(part, ctx)
        case ServerToolResultPart():
            return None if _ran_here(part, parts, ctx) else _server_result_from_ir(part, ctx)
        case _:
            assert_never(part)


def _media_from_ir(part: MediaPart, ctx: RequestContext) -> ToolResultContentParam:
    match part:
        case TextPart():
            return text_block_from_ir(part, ctx)
        case ImagePart():
            if part.detail not in (None, "auto"):  # Anthropic sizes images itself
                ctx.warn(f"image detail {part.detail} is not supported by Anthropic; ignored")
            if part.url is not None:
                return ImageBlockParam(source=URLSource(url=part.url))
            source = Base64Source(media_type=part.media_type or "image/png", data=part.data or "")
            return ImageBlockParam(source=source)
        case DocumentPart():
            return _document_from_ir(part)
        case _:
            assert_never(part)


def text_block_from_ir(part: TextPart, ctx: RequestContext) -> TextBlock:
    if part.refusal:
        ctx.warn("an assistant refusal in the history was sent as plain text")
    cache = cache_control_from_ir(part.cache_control)
    citations = None
    if part.citations:
        if all(c.encrypted_index and not gateway_citation(c) for c in part.citations):
            citations = [_citation_from_ir(c) for c in part.citations]
        else:
            ctx.warn("citations without an Anthropic encrypted_index were dropped from history")
    return TextBlock(text=part.text, citations=citations, cache_control=cache)


def gateway_search(result: ServerToolResultPart) -> bool:
    """Whether the gateway ran this search (its results carry the gateway's tokens)."""
    return any(r.encrypted_content.startswith(BLOB_PREFIX) for r in result.results)


def gateway_citation(citation: Citation) -> bool:
    return (citation.encrypted_index or "").startswith(BLOB_PREFIX)


def _ran_here(
    part: ServerToolCallPart | ServerToolResultPart, parts: tuple[Part, ...], ctx: RequestContext
) -> bool:
    """Whether `part` belongs to a search the gateway ran (the call's result says so): its
    results are the gateway's tokens, which Anthropic cannot read (translation.md §10:
    encrypted_content is stripped when history goes to another provider)."""
    if isinstance(part, ServerToolResultPart):
        ran = gateway_search(part)
    else:
        ran = any(
            isinstance(p, ServerToolResultPart) and p.tool_call_id == part.id and gateway_search(p)
            for p in parts
        )
    if ran:
        ctx.warn("web search results from the gateway's own search were dropped from history")
    return ran


def _citation_from_ir(citation: Citation) -> TextCitation:
    return TextCitation(
        type="web_search_result_location",
        url=citation.url,
        title=citation.title,
        cited_text=citation.cited_text,
        encrypted_index=citation.encrypted_index,
    )


def _document_from_ir(part: DocumentPart) -> DocumentBlockParam:
    title = part.title or part.filename  # a Responses or Chat client names its file
    if part.url is not None:
        return DocumentBlockParam(source=URLSource(url=part.url), title=title)
    media_type = part.media_type or "text/plain"
    if part.text is not None:
        return DocumentBlockParam(source=PlainTextSource(data=part.text), title=title)
    data = part.data or ""
    if media_type == "application/pdf":
        source = Base64Source(media_type=media_type, data=data)
        return DocumentBlockParam(source=source, title=title)
    # Anthropic takes only PDFs as base64; other text documents go as a text source.
    try:
        text = base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"document ({media_type}) is not valid base64 text") from exc
    return DocumentBlockParam(source=PlainTextSource(data=text), title=title)


def _tool_input(part: ToolCallPart) -> msgspec.Raw:
    text = part.arguments.strip()
    if not text:
        return _EMPTY_INPUT
    try:
        value = decode(text)
    except DecodeError as exc:
        raise InvalidRequestError(
            f"tool call {part.id} ({part.name}): arguments are not valid JSON"
        ) from exc
    if not isinstance(value, dict):
        raise InvalidRequestError(f"tool call {part.id} ({part.name}): arguments must be an object")
    return msgspec.Raw(text.encode())


def _tool_result_from_ir(part: ToolResultPart, ctx: RequestContext) -> ToolResultBlockParam:
    content: str | list[ToolResultContentParam]
    if all(isinstance(p, TextPart) and not p.cache_control for p in part.content):
        content = part.text()  # a cache marker needs its block
    else:
        content = [_media_from_ir(p, ctx) for p in part.content if not _is_empty_text_part(p)]
    return ToolResultBlockParam(
        tool_use_id=_tool_use_id(part.tool_call_id), content=content, is_error=part.is_error or None
    )


def _tool_use_id(call_id: str) -> str:
    """`call_id` as Anthropic takes a tool_use id (`^[a-zA-Z0-9_-]+$`, else a 400 "String
    should match pattern"): another model's ids may hold `.`, `:` or `|`
    (`functions.get_weather:0`). Each other character becomes `_` and a digest of the whole
    id follows, so the call and its result still pair, on every turn, and two ids cannot
    meet."""
    if _TOOL_USE_ID.fullmatch(call_id):
        return call_id
    digest = hashlib.sha256(call_id.encode()).hexdigest()[:12]
    return f"{_NOT_IN_TOOL_USE_ID.sub('_', call_id)}_{digest}"


def _only_blank_text(parts: tuple[Part, ...]) -> bool:
    """Whether the message's text is whitespace only ("\n" after a tool call, " "): Anthropic
    refuses a message whose text blocks hold no other text ("text content blocks must
    contain non-whitespace text"), so they are left out; beside real text they may stay."""
    texts = [part.text for part in parts if isinstance(part, TextPart)]
    return bool(texts) and not any(text.strip() for text in texts)


def _is_empty_text_part(part: Part) -> bool:
    """Anthropic refuses an empty text block with a 400 ("text content blocks must be
    non-empty"); one carries nothing, so it is never sent (another protocol's history
    holds them: a Chat stream's assistant turn starts as `content: ""`)."""
    return isinstance(part, TextPart) and not part.text


def _reasoning_from_ir(
    part: ReasoningPart, ctx: RequestContext
) -> ThinkingBlock | RedactedThinkingBlock | None:
    if part.origin != ORIGIN or part.signature is None:
        # translation.md §6: foreign (or missing) signatures always fail validation.
        ctx.warn("reasoning from another provider was dropped from the history")
        return None
    if part.redacted:
        return RedactedThinkingBlock(data=part.signature)
    return ThinkingBlock(thinking=part.text, signature=part.signature)


def _is_anthropic_server_id(call_id: str) -> bool:
    return call_id.startswith("srvtoolu_")


def _server_call_from_ir(
    part: ServerToolCallPart, ctx: RequestContext
) -> ServerToolUseBlock | None:
    if not _is_anthropic_server_id(part.id):
        ctx.warn("server tool activity from another provider was dropped from the history")
        return None
    raw = msgspec.Raw(part.arguments.encode()) if part.arguments else _EMPTY_INPUT
    return ServerToolUseBlock(id=part.id, name=part.name, input=raw)


def _server_result_from_ir(
    part: ServerToolResultPart, ctx: RequestContext
) -> WebSearchToolResultBlock | None:
    if not _is_anthropic_server_id(part.tool_call_id):
        ctx.warn("server tool activity from another provider was dropped from the history")
        return None
    return web_search_result_from_ir(part)


def web_search_result_from_ir(part: ServerToolResultPart) -> WebSearchToolResultBlock:
    content: list[WebSearchResultBlock] | WebSearchToolResultError
    if part.error_code is not None:
        content = WebSearchToolResultError(error_code=part.error_code)
    else:
        content = [
            WebSearchResultBlock(
                url=r.url, title=r.title, encrypted_content=r.encrypted_content, page_age=r.page_age
            )
            for r in part.results
        ]
    return WebSearchToolResultBlock(tool_use_id=part.tool_call_id, content=content)
