"""Upstream event streams in shapes the SSE spec allows and real servers send, through the
fast path and translated, read by the official SDKs: CRLF or CR line endings
(sse-starlette: llama-cpp-python, Xinference), a leading byte order mark, a last event
without its blank line. The text arrives whole and the usage is metered. An upstream
serving the recorded fixtures (tests/fixtures/upstream), reshaped."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from tests.integration.exact_upstream import Answer, Metered, metered_four, stream_answer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "upstream"
CHAT, RESPONSES, MESSAGES, GEMINI = "v-chat", "v-responses", "v-messages", "v-gemini"
Shape = Callable[[bytes], bytes]
SHAPES: dict[str, Shape] = {
    "crlf": lambda body: body.replace(b"\n", b"\r\n"),
    "cr": lambda body: body.replace(b"\n", b"\r"),
    "bom": lambda body: b"\xef\xbb\xbf" + body,
    "unterminated": lambda body: body.rstrip(b"\n"),
}
_FOLDERS = {"chat": "openai", "responses": "openai-responses", "messages": "anthropic"}


def _answering(path: str, body: bytes) -> Answer:
    shape = re.search(rb"SHAPE:(\w+)", body)
    assert shape is not None
    folder = "gemini"
    for suffix, protocol in (("/chat/completions", "chat"), ("/responses", "responses")):
        folder = _FOLDERS[protocol] if path.endswith(suffix) else folder
    folder = _FOLDERS["messages"] if path.endswith("/messages") else folder
    fixture = (FIXTURES / folder / "basic.sse").read_bytes()
    return stream_answer(SHAPES[shape.group(1).decode()](fixture))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Metered]:
    yield from metered_four(_answering, tmp_path_factory.mktemp("sse-variants"), "v")


def _text_of(folder: str) -> str:
    """The text of the fixture's answer, from its non-streamed twin."""
    answer = json.loads((FIXTURES / folder / "basic.json").read_text())
    if folder == "openai":
        return str(answer["choices"][0]["message"]["content"])
    if folder == "gemini":
        return "".join(p.get("text", "") for p in answer["candidates"][0]["content"]["parts"])
    blocks = answer["content"] if folder == "anthropic" else answer["output"][-1]["content"]
    return "".join(block.get("text", "") for block in blocks)


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize(
    ("model", "folder"),
    [(CHAT, "openai"), (RESPONSES, "openai-responses"), (MESSAGES, "anthropic"),
     (GEMINI, "gemini")],
)  # fmt: skip
def test_every_client_reads_the_whole_stream(
    served: Metered, shape: str, model: str, folder: str
) -> None:
    key = served.new_key()
    prompt = f"SHAPE:{shape}"
    chat = openai.OpenAI(base_url=served.url + "/v1", api_key=key[1], max_retries=0)
    with chat.chat.completions.stream(
        model=model, messages=[{"role": "user", "content": prompt}]
    ) as events:
        completion = events.get_final_completion()
    assert completion.choices[0].message.content == _text_of(folder), (shape, model)
    with chat.responses.stream(model=model, input=prompt) as events:
        response = events.get_final_response()
    assert response.output_text == _text_of(folder), (shape, model)
    claude = anthropic.Anthropic(base_url=served.url, api_key=key[1], max_retries=0)
    with claude.messages.stream(
        model=model, max_tokens=100, messages=[{"role": "user", "content": prompt}]
    ) as stream:
        message = stream.get_final_message()
    texts = [block.text for block in message.content if block.type == "text"]
    assert "".join(texts) == _text_of(folder), (shape, model)
