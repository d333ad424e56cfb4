"""The protocol-neutral planner: directives, truncation, stop sequences, word chunks."""

from __future__ import annotations

import pytest

from polyrelay.emulator.script import (
    Conversation,
    Finish,
    RequestError,
    ToolResult,
    make_plan,
    word_chunks,
)


def plan_for(text: str, **conversation_fields):
    return make_plan(Conversation(user_text=text, **conversation_fields))


def test_word_chunks_join_back_including_newlines_and_trailing_space():
    text = "Tool a returned: x\nTool b returned: y "
    chunks = word_chunks(text)
    assert "".join(chunks) == text
    assert chunks[:2] == ["Tool", " a"]
    assert word_chunks("") == []


def test_directives_are_removed_and_whitespace_collapsed():
    plan = plan_for("  hello [[delay 5]]\n\n world [[cut 2]] [[think a  b]] [[pace 10]]")
    assert plan.text == "You said: hello world"
    assert plan.delay_seconds == 0.005
    assert plan.cut_after == 2
    assert plan.thinking == "a b"
    assert plan.pace == 10


def test_tool_directive_with_nested_brackets_in_json():
    plan = plan_for('[[tool t {"a": [[1, 2]], "b": {"c": "]"}}]]', tool_names={"t"})
    assert plan.tool_calls[0].arguments == {"a": [[1, 2]], "b": {"c": "]"}}
    assert plan.finish is Finish.TOOL_USE
    assert plan.text == ""


@pytest.mark.parametrize(
    "text",
    [
        "[[tool missing {}]]",
        "[[tool t {not json}]]",
        "[[tool t [1]]]",
        "[[error 200]]",
        "[[delay soon]]",
        "[[words -1]]",
    ],
)
def test_bad_directives_are_request_errors(text):
    with pytest.raises(RequestError) as caught:
        plan_for(text, tool_names={"t"})
    assert caught.value.status == 400


def test_error_once_key_includes_the_reply():
    first = plan_for("[[error 529 once]] a")
    second = plan_for("[[error 529 once]] b")
    assert first.error is not None and second.error is not None
    assert first.error.status == 529
    assert first.error.once_key != second.error.once_key
    assert plan_for("[[error 500]]").error.once_key is None


def test_stop_sequence_before_max_tokens():
    plan = plan_for("one two three four", stop_sequences=["three", "two"], max_tokens=10)
    assert plan.text == "You said: one "
    assert plan.finish is Finish.STOP_SEQUENCE
    assert plan.stop_sequence == "two"


def test_max_tokens_wins_when_it_comes_first():
    plan = plan_for("one two three four", stop_sequences=["four"], max_tokens=3)
    assert plan.text == "You said: one"
    assert plan.finish is Finish.LENGTH
    assert plan.stop_sequence is None


def test_tool_results_ignore_directives():
    plan = make_plan(
        Conversation(
            user_text="[[error 500]]", tool_results=[ToolResult("t", "ok"), ToolResult("u", "")]
        )
    )
    assert plan.error is None
    assert plan.text == "Tool t returned: ok\nTool u returned:"


def test_output_tokens_count_reply_thinking_and_calls():
    plan = plan_for("[[think x y]] [[words 3]]")
    assert plan.output_tokens == 5
    assert plan.reasoning_tokens == 2


AGENT_SCRIPT = (
    '[[tool read {"p": 1}]] look [[then]] [[think édit]] [[tool edit {"p": 2}]] [[then]] done'
)


def test_then_plays_the_first_phase_before_any_tool_result():
    plan = plan_for(AGENT_SCRIPT, tool_names={"read", "edit"})
    assert [(call.name, call.arguments) for call in plan.tool_calls] == [("read", {"p": 1})]
    assert plan.thinking == ""


def test_then_plays_the_phase_after_the_one_whose_results_came_back():
    second = plan_for(
        AGENT_SCRIPT, tool_names={"read", "edit"}, tool_results=[ToolResult("read", "x")]
    )
    assert [(call.name, call.arguments) for call in second.tool_calls] == [("edit", {"p": 2})]
    assert second.thinking == "édit" and second.finish is Finish.TOOL_USE
    last = plan_for(
        AGENT_SCRIPT, tool_names={"read", "edit"}, tool_results=[ToolResult("edit", "ok")]
    )
    assert last.tool_calls == [] and last.text == "Tool edit returned: ok"
