"""ChatResponse, StopReason and Usage."""

from __future__ import annotations

import enum

import msgspec

from polyrelay.ir.content import Part

__all__ = ["ChatResponse", "StopReason", "Usage"]


class StopReason(enum.Enum):
    END_TURN = "end_turn"
    MAX_TOKENS = "max_tokens"
    STOP_SEQUENCE = "stop_sequence"
    TOOL_USE = "tool_use"
    PAUSE_TURN = "pause_turn"
    REFUSAL = "refusal"
    CONTEXT_WINDOW = "model_context_window_exceeded"


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """Normalised usage. `input_tokens` INCLUDES cache reads and writes (OpenAI/Gemini
    convention); the Anthropic renderer subtracts them."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    """The part of `cache_write_tokens` written for one hour (Anthropic's `ttl: 1h`), which
    costs more than a 5-minute write; the other providers' writes have no such split."""
    reasoning_tokens: int = 0
    web_search_requests: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            web_search_requests=self.web_search_requests + other.web_search_requests,
        )


class ChatResponse(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    """The upstream's id for the response (frontends mint their own ids)."""
    model: str
    parts: tuple[Part, ...]
    stop_reason: StopReason
    stop_sequence: str | None = None
    usage: Usage = Usage()
