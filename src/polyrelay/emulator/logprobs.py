"""Token log probabilities for OpenAI's two protocols and Gemini, deterministic like
everything else.

A token is one streamed word chunk (its leading whitespace included); its logprob comes
from a hash of the token, in (-2, 0]. The top alternatives start with the token itself, as
the API's do, followed by made-up tokens each one nat less likely. Chat asks with
`logprobs: true` (+ `top_logprobs`), Responses with `include:
["message.output_text.logprobs"]` (+ `top_logprobs`); both cap the alternatives at 20.
Gemini asks with `generationConfig.responseLogprobs: true` (+ `logprobs`, 0-20) and answers
a candidate's `logprobsResult` (a stream chunk's: that chunk's tokens), with a made-up
`tokenId` per token.
"""

from __future__ import annotations

import hashlib

from polyrelay.codec import JSONObject
from polyrelay.emulator.script import RequestError
from polyrelay.emulator.wire import as_list, first_of

__all__ = [
    "chat_top_logprobs",
    "entries",
    "gemini_result",
    "gemini_top_logprobs",
    "responses_top_logprobs",
]

_MAX_TOP = 20
RESPONSES_INCLUDE = "message.output_text.logprobs"


def _top(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_TOP:
        raise RequestError(
            400,
            f"Invalid 'top_logprobs': integer below minimum value or above maximum value "
            f"of {_MAX_TOP}. Expected a value between 0 and {_MAX_TOP}, got {value!r}.",
            "top_logprobs",
        )
    return value


def chat_top_logprobs(body: JSONObject) -> int | None:
    """How many alternatives a Chat request asks for per token; None: no logprobs."""
    top = _top(body.get("top_logprobs"))
    if body.get("logprobs") is True:
        return top
    if body.get("top_logprobs") is not None:
        raise RequestError(
            400,
            "Invalid value for 'top_logprobs': 'logprobs' must be set to true when "
            "'top_logprobs' is specified.",
            "top_logprobs",
        )
    return None


def responses_top_logprobs(body: JSONObject) -> int | None:
    """As `chat_top_logprobs`, for a Responses request."""
    top = _top(body.get("top_logprobs"))
    return top if RESPONSES_INCLUDE in as_list(body.get("include")) else None


def _logprob(token: str) -> float:
    digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
    return -round(int.from_bytes(digest, "big") / 2**32 * 2, 6)


def _alternative(token: str, rank: int) -> str:
    """A stand-in for the rank-th likeliest other token, its whitespace kept."""
    stripped = token.lstrip()
    return f"{token[: len(token) - len(stripped)]}alt{rank}"


def _item(token: str, logprob: float, with_bytes: bool) -> JSONObject:
    item: JSONObject = {"token": token, "logprob": logprob}
    if with_bytes:
        item["bytes"] = list(token.encode())
    return item


def entries(chunks: list[str], top: int, *, with_bytes: bool = True) -> list[JSONObject]:
    """One entry per token: Chat's and a Responses output_text's carry `bytes`; the
    Responses text events' do not (their schema has no such member)."""
    out = []
    for token in chunks:
        logprob = _logprob(token)
        entry = _item(token, logprob, with_bytes)
        alternatives = [token] + [_alternative(token, rank) for rank in range(1, top)]
        entry["top_logprobs"] = [
            _item(alternative, round(logprob - rank, 6), with_bytes)
            for rank, alternative in enumerate(alternatives[:top])
        ]
        out.append(entry)
    return out


def gemini_top_logprobs(config: JSONObject) -> int | None:
    """As `chat_top_logprobs`, for a Gemini `generationConfig`."""
    top = first_of(config, "logprobs")
    if first_of(config, "responseLogprobs", "response_logprobs") is not True:
        if top is not None:
            raise RequestError(
                400,
                "logprobs is only valid if responseLogprobs is true.",
                "generationConfig.logprobs",
            )
        return None
    if isinstance(top, bool) or not isinstance(top, int | None) or not 0 <= (top or 0) <= _MAX_TOP:
        raise RequestError(
            400,
            f"logprobs must be in the range [0, {_MAX_TOP}], got {top!r}.",
            "generationConfig.logprobs",
        )
    return top or 0


def _token_id(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=3).digest(), "big")


def _gemini_candidate(token: str, logprob: float) -> JSONObject:
    return {"token": token, "tokenId": _token_id(token), "logProbability": logprob}


def gemini_result(chunks: list[str], top: int) -> JSONObject:
    """A `logprobsResult` for `chunks`: the alternatives (the token first) only if asked."""
    chosen = [_gemini_candidate(token, _logprob(token)) for token in chunks]
    result: JSONObject = {"chosenCandidates": chosen}
    if top:
        result["topCandidates"] = [
            {
                "candidates": [
                    _gemini_candidate(alt, round(entry["logProbability"] - rank, 6))
                    for rank, alt in enumerate(
                        [token] + [_alternative(token, rank) for rank in range(1, top)]
                    )
                ]
            }
            for token, entry in zip(chunks, chosen, strict=True)
        ]
    result["logProbabilitySum"] = round(sum(entry["logProbability"] for entry in chosen), 6)
    return result
