"""An upstream that compresses its answer though the gateway never asked it to (it sends
`Accept-Encoding: identity`): `deflate` as raw deflate data (no zlib header, as many servers send
it) is read like the zlib-wrapped `deflate` HTTP means and like gzip, streamed or not, on
every upstream type (raw deflate was a 502 "invalid HTTP from the upstream: the
callback failed"); `br`, which the gateway cannot read, is a 502 in the client's protocol
that names it (it was "The upstream could not be reached: unsupported content-encoding
'br'"). Official SDKs → a real gateway → an upstream serving these exact bytes
(tests/integration/unreadable_upstream.py). An error answer in br keeps its status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.unreadable_upstream import (
    CHAT,
    GEMINI,
    MESSAGES,
    RESPONSES,
    Metered,
    serve,
)

READABLE = ["deflate", "zdeflate", "gzip"]
BR = "the upstream answered with content-encoding br, which the gateway did not ask for"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from serve(tmp_path_factory.mktemp("unreadable-encodings"))


def _say(coding: str) -> Any:
    return [{"role": "user", "content": f"hi SCEN:coded_{coding}"}]


def _openai(served: Metered) -> openai.OpenAI:
    return openai.OpenAI(base_url=served.url + "/v1", api_key=served.new_key()[1], max_retries=0)


def _anthropic(served: Metered) -> anthropic.Anthropic:
    key = served.new_key()[1]
    return anthropic.Anthropic(base_url=served.url, api_key=key, max_retries=0)


@pytest.mark.parametrize("model", [CHAT, RESPONSES, MESSAGES, GEMINI])
@pytest.mark.parametrize("coding", READABLE)
def test_a_compressed_answer_is_read(served: Metered, coding: str, model: str) -> None:
    answer = _openai(served).chat.completions.create(model=model, messages=_say(coding))
    assert answer.usage is not None and answer.usage.prompt_tokens == 11


@pytest.mark.parametrize("coding", READABLE)
def test_a_compressed_stream_is_read_relayed_and_translated(served: Metered, coding: str) -> None:
    chunks = _openai(served).chat.completions.create(model=CHAT, messages=_say(coding), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    with _anthropic(served).messages.stream(
        model=CHAT, max_tokens=100, messages=_say(coding)
    ) as events:
        assert events.get_final_text() == "Hello"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("model", [CHAT, MESSAGES])
def test_br_is_a_502_that_names_it(served: Metered, model: str, stream: bool) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        list(
            _openai(served).chat.completions.create(model=model, messages=_say("br"), stream=stream)
        )
    assert caught.value.status_code == 502
    assert BR in caught.value.message
    with pytest.raises(anthropic.APIStatusError) as raised:
        _anthropic(served).messages.create(model=model, max_tokens=100, messages=_say("br"))
    assert raised.value.status_code == 502
    assert BR in raised.value.message


def test_br_to_a_responses_client(served: Metered) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        _openai(served).responses.create(model=RESPONSES, input="hi SCEN:coded_br")
    assert caught.value.status_code == 502
    assert BR in caught.value.message


@pytest.mark.parametrize("model", [CHAT, RESPONSES, MESSAGES, GEMINI])
def test_an_error_in_an_unreadable_coding_keeps_its_status(served: Metered, model: str) -> None:
    """A 429 whose body is in br was a 502: the client did not back off, and lost the
    upstream's retry-after-ms. Only the body is lost now."""
    say = [{"role": "user", "content": "hi SCEN:coded429_br"}]
    with pytest.raises(openai.RateLimitError) as caught:
        _openai(served).chat.completions.create(model=model, messages=say)
    assert "content-encoding br, which the gateway did not ask for" in caught.value.message
    if model != GEMINI:  # Gemini says when to retry in its body's RetryInfo, not a header
        assert caught.value.response.headers["retry-after-ms"] == "1500"
    with pytest.raises(anthropic.RateLimitError) as raised:
        _anthropic(served).messages.create(model=model, max_tokens=100, messages=say)
    assert "content-encoding br" in raised.value.message
