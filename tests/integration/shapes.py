"""The shape of an answer, with its values normalised away, for comparing a translated answer
with the native one: the same keys at every level with the same types, the same event
types in the same order, ids of the same format, the headers a client reads.

Values are replaced by their kind (`str`, `int`, ...), except where the value *is* the
shape: discriminators (`type`, `object`, `finish_reason`...) keep their value, and ids
keep their prefix and the class of their length."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

# Keys whose string values say what a thing is, not what it says: compared as they are.
DISCRIMINATORS = frozenset(
    {
        "type",
        "object",
        "role",
        "finish_reason",
        "stop_reason",
        "status",
        "event",
        "code",
        "service_tier",
        "reason",
    }
)
ID_PREFIXES = ("chatcmpl-", "msg_", "resp_", "call_", "toolu_", "fc_", "rs_", "req_", "sig")
_ID = re.compile(r"^(chatcmpl-|msg_|resp_|call_|toolu_|fc_|rs_|req_)([A-Za-z0-9_-]+)$")
# Headers a client or SDK reads, by name or by prefix; their values are not compared.
READ_HEADERS = ("request-id", "x-request-id", "retry-after", "retry-after-ms")
READ_HEADER_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-")


def id_class(value: str) -> str | None:
    """`id:PREFIX<short|long>` for an id in one of the providers' formats, else None."""
    match = _ID.match(value)
    if match is None:
        return None
    size = "short" if len(match.group(2)) < 16 else "long"
    return f"id:{match.group(1)}{size}"


def shape(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(item, key) for item in value]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if value is None:
        return "null"
    if key in DISCRIMINATORS:
        return f"={value}"
    return id_class(value) or "str"


def header_shape(headers: httpx.Headers) -> dict[str, str]:
    """The headers a client reads: content-type's media type, the others' presence."""
    found = {"content-type": headers.get("content-type", "").split(";")[0].strip()}
    for name in headers:
        lower = name.lower()
        if lower in READ_HEADERS or lower.startswith(READ_HEADER_PREFIXES):
            found[lower] = "present"
    return found


def sse_events(text: str) -> list[tuple[str, Any]]:
    """A stream's events as (event name, parsed data); `[DONE]` as its own event."""
    events: list[tuple[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "", []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
        if not data:
            continue
        joined = "\n".join(data)
        events.append((name, joined if joined == "[DONE]" else json.loads(joined)))
    return events


def event_shapes(events: list[tuple[str, Any]]) -> list[str]:
    """Each event's shape as one canonical line, runs of the same shape collapsed to one
    (a text arrives in however many deltas the upstream cut it into)."""
    lines: list[str] = []
    for name, data in events:
        line = f"{name} {json.dumps(shape(data), sort_keys=True)}"
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines


def differences(native: Any, translated: Any, path: str = "$") -> list[str]:
    """Where `translated`'s shape departs from `native`'s, one line per departure."""
    if isinstance(native, dict) and isinstance(translated, dict):
        found: list[str] = []
        for key in native.keys() - translated.keys():
            found.append(f"{path}.{key}: missing (native {_brief(native[key])})")
        for key in translated.keys() - native.keys():
            found.append(f"{path}.{key}: extra ({_brief(translated[key])})")
        for key in native.keys() & translated.keys():
            found += differences(native[key], translated[key], f"{path}.{key}")
        return sorted(found)
    if isinstance(native, list) and isinstance(translated, list):
        if len(native) != len(translated):
            return [f"{path}: {len(translated)} items, native {len(native)}"]
        return [
            d
            for i, pair in enumerate(zip(native, translated, strict=True))
            for d in differences(*pair, f"{path}[{i}]")
        ]
    if native != translated:
        return [f"{path}: {_brief(translated)}, native {_brief(native)}"]
    return []


def _brief(value: Any) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def event_key(name: str, data: Any) -> str:
    """What an event is, for aligning two streams: its SSE name and type, or for a Chat
    chunk the delta fields it carries, whether it finishes and whether it has usage."""
    if not isinstance(data, dict):
        return f"{name} {data}"
    if "type" in data or name:
        return f"{name} {data.get('type', '')}".strip()
    if "error" in data:
        return "error"
    choices = data.get("choices") or []
    parts = ["chunk"]
    for choice in choices:
        parts += sorted((choice.get("delta") or {}).keys())
        if choice.get("finish_reason"):
            parts.append("finish")
    if data.get("usage"):
        parts.append("usage")
    return " ".join(parts)


def stream_differences(
    native: list[tuple[str, Any]], translated: list[tuple[str, Any]]
) -> list[str]:
    """Event types out of order, missing or extra, and the shape differences of the events
    that line up."""
    import difflib

    left, right = _collapsed(native), _collapsed(translated)
    matcher = difflib.SequenceMatcher(
        a=[k for k, _ in left], b=[k for k, _ in right], autojunk=False
    )
    found: list[str] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            for (key, a), (_, b) in zip(left[i1:i2], right[j1:j2], strict=True):
                found += [f"[{key}] {d}" for d in differences(a, b)]
        else:
            native_keys, translated_keys = [k for k, _ in left[i1:i2]], [k for k, _ in right[j1:j2]]
            found.append(f"events {op}: native {native_keys} translated {translated_keys}")
    return found


def _collapsed(events: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name, data in events:
        key = event_key(name, data)
        if not out or out[-1][0] != key:
            out.append((key, shape(data)))
    return out
