"""OpenAI's reasoning rules, as both its APIs enforce them: which models take which effort
and which refuse the samplers while they reason. Chat Completions names the effort
`reasoning_effort`, Responses `reasoning.effort`; the rules and the 400s are the same.

The emulator keeps its own reading of these rules rather than the gateway's
(polyrelay.providers.openai_models), so that a test of the gateway checks it against
something it did not write.
"""

from __future__ import annotations

import re

from polyrelay.codec import JSONObject
from polyrelay.emulator.script import RequestError

__all__ = [
    "refuse_effort_to_non_reasoning",
    "refuse_minimal_effort",
    "refuse_samplers",
    "refuse_verbosity",
]

_REASONING_MODEL = re.compile(r"(?:o\d|gpt-5)(?!.*-chat)(?:[-.].*)?")
_REASONING_OFF_MODEL = re.compile(r"gpt-5\.\d+(?:-.*)?")
_NON_REASONING_MODEL = re.compile(r"(?:gpt-4|gpt-3\.5|chatgpt-|gpt-5(?:\.\d+)?-chat).*")
_MINIMAL_MODEL = re.compile(r"gpt-5(?:-mini|-nano)?(?:-\d{4}-\d{2}-\d{2})?")
_VERBOSITY_MODEL = re.compile(r"gpt-5(?!.*-chat)(?:[-.].*)?")


def refuse_minimal_effort(model: str, effort: object, param: str) -> None:
    """Only the first gpt-5 models take effort `minimal`; `param` names the effort."""
    if effort == "minimal" and not _MINIMAL_MODEL.fullmatch(model):
        raise RequestError(
            400,
            f"Unsupported value: '{param}' does not support 'minimal' with this model."
            " Supported values are: 'low', 'medium', and 'high'.",
            param,
        )


def refuse_samplers(body: JSONObject, model: str, effort: object) -> None:
    """A model that reasons on this request takes no temperature or top_p (the o-series
    and the first gpt-5 ones always reason; gpt-5.1 on not by default)."""
    if not _REASONING_MODEL.fullmatch(model):
        return
    if _REASONING_OFF_MODEL.fullmatch(model) and effort in (None, "none"):
        return
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            raise RequestError(
                400, f"Unsupported parameter: '{name}' is not supported with this model.", name
            )


def refuse_effort_to_non_reasoning(model: str, effort: object, param: str) -> bool:
    """gpt-4o, gpt-4.1 and the like take no reasoning effort. Whether `model` is one."""
    if not _NON_REASONING_MODEL.fullmatch(model):
        return False
    if effort is not None:
        raise RequestError(
            400, f"Unsupported parameter: '{param}' is not supported with this model.", param
        )
    return True


def refuse_verbosity(model: str, verbosity: object, param: str) -> None:
    """Only the gpt-5 reasoning models take a verbosity other than `medium`."""
    if verbosity not in (None, "medium") and not _VERBOSITY_MODEL.fullmatch(model):
        raise RequestError(
            400,
            f"Unsupported value: '{verbosity}' is not supported with the '{model}' model."
            " Supported values are: 'medium'.",
            param,
        )
