"""The real models' output-token limits, refused past as each provider refuses them (400),
so a test shows the gateway never sends a translated request past one.

Only real model names are told; any other name the emulator serves has no limit. The
emulator keeps its own short reading, apart from the gateway's
(polyrelay.providers.model_limits), so that a test checks the gateway against something
it did not write.
"""

from __future__ import annotations

import re

from polyrelay.emulator.script import RequestError

__all__ = ["refuse_anthropic_past_limit", "refuse_gemini_past_limit", "refuse_openai_past_limit"]

_OPENAI = (
    (re.compile(r"gpt-5(?:\.\d+)?-chat.*"), 16_384),
    (re.compile(r"gpt-5.*"), 128_000),
    (re.compile(r"o[134](?:-.*)?"), 100_000),
    (re.compile(r"gpt-4\.1.*"), 32_768),
    (re.compile(r"gpt-4o.*"), 16_384),
    (re.compile(r"gpt-4-turbo.*|gpt-3\.5-turbo.*"), 4_096),
    (re.compile(r"gpt-4"), 8_192),
)
_ANTHROPIC = (
    (re.compile(r"claude-3-(?:haiku|opus)-.*"), 4_096),
    (re.compile(r"claude-3-5-.*"), 8_192),
    (re.compile(r"claude-(?:opus|sonnet)-4-[6-9].*|claude-[a-z]+-[5-9].*"), 128_000),
    (re.compile(r"claude-opus-4-5.*"), 64_000),
    (re.compile(r"claude-opus-4.*"), 32_000),
    (re.compile(r"claude-3-7-sonnet.*|claude-sonnet-4.*|claude-haiku-4-5.*"), 64_000),
)
_GEMINI = (
    (re.compile(r"gemini-2\.5-.*"), 65_536),
    (re.compile(r"gemini-2\.0-flash.*"), 8_192),
)


def _limit(table: tuple[tuple[re.Pattern[str], int], ...], model: str) -> int | None:
    return next((limit for pattern, limit in table if pattern.fullmatch(model)), None)


def refuse_openai_past_limit(model: str, value: int | None, param: str) -> None:
    """Chat's `max_tokens` / `max_completion_tokens` or Responses' `max_output_tokens`
    (`param`) past the model's limit."""
    limit = _limit(_OPENAI, model)
    if value is None or limit is None or value <= limit:
        return
    raise RequestError(
        400,
        f"{param} is too large: {value}. This model supports at most {limit} completion"
        f" tokens, whereas you provided {value}.",
        param,
        "invalid_value",
    )


def refuse_anthropic_past_limit(model: str, max_tokens: int | None) -> None:
    limit = _limit(_ANTHROPIC, model)
    if max_tokens is None or limit is None or max_tokens <= limit:
        return
    raise RequestError(
        400,
        f"max_tokens: {max_tokens} > {limit}, which is the maximum allowed number of output"
        f" tokens for {model}",
        "max_tokens",
    )


def refuse_gemini_past_limit(model: str, value: int | None) -> None:
    limit = _limit(_GEMINI, model.removeprefix("models/"))
    if value is None or limit is None or value <= limit:
        return
    raise RequestError(
        400,
        f"Unable to submit request because it has a maxOutputTokens value of {value} but"
        f" the supported range is from 1 (inclusive) to {limit + 1} (exclusive). Update the"
        " value and try again.",
        "generationConfig.maxOutputTokens",
    )
