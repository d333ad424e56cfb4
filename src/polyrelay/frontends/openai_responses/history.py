"""The conversation a Responses request stands for: stored history + this turn's input.

- `normalise_input` turns `input` (a string, or items, some "easy" messages without a
  `type`) into items of the stored form: a `type`, list content, an `id` and a `status`
  each (and `annotations` on assistant text), as `GET /v1/responses/{id}/input_items`
  returns them.
- `load_history` follows `previous_response_id` back through the key's stored responses and
  returns every earlier turn's input and output items, oldest first. Earlier
  `instructions` are not inherited (OpenAI's documented behaviour); only items are.
- `fit_context` applies `truncation` against the model's `context_window` minus the
  output budget. The estimate is deliberately simple and documented (docs/responses.md):
  tokens ≈ characters / 4, counting the text of every item (message text, tool call
  arguments and outputs, reasoning summaries), the instructions and the JSON of the tool
  declarations; images and files are not counted. `auto` drops the oldest *turns* (a
  turn starts at a user message and runs to the next one, so a function_call is never
  separated from its output); system/developer messages are kept. The last turn is never
  dropped: when it alone does not fit, both modes answer 400 `context_length_exceeded`.
"""

from __future__ import annotations

import msgspec

from polyrelay.context import RequestContext, new_id
from polyrelay.errors import InvalidRequestError, NotStoredYetError
from polyrelay.schemas.openai_responses import ContentPartParam, InputItemParam
from polyrelay.storage import ResponseStore

__all__ = [
    "CHARS_PER_TOKEN",
    "estimate_tokens",
    "fit_context",
    "load_history",
    "normalise_input",
    "previous_not_found",
]

CHARS_PER_TOKEN = 4
_MAX_CHAIN = 10_000
_CHAINABLE = frozenset({"completed", "incomplete"})
_ID_PREFIX = {
    "message": "msg_",
    "function_call": "fc_",
    "function_call_output": "fco_",
    "custom_tool_call": "ctc_",
    "custom_tool_call_output": "ctco_",
    "reasoning": "rs_",
    "web_search_call": "ws_",
}

_WITH_STATUS = frozenset(
    {
        "message",
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "web_search_call",
    }
)
"""Item types whose listed form has a `status` (required by the SDK for all but messages
from the user, which OpenAI lists with one all the same)."""


def normalise_input(value: str | list[InputItemParam] | None) -> list[InputItemParam]:
    """`input` as stored items; a fresh copy, the request's own structs are not touched."""
    if value is None:
        return []
    if isinstance(value, str):
        part = ContentPartParam(type="input_text", text=value)
        value = [InputItemParam(type="message", role="user", content=[part])]
    return [_normalise_item(item) for item in value]


def _normalise_item(item: InputItemParam) -> InputItemParam:
    kind = item.type or "message"
    out = msgspec.structs.replace(item, type=kind)
    if out.id is None:
        out.id = new_id(_ID_PREFIX.get(kind, "item_"))
    if out.status is None and kind in _WITH_STATUS:
        out.status = "completed"  # what the client sent is done; OpenAI lists it so
    if kind == "message" and isinstance(out.content, str):
        text_type = "output_text" if out.role == "assistant" else "input_text"
        out.content = [ContentPartParam(type=text_type, text=out.content)]
    if kind == "message" and out.role == "assistant" and isinstance(out.content, list):
        out.content = [_with_annotations(part) for part in out.content]
    return out


def _with_annotations(part: ContentPartParam) -> ContentPartParam:
    """An `output_text` part as the SDK reads it back (`annotations` is required)."""
    if part.type != "output_text" or part.annotations is not None:
        return part
    return msgspec.structs.replace(part, annotations=[])


def previous_not_found(response_id: str) -> NotStoredYetError:
    return NotStoredYetError(
        f"Previous response with id '{response_id}' not found.",
        param="previous_response_id",
        code="previous_response_not_found",
    )


def load_history(
    store: ResponseStore | None, response_id: str, key_id: str | None
) -> list[InputItemParam]:
    """Every item of the chain ending at `response_id`, oldest first. An unknown id,
    another key's id or a response that did not finish is a 400 naming the field."""
    if store is None or key_id is None:
        raise previous_not_found(response_id)
    turns: list[list[object]] = []
    seen: set[str] = set()
    current: str | None = response_id
    while current is not None and current not in seen and len(seen) < _MAX_CHAIN:
        seen.add(current)
        record = store.get(current, key_id)
        if record is None or record.status not in _CHAINABLE:
            if current == response_id:
                raise previous_not_found(response_id)
            # An earlier link was deleted: the conversation starts after it.
            break
        turns.append([*record.input_items, *record.output_items])
        current = record.previous_response_id
    items = [item for turn in reversed(turns) for item in turn]
    try:
        return msgspec.convert(items, list[InputItemParam])
    except msgspec.ValidationError as exc:
        raise InvalidRequestError(
            f"the stored conversation cannot be read: {exc}", param="previous_response_id"
        ) from exc


def _text_chars(content: str | list[ContentPartParam] | None) -> int:
    if isinstance(content, str):
        return len(content)
    return sum(len(p.text or p.refusal or "") for p in content or ())


def _item_chars(item: InputItemParam) -> int:
    chars = _text_chars(item.content) + _text_chars(item.output)
    chars += len(item.arguments or "") + len(item.input or "")
    return chars + sum(len(s.text) for s in item.summary or ())


def estimate_tokens(items: list[InputItemParam], fixed_chars: int) -> int:
    """The documented estimate: characters / 4, rounded up."""
    return _tokens(fixed_chars + sum(_item_chars(item) for item in items))


def _is_pinned(item: InputItemParam) -> bool:
    return (item.type or "message") == "message" and item.role in ("system", "developer")


def _turn_starts(items: list[InputItemParam]) -> list[int]:
    return [
        i
        for i, item in enumerate(items)
        if (item.type or "message") == "message" and item.role == "user"
    ]


def _tokens(chars: int) -> int:
    return -(-chars // CHARS_PER_TOKEN)


def fit_context(
    items: list[InputItemParam],
    *,
    fixed_chars: int,
    limit: int | None,
    truncation: str,
    ctx: RequestContext,
) -> list[int]:
    """The indexes of `items` to send (all of them when they fit within `limit` tokens)."""
    kept = list(range(len(items)))
    if limit is None:
        return kept
    chars = [_item_chars(item) for item in items]
    sent = fixed_chars + sum(chars)  # the characters of what would be sent
    if _tokens(sent) <= limit:
        return kept
    if truncation == "auto":
        # One pass, not an estimate per candidate turn (quadratic in the items): starting
        # at a later turn drops the unpinned items before it.
        at = 0
        for start in _turn_starts(items)[1:]:
            sent -= sum(chars[i] for i in range(at, start) if not _is_pinned(items[i]))
            at = start
            if _tokens(sent) <= limit:
                kept = [i for i in kept if i >= start or _is_pinned(items[i])]
                ctx.warn(f"truncation auto dropped {len(items) - len(kept)} of the oldest items")
                return kept
    estimate = _tokens(sent)
    raise InvalidRequestError(
        f"Your input exceeds the context window of this model (about {estimate} tokens by "
        f"the gateway's estimate, {limit} available). Please adjust your input and try "
        "again, or send truncation: auto to drop the oldest turns.",
        param="input",
        code="context_length_exceeded",
    )
