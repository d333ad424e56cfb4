"""An upstream's `content` as an array of parts, where OpenAI's is a str.

Mistral's reasoning models (magistral) answer and stream `[{"type": "thinking",
"thinking": [{"type": "text", "text": ...}]}, {"type": "text", "text": ...}]`: `text`
parts are the answer's text, a `thinking` part's nested text its reasoning (as another
server's `reasoning_content`), and any other part (Mistral's `reference` chunks, an
image) has no place in the answer: it is dropped, warned. A str content never comes here:
the common path reads it as it always did."""

from __future__ import annotations

from collections.abc import Callable

from polyrelay.schemas.openai_chat import UpstreamContentPart

Warn = Callable[[str], None]


def dropped_part(kind: str) -> str:
    return f"the upstream's content part of type {kind!r} was dropped: it has no text"


def split_content(parts: list[UpstreamContentPart], warn: Warn) -> tuple[str, str]:
    """The reasoning and the text of an array content."""
    reasoning: list[str] = []
    text: list[str] = []
    for part in parts:
        if part.type == "text":
            text.append(part.text or "")
        elif part.type == "thinking":
            reasoning.append(_thinking_text(part.thinking, warn))
        else:
            warn(dropped_part(part.type))
    return "".join(reasoning), "".join(text)


def _thinking_text(thinking: str | list[UpstreamContentPart] | None, warn: Warn) -> str:
    """A thinking part's text: Mistral nests text parts in it; a str is taken too."""
    if thinking is None or isinstance(thinking, str):
        return thinking or ""
    nested_reasoning, nested_text = split_content(thinking, warn)
    return nested_reasoning + nested_text


def read_array(
    reasoning: str | None, parts: list[UpstreamContentPart], warn: Warn
) -> tuple[str, str]:
    """The reasoning (after a `reasoning` field's, if any) and text of an array content."""
    thinking, text = split_content(parts, warn)
    return (reasoning or "") + thinking, text
