"""What a schema rule made of a schema, kept per schema object for the next request.

A frontend decodes a client's unchanged tool list once (codec.CachedMember), so the tools'
schemas are the same dict objects on every turn of that client, and a rule that depends on
the schema alone (Gemini's `$ref` siblings) need not walk them again. Keyed by identity:
an entry holds its schema, so no other object can take its id while it is kept; a schema
decoded afresh on each request (a tool list too long to cache) only misses. Bounded in
entries and in the kept schemas' JSON size, measured on a miss. Neither the schemas nor
the results may be changed in place, which no rule does (providers/schema_walk.py).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from polyrelay import codec
from polyrelay.providers.schema_walk import SchemaNode

__all__ = ["SchemaMemo"]

V = TypeVar("V")


class SchemaMemo(Generic[V]):
    def __init__(self, entries: int = 256, max_bytes: int = 4 << 20) -> None:
        self._entries: OrderedDict[int, tuple[SchemaNode, V, int]] = OrderedDict()
        self._max_entries = entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()  # `polyrelay check` builds requests on threads

    def get(self, schema: SchemaNode, make: Callable[[SchemaNode], V]) -> V:
        """`make(schema)`, worked out once while `schema` is kept (an error is not kept)."""
        key = id(schema)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is schema:
                self._entries.move_to_end(key)
                return entry[1]
        value = make(schema)
        size = len(codec.encode(schema))
        if size <= self._max_bytes:
            with self._lock:
                self._keep(key, (schema, value, size))
        return value

    def _keep(self, key: int, entry: tuple[SchemaNode, V, int]) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= old[2]
        self._entries[key] = entry
        self._bytes += entry[2]
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            self._bytes -= self._entries.popitem(last=False)[1][2]
