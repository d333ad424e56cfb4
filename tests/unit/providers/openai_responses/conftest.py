"""Shared fixtures for the OpenAI Responses provider tests."""

from __future__ import annotations

from pathlib import Path

from tests.unit.builders import route

from polyrelay.providers import Route

FIXTURES = Path(__file__).parents[3] / "fixtures" / "upstream" / "openai-responses"


def make_route(api_key: str | None = "sk-test") -> Route:
    return route(
        "openai-responses",
        provider="oai",
        public="smart",
        upstream="gpt-5",
        base_url="https://api.example/v1/",
        api_key=api_key,
        headers={"x-extra": "1"},
    )


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()
