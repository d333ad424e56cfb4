"""The stream usage the fast path asks for, taken out for a client that did not ask."""

from __future__ import annotations

from polyrelay.providers.openai_chat.relay import drop_unasked_usage

CHUNK = b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}\n\n'
USAGE = b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n'
DONE = b"data: [DONE]\n\n"


def test_the_usage_chunk_goes() -> None:
    """The null usage members stay (the SDKs read them as no usage; taking them out would
    copy the whole stream)."""
    assert drop_unasked_usage(CHUNK + CHUNK + USAGE + DONE) == CHUNK + CHUNK + DONE
    assert drop_unasked_usage(USAGE) == b""


def test_a_partial_frame_at_the_end_is_kept_as_it_is() -> None:
    assert drop_unasked_usage(USAGE + b'data: {"id":"c","cho') == b'data: {"id":"c","cho'


def test_spaced_json_is_read_too() -> None:
    spaced = b'data: {"id": "c", "choices": [], "usage": {"prompt_tokens": 3}}\n\n'
    chunk = b'data: {"id": "c", "choices": [{"index": 0}], "usage": null}\n\n'
    assert drop_unasked_usage(chunk + spaced + DONE) == chunk + DONE


def test_chunks_without_choices_and_without_usage_stay() -> None:
    """Azure's first chunk holds the prompt's content filter results and no choices."""
    azure = b'data: {"id":"","choices":[],"prompt_filter_results":[{"prompt_index":0}]}\n\n'
    assert drop_unasked_usage(azure + CHUNK) == azure + CHUNK
    assert drop_unasked_usage(azure + CHUNK + USAGE + DONE) == azure + CHUNK + DONE


def test_usage_inside_a_chunk_with_choices_stays() -> None:
    """Some compatible servers put the usage in the last chunk with choices: harmless."""
    last = b'data: {"id":"c","choices":[{"index":0,"finish_reason":"stop"}],"usage":{"x":1}}\n\n'
    assert drop_unasked_usage(last) == last
