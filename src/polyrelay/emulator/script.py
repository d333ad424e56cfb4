"""The protocol-neutral core: from a conversation to a deterministic plan of the answer.

Each protocol module reads its request body into a `Conversation`; `make_plan` decides the
reply (echo, tool calls, thinking, errors, pacing) from it; the protocol module then writes
the `Plan` in its own wire format.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import re
from dataclasses import dataclass, field

from polyrelay.codec import DecodeError, JSONObject, decode, encode_str
from polyrelay.emulator.prompt_cache import NO_CACHE, CachedPrompt, CacheUsage
from polyrelay.emulator.structured import json_reply, schema_instance
from polyrelay.emulator.wire import collapse, new_id

__all__ = [
    "Conversation",
    "EmulatedError",
    "Finish",
    "Plan",
    "RequestError",
    "ToolCall",
    "ToolChoice",
    "ToolResult",
    "make_plan",
    "read_limit",
    "read_stop_sequences",
    "signature_hex",
    "word_chunks",
]

# Replies are built in memory: a million words is about 7 MB.
_MAX_WORDS = 1_000_000
_WORD_CHUNK = re.compile(r"\s*\S+")
_DIRECTIVE = re.compile(
    r"\[\[\s*(?:tool\s+(?P<tool>[^\s\[\]{}]+)\s*(?P<args>\{.*?\}|[^\]\s][^\]]*)?"
    r"|(?P<kind>error|delay|cut|think|words|pace|search|pause|refuse)\b\s*(?P<arg>.*?))\s*\]\]",
    re.DOTALL,
)
_THEN = re.compile(r"\[\[\s*then\s*\]\]")


class RequestError(Exception):
    """A request the emulator rejects: answered with `status` in the protocol's error format."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        """OpenAI's error `code` (`invalid_value`), where it gives one for the refusal."""


@dataclass(slots=True)
class ToolResult:
    name: str
    content: str


@dataclass(slots=True, frozen=True)
class ToolChoice:
    """A request's tool choice in neutral terms: `auto` (the script decides), `none` (no
    call, even where the script asks for one) or `required` (a call of one of `names`;
    of any declared tool when `names` is empty)."""

    mode: str = "auto"
    names: tuple[str, ...] = ()


@dataclass(slots=True)
class Conversation:
    """What a request says, independent of its protocol."""

    user_text: str = ""
    tool_results: list[ToolResult] = field(default_factory=list)
    tool_names: set[str] = field(default_factory=set)
    tool_schemas: dict[str, JSONObject] = field(default_factory=dict)
    """Each callable tool's parameters schema, in declaration order."""
    tool_choice: ToolChoice = field(default_factory=ToolChoice)
    input_tokens: int = 0
    max_tokens: int | None = None
    stop_sequences: list[str] = field(default_factory=list)
    search_tool: str | None = None
    """The name of the request's server-side web search tool (Anthropic only), if any."""
    search_max_uses: int | None = None
    continues: bool = False
    """The request ends with the assistant's own turn: a paused turn sent back to go on."""
    output_schema: JSONObject | None = None
    """The JSON schema the reply must follow (`{}`: any JSON object); None for text."""
    thinks: bool = True
    """Whether `[[think TEXT]]` shows: Claude thinks only when the request turns thinking
    on; the other protocols' reasoning models always reason."""
    cached_prompt: CachedPrompt | None = None
    """The prompt as the provider's cache sees it; None when it cannot be cached."""


class Finish(enum.Enum):
    END = "end"
    LENGTH = "length"
    STOP_SEQUENCE = "stop_sequence"
    TOOL_USE = "tool_use"


@dataclass(slots=True)
class ToolCall:
    name: str
    arguments: JSONObject
    arguments_json: str
    # Shared by the protocol-specific ids (call_<token>, toolu_<token>, fc_<token>).
    token: str


@dataclass(slots=True)
class EmulatedError:
    status: int
    once_key: str | None


@dataclass(slots=True)
class Plan:
    text: str
    chunks: list[str]
    thinking: str
    thinking_chunks: list[str]
    tool_calls: list[ToolCall]
    finish: Finish
    stop_sequence: str | None
    input_tokens: int
    output_tokens: int
    delay_seconds: float = 0.0
    cut_after: int | None = None
    pace: float | None = None
    error: EmulatedError | None = None
    searches: list[str] = field(default_factory=list)
    """`[[search QUERY]]` queries, run by the provider's own server tool."""
    search_max_uses: int | None = None
    paused: bool = False
    """`[[pause]]`: the turn stops after its searches (Anthropic's `pause_turn`)."""
    refused: bool = False
    """`[[refuse]]`: the text is a refusal (OpenAI's `refusal`, where the protocol has one)."""
    cache: CacheUsage = NO_CACHE
    """The prompt-cache reads and writes (the app fills it in once the answer is sure)."""

    @property
    def reasoning_tokens(self) -> int:
        return len(self.thinking_chunks)


@dataclass(slots=True)
class _Directives:
    text: str = ""
    tools: list[tuple[str, str | None]] = field(default_factory=list)
    error: str | None = None
    error_directive: str = ""
    delay_ms: float = 0.0
    cut: int | None = None
    think: str = ""
    words: int | None = None
    pace: float | None = None
    searches: list[str] = field(default_factory=list)
    pause: bool = False
    refuse: bool = False


def word_chunks(text: str) -> list[str]:
    """`text` split into words each carrying the whitespace before it; they join back to `text`."""
    chunks: list[str] = _WORD_CHUNK.findall(text)
    consumed = sum(map(len, chunks))
    if consumed < len(text):
        if chunks:
            chunks[-1] += text[consumed:]
        else:
            chunks.append(text)
    return chunks


def signature_hex(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def make_plan(conversation: Conversation) -> Plan:
    if conversation.tool_results:
        directives = _next_phase(conversation)
        reply = "\n".join(
            f"Tool {result.name} returned: {result.content}".rstrip()
            for result in conversation.tool_results
        )
    else:
        directives = _parse_directives(_THEN.split(conversation.user_text)[0])
        reply = _reply_text(directives)
        if conversation.output_schema is not None and not directives.refuse:
            reply = json_reply(conversation.output_schema, reply)
    tool_calls = _chosen_calls(
        _tool_calls(directives, conversation.tool_names), conversation, directives.text
    )
    plan = _limited_plan(reply if not tool_calls else "", conversation)
    plan.tool_calls = tool_calls
    if tool_calls:
        plan.finish = Finish.TOOL_USE
    plan.thinking = directives.think if conversation.thinks else ""
    plan.thinking_chunks = word_chunks(plan.thinking)
    plan.output_tokens = (
        len(plan.chunks)
        + len(plan.thinking_chunks)
        + sum(len(call.name.split()) + len(call.arguments_json.split()) for call in tool_calls)
    )
    plan.delay_seconds = directives.delay_ms / 1000
    plan.cut_after = directives.cut
    plan.pace = directives.pace
    plan.error = _emulated_error(directives, reply)
    plan.searches = _searches(directives, conversation)
    plan.search_max_uses = conversation.search_max_uses
    if directives.pause and plan.searches:
        _pause(plan, conversation)
    plan.refused = directives.refuse and not tool_calls
    return plan


def _next_phase(conversation: Conversation) -> _Directives:
    """`[[then]]` splits the user's message into the turns of an agent loop: once the
    results of one phase's calls come back, the next phase plays (its calls, its thinking);
    without a next phase the model reports the results. A phase is found by the names of
    the results, so each phase should call a different set of tools."""
    phases = _THEN.split(conversation.user_text)
    answered = sorted(result.name for result in conversation.tool_results)
    for done, following in itertools.pairwise(phases):
        if sorted(name for name, _ in _parse_directives(done).tools) == answered:
            return _parse_directives(following)
    return _Directives()


def _pause(plan: Plan, conversation: Conversation) -> None:
    """The first call stops after its searches; the call that sends that turn back gets
    the rest of the answer (the searches are done)."""
    if conversation.continues:
        plan.searches = []
        return
    plan.paused = True
    plan.output_tokens -= len(plan.chunks)
    plan.text, plan.chunks = "", []


def _searches(directives: _Directives, conversation: Conversation) -> list[str]:
    if directives.searches and conversation.search_tool is None:
        raise RequestError(
            400,
            "[[search QUERY]] needs the web_search_20250305 server tool in the request",
            param="tools",
        )
    return directives.searches


def _reply_text(directives: _Directives) -> str:
    if directives.words is not None:
        return " ".join(f"w{n}" for n in range(1, directives.words + 1))
    return f"You said: {directives.text}".rstrip()


def _limited_plan(reply: str, conversation: Conversation) -> Plan:
    text, finish, matched = reply, Finish.END, None
    stop = _first_stop(reply, conversation.stop_sequences)
    if stop is not None:
        text, finish, matched = reply[: stop[0]], Finish.STOP_SEQUENCE, stop[1]
    chunks = word_chunks(text)
    limit = conversation.max_tokens
    if limit is not None and len(chunks) > limit:
        chunks = chunks[: max(limit, 0)]
        text, finish, matched = "".join(chunks), Finish.LENGTH, None
    return Plan(
        text=text,
        chunks=chunks,
        thinking="",
        thinking_chunks=[],
        tool_calls=[],
        finish=finish,
        stop_sequence=matched,
        input_tokens=conversation.input_tokens,
        output_tokens=0,
    )


def _first_stop(reply: str, stop_sequences: list[str]) -> tuple[int, str] | None:
    found: tuple[int, str] | None = None
    for sequence in stop_sequences:
        position = reply.find(sequence) if sequence else -1
        if position >= 0 and (found is None or position < found[0]):
            found = (position, sequence)
    return found


def _parse_directives(raw: str) -> _Directives:
    directives = _Directives()
    for match in _DIRECTIVE.finditer(raw):
        if match["tool"] is not None:
            directives.tools.append((match["tool"], match["args"]))
        else:
            _apply_directive(directives, match["kind"], match["arg"].strip(), match[0])
    directives.text = collapse(_DIRECTIVE.sub(" ", raw))
    return directives


def _apply_directive(directives: _Directives, kind: str, argument: str, raw: str) -> None:
    if kind == "think":
        directives.think = collapse(argument)
    elif kind == "error":
        directives.error, directives.error_directive = argument, raw
    elif kind == "delay":
        directives.delay_ms = _number(kind, argument)
    elif kind == "cut":
        directives.cut = int(_number(kind, argument))
    elif kind == "search":
        directives.searches.append(collapse(argument))
    elif kind == "words":
        directives.words = int(_number(kind, argument, maximum=_MAX_WORDS))
    elif kind == "pause":
        directives.pause = True
    elif kind == "refuse":
        directives.refuse = True
    else:
        directives.pace = _number(kind, argument) or None


def _number(kind: str, argument: str, maximum: float = 10_000_000) -> float:
    try:
        value = float(argument)
    except ValueError:
        raise RequestError(400, f"[[{kind} N]] needs a number, got {argument!r}") from None
    if not 0 <= value <= maximum:
        raise RequestError(400, f"[[{kind} N]] is out of range: {argument}")
    return value


def _tool_calls(directives: _Directives, tool_names: set[str]) -> list[ToolCall]:
    calls = []
    for name, raw_arguments in directives.tools:
        if name not in tool_names:
            offered = ", ".join(sorted(tool_names)) or "none"
            raise RequestError(
                400,
                f"[[tool {name}]]: no tool named {name!r} in the request (tools: {offered})",
                param="tools",
            )
        arguments = _tool_arguments(name, raw_arguments)
        calls.append(ToolCall(name, arguments, encode_str(arguments), new_id("")))
    return calls


def _chosen_calls(calls: list[ToolCall], conversation: Conversation, text: str) -> list[ToolCall]:
    """The calls the request's tool choice allows: the script's own where they fit, else
    (a forced choice) one call of the first tool it allows, its arguments the smallest
    instance of the tool's schema, its strings `text`. A forced choice applies after tool
    results too, as with a real model: clients switch it off to end the loop."""
    choice = conversation.tool_choice
    if choice.mode == "none":
        return []
    allowed = choice.names or tuple(conversation.tool_schemas)
    if choice.mode != "required" or not allowed:
        return calls
    kept = [call for call in calls if call.name in allowed]
    if kept:
        return kept
    value = schema_instance(conversation.tool_schemas.get(allowed[0], {}), text)
    arguments = value if isinstance(value, dict) else {}
    return [ToolCall(allowed[0], arguments, encode_str(arguments), new_id(""))]


def _tool_arguments(name: str, raw_arguments: str | None) -> JSONObject:
    if raw_arguments is None:
        return {}
    try:
        arguments = decode(raw_arguments)
    except DecodeError as exc:
        raise RequestError(400, f"[[tool {name} ...]]: arguments are not JSON: {exc}") from None
    if not isinstance(arguments, dict):
        raise RequestError(400, f"[[tool {name} ...]]: arguments must be a JSON object")
    return arguments


def _emulated_error(directives: _Directives, reply: str) -> EmulatedError | None:
    if directives.error is None:
        return None
    status_text, _, rest = directives.error.partition(" ")
    if not status_text.isdigit() or not 400 <= int(status_text) <= 599:
        raise RequestError(400, f"[[error STATUS]] needs a status 400-599, got {status_text!r}")
    once = rest.strip() == "once"
    return EmulatedError(int(status_text), directives.error_directive + reply if once else None)


def read_limit(value: object, name: str) -> int | None:
    """An optional non-negative integer field such as max_tokens."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise RequestError(400, f"{name}: expected a non-negative integer, got {value!r}", name)
    return value


def read_stop_sequences(value: object, name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise RequestError(400, f"{name}: expected a string or an array of strings", name)
