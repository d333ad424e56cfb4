"""What upstream_json reads and still refuses: a count written as an integral float is
the int; a fractional one is no count, and a string stays refused as before."""

from __future__ import annotations

import msgspec
import pytest

from polyrelay.pipeline.metering import usage_of_body
from polyrelay.providers import upstream_json
from polyrelay.schemas.openai_chat import CompletionUsage


@pytest.mark.parametrize("count", [b"11", b"11.0", b"1.1e1"])
def test_an_integral_count_is_the_int(count: bytes) -> None:
    usage = upstream_json.decode(b'{"prompt_tokens": ' + count + b"}", CompletionUsage)
    assert usage.prompt_tokens == 11
    assert type(usage.prompt_tokens) is int


@pytest.mark.parametrize("count", [b"11.5", b'"11"', b'"eleven"', b"true", b"[11]"])
def test_anything_else_is_refused(count: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        upstream_json.decode(b'{"prompt_tokens": ' + count + b"}", CompletionUsage)


@pytest.mark.parametrize(
    ("provider", "document"),
    [
        ("openai", {"usage": {"prompt_tokens": 11.0, "completion_tokens": 7.0}}),
        ("anthropic", {"usage": {"input_tokens": 11.0, "output_tokens": 7.0}}),
        ("openai-responses", {"usage": {"input_tokens": 11.0, "output_tokens": 7.0}}),
        ("gemini", {"usageMetadata": {"promptTokenCount": 11.0, "candidatesTokenCount": 7.0}}),
    ],
)
def test_a_relayed_body_meters_float_counts(provider: str, document: object) -> None:
    usage = usage_of_body(provider, document)
    assert (usage.input_tokens, usage.output_tokens) == (11, 7)


def test_a_relayed_body_with_a_fractional_count_meters_nothing() -> None:
    usage = usage_of_body("openai", {"usage": {"prompt_tokens": 11.5, "completion_tokens": 7}})
    assert (usage.input_tokens, usage.output_tokens) == (0, 0)


def test_a_nested_count_is_read_too() -> None:
    usage = upstream_json.convert(
        {"prompt_tokens_details": {"cached_tokens": 3.0}}, CompletionUsage
    )
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 3


@pytest.mark.parametrize("data", [b"[" * 100_000, b"[1.0, " + b"[" * 100_000])
def test_too_deep_json_is_a_decode_error(data: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        upstream_json.decode(data, list[int])
