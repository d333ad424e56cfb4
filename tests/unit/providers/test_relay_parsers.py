"""The parsers of relayed streams (`relay_parser`) read only usage and the end: on every
upstream fixture they give the usage, the end and the errors of the full parser, and
they do not decode content."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.builders import route

from polyrelay.context import RequestContext
from polyrelay.ir import (
    MessageStart,
    MessageStop,
    PartStart,
    StreamError,
    StreamEvent,
    TextDelta,
    ToolArgsDelta,
    Usage,
    UsageDelta,
)
from polyrelay.providers import StreamParser
from polyrelay.providers.anthropic import AnthropicProvider
from polyrelay.providers.openai_chat import OpenAIChatProvider
from polyrelay.providers.openai_responses import OpenAIResponsesProvider

UPSTREAM = Path(__file__).parents[2] / "fixtures" / "upstream"
PROVIDERS = {
    "anthropic": AnthropicProvider,
    "openai-responses": OpenAIResponsesProvider,
    "openai": OpenAIChatProvider,
}
CASES = [
    pytest.param(kind, path, id=f"{kind}/{path.stem}")
    for kind in PROVIDERS
    for path in sorted((UPSTREAM / kind).glob("*.sse"))
]


def _run(parser: StreamParser, data: bytes, chunk: int) -> list[StreamEvent]:
    events = [e for i in range(0, len(data), chunk) for e in parser.feed(data[i : i + chunk])]
    return events + parser.finish()


def _usage(events: list[StreamEvent]) -> Usage | None:
    """What the meter keeps: the last usage a MessageStart or UsageDelta carried."""
    usage = None
    for event in events:
        if isinstance(event, UsageDelta):
            usage = event.usage
        elif isinstance(event, MessageStart) and event.usage is not None:
            usage = event.usage
    return usage


@pytest.mark.parametrize(("kind", "path"), CASES)
@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_relay_parser_reads_the_usage_and_the_end(kind: str, path: Path, chunk: int) -> None:
    provider = PROVIDERS[kind]()
    data, to = path.read_bytes(), route(kind)
    full = _run(provider.stream_parser(to, RequestContext()), data, chunk)
    relay = _run(provider.relay_parser(to, RequestContext()), data, chunk)
    assert _usage(relay) == _usage(full)
    assert [e for e in relay if isinstance(e, StreamError)] == [
        e for e in full if isinstance(e, StreamError)
    ]
    # a MessageStop is the end, whatever stop reason it gives: the client reads the
    # reason from the relayed bytes
    assert any(isinstance(e, MessageStop) for e in relay) == any(
        isinstance(e, MessageStop) for e in full
    )
    if kind != "openai":  # named events: content is not decoded at all
        assert not [e for e in relay if isinstance(e, TextDelta | ToolArgsDelta)]
        assert [e for e in full if isinstance(e, PartStart)] or "truncated" in path.stem
