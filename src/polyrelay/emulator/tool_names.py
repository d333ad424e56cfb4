"""Function names each provider refuses, refused as the provider does: a 400 naming the
field, in the provider's words.

OpenAI (Chat and Responses) takes `[a-zA-Z0-9_-]` up to 64 characters, Anthropic the same
up to 128, Gemini a letter or `_` first and then `[a-zA-Z0-9_.:-]` up to 64. The gateway
renames what an upstream would refuse (ir/tool_names.py); without this check the emulator
would answer what the real upstream refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from polyrelay.emulator.script import RequestError

__all__ = ["refuse_anthropic_names", "refuse_gemini_names", "refuse_openai_names"]

_OPENAI = re.compile(r"[a-zA-Z0-9_-]+")
_ANTHROPIC = re.compile(r"[a-zA-Z0-9_-]{1,128}")
_GEMINI = re.compile(r"[a-zA-Z_][a-zA-Z0-9_.:-]{0,63}")

Named = Iterable[tuple[str, str]]
"""(the field's path in the provider's notation, the name in it)."""


def refuse_openai_names(named: Named) -> None:
    for param, name in named:
        if not _OPENAI.fullmatch(name):
            raise RequestError(
                400,
                f"Invalid '{param}': string does not match pattern. Expected a string that"
                " matches the pattern '^[a-zA-Z0-9_-]+$'.",
                param,
            )
        if len(name) > 64:
            raise RequestError(
                400,
                f"Invalid '{param}': string too long. Expected a string with maximum length"
                f" 64, but got a string with length {len(name)} instead.",
                param,
            )


def refuse_anthropic_names(named: Named) -> None:
    for param, name in named:
        if not _ANTHROPIC.fullmatch(name):
            raise RequestError(
                400, f"{param}: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'", param
            )


def refuse_gemini_names(named: Named) -> None:
    for param, name in named:
        if not _GEMINI.fullmatch(name):
            raise RequestError(
                400,
                f"* GenerateContentRequest.{param}: Invalid function name. Must start with a"
                " letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores"
                " (_), dots (.), colons (:), or dashes (-), with a maximum length of 64.",
                param,
            )
