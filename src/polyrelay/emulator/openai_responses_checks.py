"""Request shapes real OpenAI Responses refuses with 400, refused here as OpenAI refuses
them, so a test of the gateway's translation to a Responses upstream means something."""

from __future__ import annotations

import re

from polyrelay.codec import JSONObject
from polyrelay.emulator.openai_reasoning import (
    refuse_effort_to_non_reasoning,
    refuse_minimal_effort,
    refuse_samplers,
    refuse_verbosity,
)
from polyrelay.emulator.output_limits import refuse_openai_past_limit
from polyrelay.emulator.script import RequestError, read_limit
from polyrelay.emulator.strict_schema import refuse_loose_strict_responses_tools
from polyrelay.emulator.wire import as_list, as_object, as_str

__all__ = ["refuse_shapes"]

_XHIGH_MODEL = re.compile(r"gpt-5\.1-codex-max.*|gpt-5\.(?:[2-9]|\d\d).*")
_EFFORT = "reasoning.effort"
_MAX_OUTPUT = "max_output_tokens"


def refuse_shapes(body: JSONObject) -> None:
    model = as_str(body.get("model"))
    effort = as_object(body.get("reasoning")).get("effort")
    _refuse_reasoning_to_non_reasoning(body, model, effort)
    refuse_minimal_effort(model, effort, _EFFORT)
    _refuse_xhigh_effort(body)
    refuse_samplers(body, model, effort)
    refuse_verbosity(model, as_object(body.get("text")).get("verbosity"), "text.verbosity")
    refuse_loose_strict_responses_tools(body)
    limit = read_limit(body.get(_MAX_OUTPUT), _MAX_OUTPUT)
    refuse_openai_past_limit(model, limit, _MAX_OUTPUT)


def _refuse_reasoning_to_non_reasoning(body: JSONObject, model: str, effort: object) -> None:
    """As the API: gpt-4o, gpt-4.1 and the like take no reasoning, nor its encrypted content."""
    if not refuse_effort_to_non_reasoning(model, effort, _EFFORT):
        return
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
            _EFFORT,
        )
