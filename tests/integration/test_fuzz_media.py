"""Damaged files in requests to a real gateway: a PDF with bytes changed, cut or spliced,
sent to a model that cannot read PDFs (the gateway extracts its text), and the same done to
a PNG and a plain-text document. Whatever the bytes, the answer is a success or an error in
the client's protocol, never a 500, and the gateway's log holds nothing of the file's
(POLYRELAY_FUZZ_EXAMPLES examples a test, 60 by default)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given, strategies as st

from tests.fuzz_support import FUZZ, UNHANDLED, LogReader, assert_protocol_answer
from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.media_helpers import NOTES, PDF, PNG
from tests.integration.servers import STATIC_KEY, gateway_config

FILES = {
    "pdf": ("document", "application/pdf", PDF),
    "png": ("image", "image/png", PNG),
    "text": ("document", "text/plain", NOTES.encode()),
}


@pytest.fixture(scope="module")
def gateway(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("fuzz-media")
    config = workdir / "polyrelay.yaml"
    text_only = "  text-only: {provider: emu-openai, model: gpt-4o-mini, pdf: false}\n"
    config.write_text(
        gateway_config(emulator.url, workdir / "db.sqlite").replace(
            "models:\n", "models:\n" + text_only, 1
        )
    )
    yield from serving_config(config)


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` with bytes overwritten, cut short, a piece of it spliced in, or zeroed."""
    out = bytearray(data)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=max(len(out) - 1, 0)))
        operation = draw(st.sampled_from(["overwrite", "cut", "splice", "zero"]))
        if operation == "overwrite":
            out[at : at + 1] = bytes([draw(st.integers(min_value=0, max_value=255))])
        elif operation == "cut":
            del out[at:]
        elif operation == "splice":
            start = draw(st.integers(min_value=0, max_value=len(data) - 1))
            out[at:at] = data[start : start + draw(st.integers(min_value=1, max_value=64))]
        else:
            out[at : at + draw(st.integers(min_value=1, max_value=64))] = b"\x00"
    return bytes(out)


@pytest.mark.parametrize("name", sorted(FILES))
@FUZZ
@given(
    data=st.data(), model=st.sampled_from(["text-only", "claude-sonnet-4-5", "gemini-2.5-flash"])
)
def test_a_damaged_file_gets_an_answer_and_stays_out_of_the_log(
    name: str, data: st.DataObject, model: str, gateway: Gateway
) -> None:
    kind, media_type, original = FILES[name]
    content = data.draw(damaged(original), label="file")
    source = {"type": "base64", "media_type": media_type}
    source["data"] = base64.b64encode(content).decode()
    body = {
        "model": model,
        "max_tokens": 50,
        "messages": [
            {
                "role": "user",
                "content": [{"type": kind, "source": source}, {"type": "text", "text": "read"}],
            }
        ],
    }
    log = LogReader(gateway.log)
    headers = {"x-api-key": STATIC_KEY, "anthropic-version": "2023-06-01"}
    reply = httpx.post(f"{gateway.url}/v1/messages", json=body, headers=headers, timeout=60)
    assert_protocol_answer(reply, anthropic=True)
    logged = log.new_text()
    assert not any(marker in logged for marker in (*UNHANDLED, "pypdf")), logged
