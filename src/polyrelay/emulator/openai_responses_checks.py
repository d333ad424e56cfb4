"""Request shapes real OpenAI Responses refuses with 400, refused here as OpenAI refuses
them, so a test of the gateway's translation to a Responses upstream means something."""

from __future__ import annotations

import re

from polyrelay.codec import JSONObject
from polyrelay.emulator.script import RequestError
from polyrelay.emulator.strict_schema import refuse_loose_strict_responses_tools
from polyrelay.emulator.wire import as_list, as_object, as_str

__all__ = ["refuse_shapes"]

_REASONING_MODEL = re.compile(r"(?:o\d|gpt-5)(?!.*-chat)(?:[-.].*)?")
_REASONING_OFF_MODEL = re.compile(r"gpt-5\.\d+(?:-.*)?")
_NON_REASONING_MODEL = re.compile(r"(?:gpt-4|gpt-3\.5|chatgpt-|gpt-5(?:\.\d+)?-chat).*")
_XHIGH_MODEL = re.compile(r"gpt-5\.1-codex-max.*|gpt-5\.(?:[2-9]|\d\d).*")
_MINIMAL_MODEL = re.compile(r"gpt-5(?:-mini|-nano)?(?:-\d{4}-\d{2}-\d{2})?")


def refuse_shapes(body: JSONObject) -> None:
    _refuse_reasoning_to_non_reasoning(body)
    _refuse_minimal_effort(body)
    _refuse_xhigh_effort(body)
    _refuse_samplers_to_reasoning(body)
    refuse_loose_strict_responses_tools(body)


def _refuse_minimal_effort(body: JSONObject) -> None:
    """As the API: only the first gpt-5 models take reasoning effort `minimal`."""
    model = as_str(body.get("model"))
    effort = as_object(body.get("reasoning")).get("effort")
    if effort == "minimal" and not _MINIMAL_MODEL.fullmatch(model):
        raise RequestError(
            400,
            "Unsupported value: 'reasoning.effort' does not support 'minimal' with this model."
            " Supported values are: 'low', 'medium', and 'high'.",
            "reasoning.effort",
        )


def _refuse_samplers_to_reasoning(body: JSONObject) -> None:
    """As the API: a model that reasons on this request takes no temperature or top_p (the
    o-series and the first gpt-5 ones always reason; gpt-5.1 on not by default)."""
    model = as_str(body.get("model"))
    effort = as_object(body.get("reasoning")).get("effort")
    if not _REASONING_MODEL.fullmatch(model):
        return
    if _REASONING_OFF_MODEL.fullmatch(model) and effort in (None, "none"):
        return
    for name in ("temperature", "top_p"):
        if body.get(name) is not None:
            raise RequestError(
                400, f"Unsupported parameter: '{name}' is not supported with this model.", name
            )


def _refuse_reasoning_to_non_reasoning(body: JSONObject) -> None:
    """As the API: gpt-4o, gpt-4.1 and the like take no reasoning, nor its encrypted content."""
    if not _NON_REASONING_MODEL.fullmatch(as_str(body.get("model"))):
        return
    reasoning = as_object(body.get("reasoning"))
    if reasoning.get("effort") is not None:
        raise RequestError(
            400,
            "Unsupported parameter: 'reasoning.effort' is not supported with this model.",
            "reasoning.effort",
        )
    if "reasoning.encrypted_content" in as_list(body.get("include")):
        raise RequestError(400, "Encrypted content is not supported with this model.", "include")


def _refuse_xhigh_effort(body: JSONObject) -> None:
    """As the API: only gpt-5.1-codex-max and gpt-5.2 on take effort xhigh (or max)."""
    model = as_str(body.get("model"))
    effort = as_object(body.get("reasoning")).get("effort")
    if effort in ("xhigh", "max") and not _XHIGH_MODEL.fullmatch(model):
        raise RequestError(
            400,
            f"Unsupported value: '{effort}' is not supported with the '{model}' model.",
            "reasoning.effort",
        )
