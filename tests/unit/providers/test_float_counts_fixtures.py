"""Every upstream fixture, with each integer member written as an integral float (`11.0`,
as a server that computes its counts and indexes as floats writes them): each provider
reads it as the fixture itself, streamed (full and relay parsers) or not."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from pathlib import Path

import pytest
from tests.unit.builders import route

from polyrelay.context import RequestContext
from polyrelay.ir import ChatResponse, StreamEvent
from polyrelay.providers import Provider, UpstreamResponse
from polyrelay.providers.anthropic import AnthropicProvider
from polyrelay.providers.gemini import GeminiProvider
from polyrelay.providers.openai_chat import OpenAIChatProvider
from polyrelay.providers.openai_responses import OpenAIResponsesProvider

UPSTREAM = Path(__file__).parents[2] / "fixtures" / "upstream"
PROVIDERS: dict[str, type[Provider]] = {
    "anthropic": AnthropicProvider,
    "openai-responses": OpenAIResponsesProvider,
    "openai": OpenAIChatProvider,
    "gemini": GeminiProvider,
}
_MEMBER_INT = re.compile(rb'((?<!\\)"(?!days")\w+":\s*-?\d+)(?=\s*[,}\]])')
"""An object member whose value is an integer: not one inside an escaped JSON string, nor
a tool's argument (`days`), which reaches the client as the upstream wrote it."""


def _floats(data: bytes) -> bytes:
    floated = _MEMBER_INT.sub(rb"\1.0", data)
    assert floated != data
    return floated


def _fixtures(suffix: str, kinds: Iterable[str] = PROVIDERS) -> list[object]:
    return [
        pytest.param(kind, path, id=f"{kind}/{path.stem}")
        for kind in kinds
        for path in sorted((UPSTREAM / kind).glob(f"*{suffix}"))
        if not path.stem.startswith("upstream-") or suffix == ".sse"
    ]


_issued: dict[str, itertools.count[int]] = {}


def _new_id(prefix: str = "") -> str:
    return f"{prefix}{next(_issued.setdefault(prefix, itertools.count()))}"


@pytest.fixture(autouse=True)
def _counted_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ids the gateway issues (Gemini's calls) are counted from 0 on each read, so two
    reads compare equal."""
    for module in ("gemini.stream", "gemini.response", "openai_chat.stream"):
        monkeypatch.setattr(f"polyrelay.providers.{module}.new_id", _new_id)


def _stream(kind: str, data: bytes, relay: bool) -> list[StreamEvent]:
    _issued.clear()
    provider, to = PROVIDERS[kind](), route(kind)  # type: ignore[arg-type]
    parser = (provider.relay_parser if relay else provider.stream_parser)(to, RequestContext())
    return parser.feed(data) + parser.finish()


def _parse(kind: str, body: bytes) -> ChatResponse:
    _issued.clear()
    provider, to = PROVIDERS[kind](), route(kind)  # type: ignore[arg-type]
    return provider.parse_response(
        UpstreamResponse(status=200, headers={}, body=body), to, RequestContext()
    )


@pytest.mark.parametrize(("kind", "path"), _fixtures(".sse"))
def test_a_stream(kind: str, path: Path) -> None:
    data = path.read_bytes()
    assert _stream(kind, _floats(data), relay=False) == _stream(kind, data, relay=False)


@pytest.mark.parametrize(
    ("kind", "path"), _fixtures(".sse", [k for k in PROVIDERS if k != "gemini"])
)
def test_a_relayed_stream(kind: str, path: Path) -> None:
    """Gemini has no same-protocol fast path, hence no relay parser."""
    data = path.read_bytes()
    assert _stream(kind, _floats(data), relay=True) == _stream(kind, data, relay=True)


@pytest.mark.parametrize(("kind", "path"), _fixtures(".json"))
def test_a_body(kind: str, path: Path) -> None:
    body = path.read_bytes()
    assert _parse(kind, _floats(body)) == _parse(kind, body)
