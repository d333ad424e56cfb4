"""Request shapes real OpenAI Responses refuses with 400, refused here as OpenAI refuses
them, so a test of the gateway's translation to a Responses upstream means something."""

from __future__ import annotations

import re

from polyrelay.codec import JSONObject
from polyrelay.emulator.script import RequestError
from polyrelay.emulator.strict_schema import refuse_loose_strict_responses_tools
from polyrelay.emulator.wire import as_object, as_str

__all__ = ["refuse_shapes"]

_MINIMAL_MODEL = re.compile(r"gpt-5(?:-mini|-nano)?(?:-\d{4}-\d{2}-\d{2})?")


def refuse_shapes(body: JSONObject) -> None:
    _refuse_minimal_effort(body)
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
