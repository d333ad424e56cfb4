"""A thinking budget and the answer's room beside it, within the model's output limit.

Anthropic counts thinking in `max_tokens` and takes a budget only below it, so the gateway
sends budget + answer room when the budget does not fit under the asked length
(translation.md §6). That sum must itself stay within the model's limit
(model_limits.route_limit), or Anthropic answers 400 ("max_tokens: 40576 > 32000, which is
the maximum allowed number of output tokens for claude-opus-4-20250514"): the answer's room
gives way first, for the client asked to think, then the budget, down to Anthropic's least
budget; below that there is no thinking to have, and it goes, warned.
"""

from __future__ import annotations

from polyrelay.context import RequestContext
from polyrelay.providers import Route
from polyrelay.providers.model_limits import route_limit
from polyrelay.schemas.anthropic_messages import ThinkingConfigParam

__all__ = ["MIN_BUDGET", "budget_beside_answer"]

MIN_BUDGET = 1024
"""Anthropic refuses a smaller `thinking.budget_tokens`."""


def budget_beside_answer(
    budget: int, answer: int, route: Route, ctx: RequestContext
) -> tuple[ThinkingConfigParam | None, int]:
    """The thinking to send and `max_tokens` for `budget` tokens of thinking and `answer`
    tokens of room to answer in: budget + answer, lowered to the route's limit (the answer
    first, never under min(answer, MIN_BUDGET), which a thinking model's answer needs as
    much as its thinking does; then the budget). No thinking (None) when even the least
    budget does not fit."""
    limit = route_limit(route)
    if limit is None or budget + answer <= limit:
        return ThinkingConfigParam(type="enabled", budget_tokens=budget), budget + answer
    model = route.upstream_model
    room = max(limit - budget, min(answer, MIN_BUDGET))
    fitted = limit - room
    if fitted < MIN_BUDGET:
        ctx.warn(
            f"thinking was turned off: Anthropic's least budget of {MIN_BUDGET} tokens and"
            f" {room} tokens to answer in do not fit in the {limit} output tokens"
            f" {model!r} takes"
        )
        return None, min(answer, limit)
    ctx.warn(
        f"thinking budget {budget} and {answer} tokens to answer in are above the {limit}"
        f" output tokens {model!r} takes; sent a budget of {fitted} and {room} to answer in"
    )
    return ThinkingConfigParam(type="enabled", budget_tokens=fitted), limit
