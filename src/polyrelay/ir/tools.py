"""Tool declarations and the tool-choice policy."""

from __future__ import annotations

import enum

import msgspec

from polyrelay.ir.content import JSONSchema

__all__ = ["FunctionTool", "ToolChoice", "ToolChoiceMode", "UserLocation", "WebSearchTool"]


class FunctionTool(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str | None = None
    parameters: JSONSchema | None = None
    strict: bool | None = None


class UserLocation(msgspec.Struct, frozen=True, kw_only=True):
    city: str | None = None
    region: str | None = None
    country: str | None = None
    timezone: str | None = None


class WebSearchTool(msgspec.Struct, frozen=True, kw_only=True):
    """The server-side web search tool (Anthropic web_search_20250305 / Responses web_search)."""

    name: str = "web_search"
    max_uses: int | None = None
    allowed_domains: tuple[str, ...] = ()
    blocked_domains: tuple[str, ...] = ()
    user_location: UserLocation | None = None


class ToolChoiceMode(enum.Enum):
    AUTO = "auto"
    NONE = "none"
    REQUIRED = "required"
    NAMED = "named"


class ToolChoice(msgspec.Struct, frozen=True, kw_only=True):
    mode: ToolChoiceMode = ToolChoiceMode.AUTO
    name: str | None = None
    """The forced tool, when mode is NAMED."""
