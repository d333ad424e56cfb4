"""Mutations of valid JSON documents for the fuzz tests (hypothesis strategies), and the
checks every answer of the gateway must pass, whatever it was sent."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, settings, strategies as st

__all__ = ["FUZZ", "UNHANDLED", "LogReader", "assert_protocol_answer", "mutated", "walk"]

JsonPath = tuple[str | int, ...]

FUZZ = settings(
    max_examples=int(os.environ.get("POLYRELAY_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples on every run: CI stays reproducible
    database=None,
)
"""The fuzz tests' settings: POLYRELAY_FUZZ_EXAMPLES examples a test (60 by default)."""

UNHANDLED = ("unhandled error", "the stream failed", "Traceback")
"""What the gateway logs only for a fault of its own."""

# Words the decoders dispatch on: a mutation that lands on one reaches deeper code than a
# random string would.
_TYPE_WORDS = [
    "text", "image", "document", "file", "file_data", "tool_use", "tool_result", "thinking",
    "redacted_thinking", "server_tool_use", "web_search_tool_result", "base64", "url",
    "message", "function_call", "function_call_output", "custom_tool_call", "reasoning",
    "input_text", "input_image", "input_file", "output_text", "refusal", "function",
    "custom", "web_search", "web_search_preview", "web_search_20250305", "json_schema",
    "json_object", "user", "assistant", "system", "developer", "tool", "auto", "none",
    "required", "any", "enabled", "disabled", "ephemeral", "image_url", "data:,",
    "data:image/png;base64,iVBORw0KGgo=", "application/pdf", "image/png", "text/plain",
]  # fmt: skip

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(_TYPE_WORDS)
)
JSON_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


def walk(document: Any, path: JsonPath = ()) -> Iterator[JsonPath]:
    """Every path into `document` (the root is `()`)."""
    yield path
    if isinstance(document, dict):
        for key, value in document.items():
            yield from walk(value, (*path, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield from walk(value, (*path, index))


def _apply(document: Any, path: JsonPath, operation: str, value: Any) -> Any:
    if not path:
        return value if operation == "replace" else document
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if operation == "delete":
        del parent[last]
    elif operation == "wrap":
        parent[last] = [parent[last]]
    elif operation == "add" and isinstance(parent[last], dict):
        parent[last][str(value)[:8]] = value
    else:
        parent[last] = value
    return document


@st.composite
def mutated(draw: st.DrawFn, seed: Any, mutations: int = 3) -> Any:
    """`seed` with 1 to `mutations` changes: a member or element deleted, replaced by
    another JSON value (often a word the decoders dispatch on), wrapped in a list, or an
    object given a new member."""
    document = copy.deepcopy(seed)
    for _ in range(draw(st.integers(min_value=1, max_value=mutations))):
        paths = list(walk(document))
        path = draw(st.sampled_from(paths))
        operation = draw(st.sampled_from(["delete", "replace", "replace", "wrap", "add"]))
        document = _apply(document, path, operation, draw(JSON_VALUES))
    return document


_UPSTREAM_FAULTS = (401, 403, 500)
"""Upstream statuses the client gets as a 500: the upstream's own 500, and its refusal of
the gateway's credential (a fault of the gateway's configuration, not the client's key)."""


def assert_protocol_answer(reply: httpx.Response, anthropic: bool, upstream: int = 200) -> None:
    """A success, or an error whose body is the protocol's own error object, with a status
    other than 500 (an unhandled fault) unless the `upstream` status explains it."""
    assert reply.status_code != 500 or upstream in _UPSTREAM_FAULTS, reply.text
    if reply.status_code < 400:
        return
    body = json.loads(reply.text)
    if anthropic:
        assert body["type"] == "error", body
        assert isinstance(body["error"]["type"], str) and body["error"]["message"], body
    else:
        assert isinstance(body["error"]["message"], str) and body["error"]["message"], body


class LogReader:
    """The lines a gateway's log gained since the last read."""

    def __init__(self, log: Path) -> None:
        self._log = log
        self._offset = log.stat().st_size

    def new_text(self) -> str:
        with self._log.open("rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        self._offset += len(data)
        return data.decode("utf-8", "replace")
