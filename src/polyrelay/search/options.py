"""Validation of the Anthropic server tool `web_search_20250305` into `ir.WebSearchTool`.

Every error is an `InvalidRequestError` (400) whose message starts with the offending field,
e.g. `tools[1].user_location.country: must be a two-letter ISO 3166 code such as "NO"`.
Domain entries come back normalised (lower-case host, no trailing slash), so the filter and
the upstream mappings see one spelling.
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from typing import Any

from polyrelay.codec import JSONObject
from polyrelay.errors import InvalidRequestError
from polyrelay.ir.tools import UserLocation, WebSearchTool
from polyrelay.search.domains import parse_domain

__all__ = [
    "WEB_SEARCH_TOOL_TYPES",
    "validate_domains",
    "validate_user_location",
    "validate_web_search_tool",
]

WEB_SEARCH_TOOL_TYPES = frozenset({"web_search_20250305"})
MAX_USES_LIMIT = 20
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_MAX_PLACE = 255
# Fields the API accepts on every tool and that mean nothing to a gateway-run search.
_PASSIVE_FIELDS = frozenset({"cache_control", "allowed_callers", "defer_loading", "strict"})
_TOOL_FIELDS = frozenset(
    {"type", "name", "max_uses", "allowed_domains", "blocked_domains", "user_location"}
)
_LOCATION_FIELDS = frozenset({"type", "city", "region", "country", "timezone"})
# Entries of the tz database that are not IANA zone names a client would send.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


def validate_web_search_tool(tool: JSONObject, *, param: str = "") -> WebSearchTool:
    """The IR tool for a `web_search_20250305` declaration, or a 400 naming the bad field.

    `param` is the tool's own path in the request (e.g. `tools[2]`) and prefixes every field
    named in an error.
    """
    path = _Path(param)
    tool_type = tool.get("type")
    if tool_type not in WEB_SEARCH_TOOL_TYPES:
        raise path.error(
            "type", f"must be one of {sorted(WEB_SEARCH_TOOL_TYPES)}, got {tool_type!r}"
        )
    _reject_unknown(tool, _TOOL_FIELDS | _PASSIVE_FIELDS, path)
    allowed, blocked = tool.get("allowed_domains"), tool.get("blocked_domains")
    if allowed is not None and blocked is not None:
        raise path.error(
            "allowed_domains", "allowed_domains and blocked_domains cannot be used together"
        )
    return WebSearchTool(
        name=_name(tool.get("name", "web_search"), path),
        max_uses=_max_uses(tool.get("max_uses"), path),
        allowed_domains=_domains(allowed, path.child("allowed_domains")),
        blocked_domains=_domains(blocked, path.child("blocked_domains")),
        user_location=_location(tool.get("user_location"), path.child("user_location")),
    )


def validate_domains(value: Any, *, param: str) -> tuple[str, ...]:
    """A domain list of another protocol's web search tool (e.g. the Responses API's
    `filters.allowed_domains`), by the same rules; `param` is the list's own path."""
    return _domains(value, _Path(param))


def validate_user_location(
    value: Any, *, param: str, require_type: bool = True
) -> UserLocation | None:
    """A `user_location` object by the same rules; `require_type=False` for protocols where
    `type: "approximate"` may be left out (the Responses API's)."""
    if not require_type and isinstance(value, dict) and "type" not in value:
        value = {**value, "type": "approximate"}
    return _location(value, _Path(param))


class _Path:
    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def child(self, field: str) -> _Path:
        return _Path(f"{self.prefix}.{field}" if self.prefix else field)

    def error(self, field: str, message: str) -> InvalidRequestError:
        name = self.child(field).prefix
        return InvalidRequestError(f"{name}: {message}", param=name)


def _reject_unknown(value: JSONObject, known: frozenset[str], path: _Path) -> None:
    for key in value:
        if key not in known:
            raise path.error(key, f"unknown field; expected one of {sorted(known)}")


def _name(value: Any, path: _Path) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise path.error("name", "must be 1-128 characters of letters, digits, _ or -")
    return value


def _max_uses(value: Any, path: _Path) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise path.error("max_uses", f"must be an integer, got {value!r}")
    if not 1 <= value <= MAX_USES_LIMIT:
        raise path.error("max_uses", f"must be between 1 and {MAX_USES_LIMIT}, got {value}")
    return value


def _domains(value: Any, path: _Path) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidRequestError(f"{path.prefix}: must be an array of domains", param=path.prefix)
    out: list[str] = []
    for index, entry in enumerate(value):
        name = f"{path.prefix}[{index}]"
        if not isinstance(entry, str):
            raise InvalidRequestError(f"{name}: must be a string", param=name)
        try:
            out.append(str(parse_domain(entry)))
        except ValueError as exc:
            raise InvalidRequestError(f"{name}: {exc}", param=name) from exc
    return tuple(out)


def _location(value: Any, path: _Path) -> UserLocation | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidRequestError(f"{path.prefix}: must be an object", param=path.prefix)
    _reject_unknown(value, _LOCATION_FIELDS, path)
    if value.get("type") != "approximate":
        raise path.error("type", f"must be 'approximate', got {value.get('type')!r}")
    country, timezone = value.get("country"), value.get("timezone")
    if country is not None and (not isinstance(country, str) or not _COUNTRY.match(country)):
        raise path.error(
            "country", f'must be a two-letter ISO 3166 code such as "NO", got {country!r}'
        )
    if timezone is not None and (not isinstance(timezone, str) or not _is_timezone(timezone)):
        raise path.error(
            "timezone", f'must be an IANA time zone such as "Europe/Oslo", got {timezone!r}'
        )
    return UserLocation(
        city=_place(value.get("city"), path, "city"),
        region=_place(value.get("region"), path, "region"),
        country=country,
        timezone=timezone,
    )


def _place(value: Any, path: _Path, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= _MAX_PLACE:
        raise path.error(field, f"must be a string of 1-{_MAX_PLACE} characters")
    return value


def _is_timezone(name: str) -> bool:
    zones = _timezones()
    return name in zones if zones else _loads_as_zone(name)


@functools.cache
def _timezones() -> frozenset[str]:
    # Computed on first use, not at import: it walks the whole tz database.
    return frozenset(zoneinfo.available_timezones() - _NOT_ZONES)


def _loads_as_zone(name: str) -> bool:
    # Without a listable tz database (e.g. only the tzdata wheel's resources), try loading it.
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True
