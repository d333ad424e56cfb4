"""What a schema rule made of a schema, kept per schema object for the next request.

A frontend decodes a client's unchanged tool list once (codec.CachedMember), so the tools'
schemas are the same dict objects on every turn of that client, and a rule that depends on
the schema alone (Gemini's `$ref` siblings) need not walk them again. Keyed by identity:
an entry holds its schema, so no other object can take its id while it is kept; a schema
decoded afresh on each request (a tool list too long to cache) only misses. Bounded in
entries and in the kept schemas' JSON size (with what the results hold besides), measured
on a miss: 512 KB, which decoded may take several times that (24x for a schema of empty
objects; mostly they are the schemas CachedMember keeps anyway). Neither the schemas nor
the results may be changed in place, which no rule does (providers/schema_walk.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import msgspec

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.ir import FunctionTool

__all__ = ["Declarations", "SchemaMemo"]

V = TypeVar("V")


class SchemaMemo(Generic[V]):
    """Keyed by a schema, or any JSON value a frontend shares the same way (a tool list)."""

    def __init__(self, entries: int = 256, max_bytes: int = 512 << 10) -> None:
        self._entries: dict[int, tuple[Any, V, int]] = {}
        self._max_entries = entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()  # `polyrelay check` builds requests on threads

    def get(self, schema: Any, make: Callable[[Any], V]) -> V:
        """`make(schema)`, worked out once while `schema` is kept (an error is not kept)."""
        kept = self.peek(schema)
        if kept is not None:
            return kept
        value = make(schema)
        self.keep(schema, value)
        return value

    def peek(self, schema: Any) -> V | None:
        """What is kept for `schema`, if anything."""
        entry = self._entries.get(id(schema))
        return entry[1] if entry is not None and entry[0] is schema else None

    def keep(self, schema: Any, value: V, value_bytes: int = 0) -> None:
        """Keeps `value` for `schema` (in place of what was), the oldest entries leaving
        when over the bounds: a client's schemas come back each turn, and a miss only
        costs working one out again. `value_bytes`: what `value` holds besides the schema
        (an encoded declaration's description), counted with it."""
        size = len(codec.encode(schema)) + value_bytes
        if size > self._max_bytes:
            return
        with self._lock:
            old = self._entries.pop(id(schema), None)
            if old is not None:
                self._bytes -= old[2]
            self._entries[id(schema)] = (schema, value, size)
            self._bytes += size
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                self._bytes -= self._entries.pop(next(iter(self._entries)))[2]


class Declarations:
    """Each function tool's declaration as one provider writes it, encoded once per tool
    schema (a SchemaMemo): Claude Code's 24 declarations are 64 KB of JSON, ~25 us to
    encode on every translated request. Only a tool whose declaration depends on its name,
    description, schema and `strict` alone goes through it, and not a strict one, whose
    declaration may warn (`declare` is then called with the request's context each time).
    The encoded text (msgspec.Raw) stands in the provider's Struct for the declaration:
    the encoder writes it as is, so the body's bytes are the same."""

    def __init__(self, declare: Callable[[FunctionTool, RequestContext], msgspec.Struct]) -> None:
        self._declare = declare
        self._memo: SchemaMemo[tuple[str, str | None, bool | None, msgspec.Raw]] = SchemaMemo()

    def __call__(self, tool: FunctionTool, ctx: RequestContext) -> Any:
        """The declaration: the provider's Struct, or its encoded text (typed as the
        Struct by the caller: nothing reads it before the body is encoded)."""
        schema = tool.parameters
        if tool.strict or schema is None:
            return self._declare(tool, ctx)
        kept = self._memo.peek(schema)
        if kept is not None:
            if kept[0] == tool.name and kept[1] == tool.description and kept[2] is tool.strict:
                return kept[3]
            # The same schema in another tool (every custom tool of a Responses client has
            # one constant schema): declared each time, the first one's entry kept.
            return self._declare(tool, ctx)
        declared = self._declare(tool, ctx)
        raw = msgspec.Raw(codec.encode(declared))
        self._memo.keep(schema, (tool.name, tool.description, tool.strict, raw), len(raw))
        return declared
