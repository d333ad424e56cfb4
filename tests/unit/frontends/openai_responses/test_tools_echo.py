"""A Response's echoed tools are written from their text encoded once per tool list
(encode_echoing): the same bytes as encoding the Response, the Response untouched."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from polyrelay import codec
from polyrelay.context import RequestContext
from polyrelay.frontends.openai_responses.decode import options_from_params, parse_params
from polyrelay.frontends.openai_responses.encode import encode_echoing, response_shell

CODEX = Path(__file__).parents[3] / "fixtures/clients/codex"


def test_the_echo_is_the_responses_own_encoding() -> None:
    sample = json.loads((CODEX / "codex_responses_function_call_output_turn.json").read_text())
    body = json.dumps(sample["body"]).encode()
    for _ in range(2):  # the second time from the kept text: the same list object
        options = options_from_params(parse_params(body), RequestContext())
        assert options.tools
        shell = response_shell(RequestContext(), options, "completed", "resp_1")
        assert encode_echoing(shell) == codec.encode(shell)
        assert isinstance(shell.tools, list)  # untouched: still builtins-able
        assert msgspec.to_builtins(shell)["tools"] == msgspec.to_builtins(options.tools)
    empty = response_shell(RequestContext(), None, "completed", "resp_2")
    assert encode_echoing(empty) == codec.encode(empty)
