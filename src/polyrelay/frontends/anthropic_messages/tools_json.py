"""The tool list of a Messages body, decoded once per distinct list.

A client sends the same tools on every turn: Claude Code's 24 are 63 KB of JSON schemas,
and building them as dicts was ~58 us of its turn's ~96 us decode, on every path (the fast
path decodes the body too). So the body is decoded with `tools` left as its JSON text
(msgspec.Raw), and that text goes through a small cache keyed by the text itself: hashing
63 KB costs ~12 us, and a hit returns the ToolParam list the first decode made. The lists
are shared by every request that sent those bytes, so nothing may change them in place
(nothing does: a translation copies a schema where it changes it, providers/schema_walk.py).
"""

from __future__ import annotations

from functools import lru_cache

import msgspec

from polyrelay.schemas.anthropic_messages import MessageCreateParams, ToolParam

__all__ = ["RawToolsParams", "RawToolsParamsStrict", "with_tools"]

_CACHED_LISTS = 16
"""Distinct tool lists kept (a deployment's clients send a few: Claude Code's main loop and
its subagents each have one)."""
_CACHED_BYTES = 256 * 1024
"""A longer list is decoded on every request, which bounds the cache's memory."""
_NULL = msgspec.Raw(b"null")
_decoder = msgspec.json.Decoder(list[ToolParam] | None)


class RawToolsParams(MessageCreateParams, kw_only=True):
    """MessageCreateParams with `tools` as its JSON text, for `with_tools`."""

    tools: msgspec.Raw = _NULL  # type: ignore[assignment]


class RawToolsParamsStrict(RawToolsParams, kw_only=True, forbid_unknown_fields=True):
    """The same, failing on unknown top-level fields (codec.decode_known's fast path)."""


def with_tools(params: RawToolsParams) -> MessageCreateParams:
    """`params` with its tools decoded; a ValidationError names them as a decode of the
    whole body would (`$.tools[0].name`)."""
    text = bytes(params.tools)
    tools = _decoded(text) if len(text) > _CACHED_BYTES else _cached(text)
    typed: MessageCreateParams = params
    typed.tools = tools
    return typed


@lru_cache(maxsize=_CACHED_LISTS)
def _cached(text: bytes) -> list[ToolParam] | None:
    return _decoded(text)  # an error is raised, not cached


def _decoded(text: bytes) -> list[ToolParam] | None:
    try:
        return _decoder.decode(text)
    except msgspec.ValidationError as exc:
        message, sep, path = str(exc).rpartition(" - at `$")
        if not sep:
            message, path = str(exc), "`"
        raise msgspec.ValidationError(f"{message} - at `$.tools{path}") from None
