"""Shared fixtures for the Gemini provider tests: a route, a context, fixture loading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.unit.builders import route as build_route

from polyrelay.context import RequestContext
from polyrelay.providers import Route

FIXTURES = Path(__file__).parents[3] / "fixtures" / "upstream" / "gemini"


def make_route(upstream_model: str = "gemini-2.5-flash", api_key: str | None = "gk-test") -> Route:
    return build_route(
        "gemini",
        provider="google",
        public="flash",
        upstream=upstream_model,
        base_url="https://gemini.example/",
        api_key=api_key,
        headers={"x-extra": "1"},
    )


@pytest.fixture
def route() -> Route:
    return make_route()


@pytest.fixture
def ctx() -> RequestContext:
    return RequestContext("flash")


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def route_for() -> Callable[..., Route]:
    return make_route


@pytest.fixture
def upstream() -> Callable[[str], bytes]:
    return fixture_bytes
