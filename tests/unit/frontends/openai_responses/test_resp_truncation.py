"""`fit_context` against the rule it implements, written the obvious way (an estimate per
candidate turn): the same items kept, the same error, for any conversation. And the rule in
linear time: the obvious way took 30 s of the event loop for 8,000 short items."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, strategies as st
from tests.fuzz_support import FUZZ

from polyrelay.context import RequestContext
from polyrelay.errors import InvalidRequestError
from polyrelay.frontends.openai_responses.history import estimate_tokens, fit_context
from polyrelay.schemas.openai_responses import InputItemParam


def pinned(item: InputItemParam) -> bool:
    return item.type == "message" and item.role in ("system", "developer")


def reference(items: list[InputItemParam], fixed: int, limit: int, truncation: str) -> list[int]:
    """The rule: everything if it fits; with `auto`, from the earliest later turn (a user
    message) at which the rest plus the system and developer messages fit; else a 400."""
    kept = list(range(len(items)))
    if estimate_tokens(items, fixed) <= limit:
        return kept
    starts = [i for i, item in enumerate(items) if item.type == "message" and item.role == "user"]
    if truncation == "auto":
        for start in starts[1:]:
            kept = [i for i in range(len(items)) if i >= start or pinned(items[i])]
            if estimate_tokens([items[i] for i in kept], fixed) <= limit:
                return kept
    raise InvalidRequestError(str(estimate_tokens([items[i] for i in kept], fixed)))


def message(role: str, text: str) -> InputItemParam:
    return InputItemParam(type="message", role=role, content=text)


items_strategy = st.lists(
    st.one_of(
        st.builds(
            message,
            st.sampled_from(["user", "assistant", "system", "developer"]),
            st.text(max_size=40),
        ),
        st.builds(
            lambda args: InputItemParam(
                type="function_call", call_id="c", name="f", arguments=args
            ),
            st.text(max_size=40),
        ),
        st.builds(
            lambda out: InputItemParam(type="function_call_output", call_id="c", output=out),
            st.text(max_size=40),
        ),
    ),
    max_size=30,
)


@FUZZ
@given(
    items=items_strategy,
    fixed=st.integers(min_value=0, max_value=100),
    limit=st.integers(min_value=0, max_value=60),
    truncation=st.sampled_from(["auto", "disabled"]),
)
def test_the_same_items_are_kept_as_by_the_rule(
    items: list[InputItemParam], fixed: int, limit: int, truncation: str
) -> None:
    try:
        expected: list[int] | str = reference(items, fixed, limit, truncation)
    except InvalidRequestError as error:
        expected = f"about {error.message} tokens"
    ctx = RequestContext()
    try:
        got: list[int] | str = fit_context(
            items, fixed_chars=fixed, limit=limit, truncation=truncation, ctx=ctx
        )
    except InvalidRequestError as error:
        assert error.code == "context_length_exceeded"
        got = error.message
        assert isinstance(expected, str) and expected in got
        return
    assert got == expected
    assert bool(ctx.warnings) == (len(got) < len(items))


def test_many_items_take_linear_time() -> None:
    items = [message("user", "hello there, " * 3) for _ in range(20_000)]
    started = time.process_time()
    kept = fit_context(items, fixed_chars=0, limit=100, truncation="auto", ctx=RequestContext())
    assert time.process_time() - started < 2  # the quadratic way: minutes
    assert kept == list(range(19_990, 20_000))  # 39 characters, 10 tokens each
    with pytest.raises(InvalidRequestError, match="exceeds the context window"):
        fit_context(items, fixed_chars=0, limit=1, truncation="auto", ctx=RequestContext())


def test_system_messages_kept_from_dropped_turns_still_count() -> None:
    items = [message("system", "s" * 40), message("user", "a" * 40), message("user", "b" * 40)]
    # From the last turn on: the system message and "b", 80 characters, 20 tokens.
    assert fit_context(items, fixed_chars=0, limit=20, truncation="auto", ctx=RequestContext()) == [
        0,
        2,
    ]
    with pytest.raises(InvalidRequestError, match="about 20 tokens"):
        fit_context(items, fixed_chars=0, limit=19, truncation="auto", ctx=RequestContext())
