"""Reasoning settings for an OpenAI Responses upstream, by what the model named takes:
its effort, whether it reasons at all, the samplers it refuses while it reasons, and
the encrypted content that alone carries its reasoning to the next turn (store false)."""

from __future__ import annotations

from polyrelay.context import RequestContext
from polyrelay.ir import ReasoningConfig
from polyrelay.ir.request import SUMMARY_OMITTED
from polyrelay.providers.openai_models import (
    MINIMAL_MODEL,
    NON_REASONING_MODEL,
    REASONING_MODEL,
    XHIGH_MODEL,
    reasons,
)
from polyrelay.schemas.openai_responses import ReasoningParam

__all__ = ["effort_from_budget", "keeps_reasoning", "reasoning_effort", "reasoning_from_ir"]

# Inverse of the published effort → budget policy (translation.md §6):
# minimal 1024, low 2048, medium 8192, high 24576; thresholds sit between the steps.
_EFFORT_STEPS = ((1024, "minimal"), (4096, "low"), (16384, "medium"))


def reasoning_effort(reasoning: ReasoningParam | None) -> str | None:
    return reasoning.effort if reasoning is not None else None


def keeps_reasoning(model: str, reasoning: ReasoningParam | None) -> bool:
    """Whether to ask for the reasoning's encrypted content, which alone carries it to the
    next turn (store is false): when reasoning was asked for, or the model reasons anyway
    (gpt-5 without an effort), whose reasoning items were otherwise dropped every turn."""
    return reasoning is not None or reasons(model, None)


def reasoning_from_ir(
    config: ReasoningConfig | None, model: str, ctx: RequestContext
) -> ReasoningParam | None:
    if config is None:
        return None
    if NON_REASONING_MODEL.fullmatch(model):
        # They answer any `reasoning` with 400 ("Unsupported parameter: 'reasoning.effort'
        # is not supported with this model"), and Claude Code always asks for thinking.
        if config.enabled:
            ctx.warn(f"{model!r} does not reason; the reasoning asked for was dropped")
        return None
    if not config.enabled:
        ctx.warn(
            "reasoning cannot be switched off on every OpenAI model; the model default applies"
        )
        return None
    effort = config.effort
    if effort is None and config.budget_tokens is not None:
        effort = effort_from_budget(config.budget_tokens, model)
    # The gateway asks for a summary unless told not to: its clients show reasoning.
    summary = None if config.summary == SUMMARY_OMITTED else config.summary or "auto"
    return ReasoningParam(effort=_effort_the_model_has(effort, model, ctx), summary=summary)


def _effort_the_model_has(effort: str | None, model: str, ctx: RequestContext) -> str | None:
    """xhigh and max (Claude Code's /effort max) are high for OpenAI's reasoning models
    without them, which answer 400 ("Unsupported value: 'xhigh' is not supported with the
    'gpt-5-mini' model")."""
    if effort not in ("xhigh", "max") or not REASONING_MODEL.fullmatch(model):
        return effort
    if XHIGH_MODEL.fullmatch(model):
        return effort
    ctx.warn(f"reasoning effort {effort} is high for {model!r}, which has no higher")
    return "high"


def effort_from_budget(budget: int, model: str) -> str:
    for limit, effort in _EFFORT_STEPS:
        if budget <= limit:
            if effort == "minimal" and not MINIMAL_MODEL.fullmatch(model):
                return "low"
            return effort
    return "high"
