from __future__ import annotations

from typing import Any

import pytest

from polyrelay.errors import InvalidRequestError
from polyrelay.ir.tools import UserLocation, WebSearchTool
from polyrelay.search.options import validate_web_search_tool

OSLO = {
    "type": "approximate",
    "city": "Oslo",
    "region": "Oslo",
    "country": "NO",
    "timezone": "Europe/Oslo",
}


def tool(**fields: Any) -> dict[str, Any]:
    return {"type": "web_search_20250305", "name": "web_search", **fields}


def test_minimal_tool_gets_defaults() -> None:
    assert validate_web_search_tool({"type": "web_search_20250305"}) == WebSearchTool()


def test_full_tool_maps_to_ir() -> None:
    result = validate_web_search_tool(
        tool(
            max_uses=5,
            allowed_domains=["Met.no", "example.com/blog/"],
            user_location=OSLO,
            cache_control={"type": "ephemeral"},
        )
    )
    assert result == WebSearchTool(
        name="web_search",
        max_uses=5,
        allowed_domains=("met.no", "example.com/blog"),
        user_location=UserLocation(
            city="Oslo", region="Oslo", country="NO", timezone="Europe/Oslo"
        ),
    )


def test_blocked_domains_and_partial_location() -> None:
    result = validate_web_search_tool(
        tool(
            blocked_domains=["spam.example"], user_location={"type": "approximate", "country": "US"}
        )
    )
    assert result.blocked_domains == ("spam.example",)
    assert result.user_location == UserLocation(country="US")


@pytest.mark.parametrize("max_uses", [1, 20])
def test_max_uses_bounds_accepted(max_uses: int) -> None:
    assert validate_web_search_tool(tool(max_uses=max_uses)).max_uses == max_uses


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        (
            {"allowed_domains": ["a.com"], "blocked_domains": ["b.com"]},
            "allowed_domains",
            "together",
        ),
        ({"allowed_domains": [], "blocked_domains": []}, "allowed_domains", "together"),
        ({"allowed_domains": ["https://a.com"]}, "allowed_domains[0]", "scheme"),
        ({"blocked_domains": ["ok.com", "http://b.com/x"]}, "blocked_domains[1]", "scheme"),
        ({"allowed_domains": ["*.a.com"]}, "allowed_domains[0]", "wildcard"),
        ({"allowed_domains": [""]}, "allowed_domains[0]", "empty"),
        ({"allowed_domains": [3]}, "allowed_domains[0]", "string"),
        ({"allowed_domains": "a.com"}, "allowed_domains", "array"),
        ({"max_uses": 0}, "max_uses", "between 1 and 20"),
        ({"max_uses": 21}, "max_uses", "between 1 and 20"),
        ({"max_uses": "3"}, "max_uses", "integer"),
        ({"max_uses": True}, "max_uses", "integer"),
        ({"max_uses": 2.5}, "max_uses", "integer"),
        ({"name": ""}, "name", "1-128"),
        ({"name": "web search"}, "name", "1-128"),
        ({"user_location": {**OSLO, "country": "NOR"}}, "user_location.country", "two-letter"),
        ({"user_location": {**OSLO, "country": "no"}}, "user_location.country", "two-letter"),
        ({"user_location": {**OSLO, "country": 47}}, "user_location.country", "two-letter"),
        (
            {"user_location": {**OSLO, "timezone": "Europe/Atlantis"}},
            "user_location.timezone",
            "IANA",
        ),
        ({"user_location": {**OSLO, "timezone": "+02:00"}}, "user_location.timezone", "IANA"),
        ({"user_location": {**OSLO, "timezone": "localtime"}}, "user_location.timezone", "IANA"),
        ({"user_location": {**OSLO, "type": "exact"}}, "user_location.type", "approximate"),
        ({"user_location": {"country": "NO"}}, "user_location.type", "approximate"),
        ({"user_location": {**OSLO, "city": ""}}, "user_location.city", "1-255"),
        ({"user_location": {**OSLO, "zip": "0150"}}, "user_location.zip", "unknown field"),
        ({"user_location": "Oslo"}, "user_location", "object"),
        ({"unknown": 1}, "unknown", "unknown field"),
    ],
)
def test_bad_option_is_a_400_naming_the_field(
    fields: dict[str, Any], param: str, message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message) as caught:
        validate_web_search_tool(tool(**fields))
    assert caught.value.status == 400
    assert caught.value.param == param
    assert caught.value.message.startswith(f"{param}: ")


def test_wrong_type_is_a_400() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_web_search_tool({"type": "web_search_20990101"})
    assert caught.value.param == "type"


def test_param_prefix_names_the_tool() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        validate_web_search_tool(tool(max_uses=0), param="tools[2]")
    assert caught.value.param == "tools[2].max_uses"
    assert caught.value.message.startswith("tools[2].max_uses: must be between 1 and 20")
