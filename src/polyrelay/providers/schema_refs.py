"""The `$ref`s of a client's JSON Schema: which point outside it, and which go round in a
circle (a recursive schema), for an upstream that takes neither (Anthropic's structured
outputs, and the emulator standing in for it).

A definition is followed only when something refers to it, but every definition of the
root is looked at too: a circle among definitions nothing uses is still a circle to
Anthropic ("Circular reference detected in schema definitions").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from polyrelay.providers.schema_walk import SchemaNode, rewrite_schema

__all__ = ["external_refs", "reference_cycle"]

_DEFINITIONS = ("$defs", "definitions")


def reference_cycle(schema: SchemaNode) -> tuple[str, ...] | None:
    """The first chain of local `$ref`s that leads back to where it started, as the
    names of its definitions (`#` for the root), the first name again at its end; None
    when the schema has no circle."""
    done: set[str] = set()
    starts = ["#"] + [
        f"#/{key}/{_escape(name)}"
        for key in _DEFINITIONS
        if isinstance(schema.get(key), dict)
        for name in schema[key]
    ]
    for start in starts:
        cycle = _cycle_from(schema, start, done)
        if cycle is not None:
            return tuple(_name(pointer) for pointer in cycle)
    return None


def _cycle_from(schema: SchemaNode, start: str, done: set[str]) -> tuple[str, ...] | None:
    """A depth-first walk of the `$ref`s from `start`, with a stack of its own instead of
    recursion: a client's chain of thousands of definitions, each referring to the next,
    is a flat body that would otherwise exhaust Python's recursion limit (a 500)."""
    if start in done:
        return None
    path: list[str] = []
    on_path: dict[str, int] = {}
    pending: list[Iterator[str]] = []

    def enter(pointer: str) -> None:
        on_path[pointer] = len(path)
        path.append(pointer)
        node = _resolve(schema, pointer)
        refs = _refs_in(node) if isinstance(node, dict) else []
        pending.append(iter([ref for ref in refs if ref.startswith("#")]))

    enter(start)
    while pending:
        ref = next(pending[-1], None)
        if ref is None:  # every reference of the innermost pointer followed: it is done
            pending.pop()
            finished = path.pop()
            del on_path[finished]
            done.add(finished)
        elif ref in on_path:
            return (*path[on_path[ref] :], ref)
        elif ref not in done:
            enter(ref)
    return None


def external_refs(schema: SchemaNode) -> list[str]:
    """The `$ref`s that point outside the schema (a URL, another file)."""
    refs: list[str] = []

    def note(node: SchemaNode) -> SchemaNode:
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            refs.append(ref)
        return node

    rewrite_schema(schema, note)
    return refs


def _refs_in(node: SchemaNode) -> list[str]:
    """The `$ref`s of `node` and its subschemas, its definitions left out: they count
    only where something refers to them."""
    refs: list[str] = []

    def note(sub: SchemaNode) -> SchemaNode:
        ref = sub.get("$ref")
        if isinstance(ref, str):
            refs.append(ref)
        if any(key in sub for key in _DEFINITIONS):
            return {k: v for k, v in sub.items() if k not in _DEFINITIONS}
        return sub

    rewrite_schema(node, note)
    return refs


def _resolve(root: SchemaNode, pointer: str) -> Any:
    """A local JSON pointer (`#/$defs/Node`); None where it leads nowhere."""
    node: Any = root
    for part in filter(None, pointer[1:].split("/")):
        key = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
    return node


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def _name(pointer: str) -> str:
    last = pointer.rsplit("/", 1)[-1] if pointer != "#" else "#"
    return last.replace("~1", "/").replace("~0", "~")
