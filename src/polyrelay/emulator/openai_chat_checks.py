"""Chat Completions request shapes real OpenAI refuses with 400 that the emulator's main
module has no room for, refused here as OpenAI refuses them."""

from __future__ import annotations

import re

from polyrelay.codec import JSONObject
from polyrelay.emulator.script import RequestError
from polyrelay.emulator.wire import as_str

__all__ = ["refuse_effort_to_non_reasoning", "refuse_samplers_to_reasoning"]

_REASONING_MODEL = re.compile(r"(?:o\d|gpt-5)(?!.*-chat)(?:[-.].*)?")
_REASONING_OFF_MODEL = re.compile(r"gpt-5\.\d+(?:-.*)?")
_NON_REASONING_MODEL = re.compile(r"(?:gpt-4|gpt-3\.5|chatgpt-|gpt-5(?:\.\d+)?-chat).*")


def refuse_effort_to_non_reasoning(body: JSONObject) -> None:
    """As the API: gpt-4o, gpt-4.1 and the like take no reasoning effort."""
    model = as_str(body.get("model"))
    if body.get("reasoning_effort") is not None and _NON_REASONING_MODEL.fullmatch(model):
        raise RequestError(
            400,
            "Unsupported parameter: 'reasoning_effort' is not supported with this model.",
            "reasoning_effort",
        )


def refuse_samplers_to_reasoning(body: JSONObject) -> None:
    """As the API: a model that reasons on this request takes no temperature or top_p (the
    o-series and the first gpt-5 ones always reason; gpt-5.1 on not by default)."""
    model = as_str(body.get("model"))
    if not _REASONING_MODEL.fullmatch(model):
        return
    if _REASONING_OFF_MODEL.fullmatch(model) and body.get("reasoning_effort") in (None, "none"):
        return
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            raise RequestError(
                400, f"Unsupported parameter: '{name}' is not supported with this model.", name
            )
