"""OpenAI's model families, told by name, where their APIs (Chat Completions and
Responses alike) refuse request shapes others take.

The names are the upstream's (`Route.upstream_model`): an Azure deployment named after its
model is told too, one with a name of its own is not.
"""

from __future__ import annotations

import re

from polyrelay.context import RequestContext

__all__ = [
    "MINIMAL_MODEL",
    "NON_REASONING_MODEL",
    "REASONING_MODEL",
    "XHIGH_MODEL",
    "reasons",
    "sampler",
    "verbosity",
]

REASONING_MODEL = re.compile(r"(?:o\d|gpt-5)(?!.*-chat)(?:[-.].*)?")
"""The reasoning models (o1, o3-mini, o4-mini-2025-04-16, gpt-5, gpt-5.1-codex), not the
gpt-5 chat models."""
NON_REASONING_MODEL = re.compile(r"(?:gpt-4|gpt-3\.5|chatgpt-|gpt-5(?:\.\d+)?-chat).*")
"""The models that never reason: gpt-4o, gpt-4.1, gpt-5-chat-latest..."""
XHIGH_MODEL = re.compile(r"gpt-5\.1-codex-max.*|gpt-5\.(?:[2-9]|\d\d).*")
"""The reasoning models that take effort xhigh: gpt-5.1-codex-max, gpt-5.2 on."""
_REASONING_OFF_MODEL = re.compile(r"gpt-5\.\d+(?:-.*)?")
"""The reasoning models that take effort `none`, their default: gpt-5.1 on."""
MINIMAL_MODEL = re.compile(r"gpt-5(?:-mini|-nano)?(?:-\d{4}-\d{2}-\d{2})?")
"""The models that take effort `minimal`: the first gpt-5 ones. The o-series, gpt-5.1 on
and gpt-oss answer it with 400 ("Unsupported value: 'reasoning.effort' does not support
'minimal' with this model")."""

_VERBOSITY_MODEL = re.compile(r"gpt-5(?!.*-chat)(?:[-.].*)?")
"""The models that take a verbosity other than `medium` (its default): the gpt-5 reasoning
ones. The others answer 400 ("Unsupported value: 'low' is not supported with the
'gpt-4.1' model. Supported values are: 'medium'.")."""


def reasons(model: str, effort: str | None) -> bool:
    """Whether `model` reasons on a request asking for `effort` (None: none asked), when
    it refuses `temperature` and `top_p` with 400 ("Unsupported parameter: 'temperature'
    is not supported with this model"): the o-series and the first gpt-5 ones always do,
    gpt-5.1 on only with an effort other than `none`."""
    if not REASONING_MODEL.fullmatch(model):
        return False
    if _REASONING_OFF_MODEL.fullmatch(model):
        return effort not in (None, "none")
    return True


def sampler(
    name: str, value: float | None, model: str, effort: str | None, ctx: RequestContext
) -> float | None:
    """`temperature` / `top_p` (`name`) for `model` asked for `effort`: left out, warned,
    when it reasons on the request (see `reasons`)."""
    if value is None or not reasons(model, effort):
        return value
    ctx.warn(f"{name} is not supported by the reasoning model {model!r}; dropped")
    return None


def verbosity(value: str | None, model: str, ctx: RequestContext) -> str | None:
    """`verbosity` for `model`: left out, warned, where it would be refused; `medium`,
    the default, is left out there without a word, as it asks for nothing."""
    if value is None or _VERBOSITY_MODEL.fullmatch(model):
        return value
    if value != "medium":
        ctx.warn(f"verbosity {value} is not supported by {model!r}; dropped")
    return None
