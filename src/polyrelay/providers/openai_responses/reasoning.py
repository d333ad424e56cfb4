"""Reasoning settings for an OpenAI Responses upstream, by what the model named takes:
its effort, whether it reasons at all, the samplers it refuses while it reasons, and
the encrypted content that alone carries its reasoning to the next turn (store false)."""

from __future__ import annotations

import re

from polyrelay.context import RequestContext
from polyrelay.ir import ReasoningConfig
from polyrelay.schemas.openai_responses import ReasoningParam

__all__ = ["effort_from_budget", "keeps_reasoning", "reasoning_from_ir", "sampler"]

# Inverse of the published effort → budget policy (translation.md §6):
# minimal 1024, low 2048, medium 8192, high 24576; thresholds sit between the steps.
_EFFORT_STEPS = ((1024, "minimal"), (4096, "low"), (16384, "medium"))
_REASONING_MODEL = re.compile(r"(?:o\d|gpt-5)(?!.*-chat)(?:[-.].*)?")
"""OpenAI's reasoning models (o1, o3, o4-mini, gpt-5, gpt-5.1-codex...), not gpt-5-chat."""
_NON_REASONING_MODEL = re.compile(r"(?:gpt-4|gpt-3\.5|chatgpt-|gpt-5(?:\.\d+)?-chat).*")
"""OpenAI's models that never reason: gpt-4o, gpt-4.1, gpt-5-chat-latest..."""
_XHIGH_MODEL = re.compile(r"gpt-5\.1-codex-max.*|gpt-5\.(?:[2-9]|\d\d).*")
"""The reasoning models that take effort xhigh: gpt-5.1-codex-max, gpt-5.2 on."""
_REASONING_OFF_MODEL = re.compile(r"gpt-5\.\d+(?:-.*)?")
"""The reasoning models that take effort `none`, their default: gpt-5.1 on."""
_MINIMAL_MODEL = re.compile(r"gpt-5(?:-mini|-nano)?(?:-\d{4}-\d{2}-\d{2})?")
"""The models that take effort `minimal`: the first gpt-5 ones. The o-series, gpt-5.1 on
and gpt-oss answer it with 400 ("Unsupported value: 'reasoning.effort' does not support
'minimal' with this model"), so a budget that small is `low` for them."""


def sampler(
    name: str,
    value: float | None,
    model: str,
    reasoning: ReasoningParam | None,
    ctx: RequestContext,
) -> float | None:
    """`temperature` / `top_p`, left out for a model that reasons: OpenAI answers them with
    400 ("Unsupported parameter: 'temperature' is not supported with this model")."""
    if value is None or not _reasons(model, reasoning):
        return value
    ctx.warn(f"{name} is not supported by the reasoning model {model!r}; dropped")
    return None


def _reasons(model: str, reasoning: ReasoningParam | None) -> bool:
    """Whether the model reasons on this request: gpt-5.1 on does not by default (effort
    `none`), the o-series and the first gpt-5 ones always do."""
    if not _REASONING_MODEL.fullmatch(model):
        return False
    effort = reasoning.effort if reasoning is not None else None
    if _REASONING_OFF_MODEL.fullmatch(model):
        return effort not in (None, "none")
    return True


def keeps_reasoning(model: str, reasoning: ReasoningParam | None) -> bool:
    """Whether to ask for the reasoning's encrypted content, which alone carries it to the
    next turn (store is false): when reasoning was asked for, or the model reasons anyway
    (gpt-5 without an effort), whose reasoning items were otherwise dropped every turn."""
    return reasoning is not None or _reasons(model, None)


def reasoning_from_ir(
    config: ReasoningConfig | None, model: str, ctx: RequestContext
) -> ReasoningParam | None:
    if config is None:
        return None
    if _NON_REASONING_MODEL.fullmatch(model):
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
    return ReasoningParam(
        effort=_effort_the_model_has(effort, model, ctx), summary=config.summary or "auto"
    )


def _effort_the_model_has(effort: str | None, model: str, ctx: RequestContext) -> str | None:
    """xhigh and max (Claude Code's /effort max) are high for OpenAI's reasoning models
    without them, which answer 400 ("Unsupported value: 'xhigh' is not supported with the
    'gpt-5-mini' model")."""
    if effort not in ("xhigh", "max") or not _REASONING_MODEL.fullmatch(model):
        return effort
    if _XHIGH_MODEL.fullmatch(model):
        return effort
    ctx.warn(f"reasoning effort {effort} is high for {model!r}, which has no higher")
    return "high"


def effort_from_budget(budget: int, model: str) -> str:
    for limit, effort in _EFFORT_STEPS:
        if budget <= limit:
            if effort == "minimal" and not _MINIMAL_MODEL.fullmatch(model):
                return "low"
            return effort
    return "high"
