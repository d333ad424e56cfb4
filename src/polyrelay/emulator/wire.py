"""Small helpers for reading loosely-typed JSON request bodies and writing ids."""

from __future__ import annotations

import os
from typing import Any

from polyrelay.codec import JSONObject, encode_str

__all__ = [
    "as_list",
    "as_object",
    "as_str",
    "collapse",
    "count_words",
    "first_of",
    "json_text",
    "new_id",
    "parts_text",
]


def as_object(value: object) -> JSONObject:
    """`value` when it is a JSON object, else an empty one: the emulator is lenient on shape."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: object, default: str = "") -> str:
    return value if isinstance(value, str) else default


def first_of(obj: JSONObject, *keys: str) -> Any:
    """The first present key: Gemini accepts both camelCase and snake_case field names."""
    for key in keys:
        value = obj.get(key)
        if value is not None:
            return value
    return None


def count_words(text: str) -> int:
    return len(text.split())


def collapse(text: str) -> str:
    return " ".join(text.split())


def parts_text(content: object) -> str:
    """Text of a content field that is a string or a list of parts carrying `text`."""
    if isinstance(content, str):
        return content
    texts = [
        part["text"]
        for part in as_list(content)
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]
    return " ".join(texts)


def json_text(value: object) -> str:
    """A value as text: strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else encode_str(value)


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()
