"""The emulator's prompt-cache simulation: the cache itself (prompt_cache.PromptCache, on a
fake clock), then each provider's usage through its official SDK: Anthropic writes a
marked prefix then reads it (5m or 1h), OpenAI and Gemini read a prefix seen before."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

from polyrelay.emulator.anthropic_cache import minimum_cacheable
from polyrelay.emulator.prompt_cache import (
    FIVE_MINUTES,
    ONE_HOUR,
    Breakpoint,
    CachedPrompt,
    PromptCache,
    openai_prompt,
)


def words(n: int, tag: str = "w") -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def explicit(blocks: list[str], marks: list[tuple[int, float]], minimum: int = 1024) -> Any:
    breakpoints = [Breakpoint(block, ttl) for block, ttl in marks]
    return CachedPrompt("claude-sonnet-4-5", blocks, minimum, breakpoints)


# --- the cache itself ------------------------------------------------------------------


def test_a_marked_prefix_is_written_then_read_until_its_ttl_ends() -> None:
    clock = Clock()
    cache = PromptCache(clock=clock)
    prompt = explicit([words(1100), "question"], [(0, FIVE_MINUTES)])
    first = cache.use("k", prompt)
    assert (first.read, first.written_5m, first.written_1h) == (0, 1100, 0)
    clock.now += FIVE_MINUTES - 1
    assert cache.use("k", prompt).read == 1100
    clock.now += FIVE_MINUTES - 1  # the read renewed it
    assert cache.use("k", prompt).read == 1100
    clock.now += FIVE_MINUTES + 1
    assert cache.use("k", prompt).written_5m == 1100


def test_one_hour_marks_are_written_as_such_and_outlive_five_minutes() -> None:
    clock = Clock()
    cache = PromptCache(clock=clock)
    prompt = explicit([words(1100), words(200, "x"), "q"], [(0, ONE_HOUR), (1, FIVE_MINUTES)])
    first = cache.use("k", prompt)
    assert (first.read, first.written_1h, first.written_5m) == (0, 1100, 200)
    clock.now += 30 * 60
    later = cache.use("k", prompt)
    assert (later.read, later.written_1h, later.written_5m) == (1100, 0, 200)


def test_below_the_minimum_nothing_is_cached_and_keys_do_not_share() -> None:
    cache = PromptCache()
    short = explicit([words(1023), "q"], [(0, FIVE_MINUTES)])
    assert cache.use("k", short).cached == 0
    assert cache.use("k", short).cached == 0
    long = explicit([words(1024), "q"], [(0, FIVE_MINUTES)])
    assert cache.use("k", long).written == 1024
    assert cache.use("other", long).read == 0
    assert cache.use("k", long).read == 1024


def test_a_growing_conversation_reads_the_last_turn_back_within_20_blocks() -> None:
    """Claude Code marks the last block of every turn: the next turn's breakpoint moved
    two blocks on, and the API's lookback still finds the previous one."""
    cache = PromptCache()
    turn = [words(1100), "first question", "first answer"]
    cache.use("k", explicit(turn, [(0, FIVE_MINUTES), (2, FIVE_MINUTES)]))
    grown = [*turn, "second question", "second answer"]
    usage = cache.use("k", explicit(grown, [(0, FIVE_MINUTES), (4, FIVE_MINUTES)]))
    assert (usage.read, usage.written) == (1104, 4)


def test_openai_reads_the_longest_prefix_seen_in_steps_of_128() -> None:
    cache = PromptCache()
    prompt = openai_prompt("gpt-4o-mini", [words(1500)], 1500, None)
    assert prompt is not None
    assert cache.use("k", prompt).read == 0
    assert cache.use("k", prompt).read == 1408  # 1024 + 3 * 128
    longer = openai_prompt("gpt-4o-mini", [words(1500), words(300, "x")], 1800, None)
    assert longer is not None and cache.use("k", longer).read == 1408
    assert openai_prompt("gpt-4o-mini", [words(1023)], 1023, None) is None


def test_the_oldest_entries_are_forgotten_past_the_capacity() -> None:
    cache = PromptCache(capacity=2)
    for tag in "abc":
        cache.use("k", explicit([words(1100, tag)], [(0, FIVE_MINUTES)]))
    assert len(cache) == 2
    assert cache.use("k", explicit([words(1100, "a")], [(0, FIVE_MINUTES)])).read == 0
    assert cache.use("k", explicit([words(1100, "c")], [(0, FIVE_MINUTES)])).read == 1100


def test_the_minimum_follows_the_model() -> None:
    assert minimum_cacheable("claude-sonnet-4-5") == 1024
    assert minimum_cacheable("claude-opus-4-1-20250805") == 1024
    assert minimum_cacheable("claude-opus-4-6") == 4096
    assert minimum_cacheable("claude-haiku-4-5-20251001") == 4096
    assert minimum_cacheable("claude-3-5-haiku-latest") == 2048


# --- through the SDKs --------------------------------------------------------------------


def _anthropic(base_url: str, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0)


def _cached_system(text: str, ttl: str | None = None) -> list[Any]:
    marker: dict[str, str] = {"type": "ephemeral"}
    if ttl:
        marker["ttl"] = ttl
    return [{"type": "text", "text": text, "cache_control": marker}]


def test_anthropic_writes_then_reads_a_marked_system_prompt(base_url: str, unique: Any) -> None:
    client = _anthropic(base_url, unique("sk-ant"))
    system = _cached_system(words(1200))
    ask = {"model": "claude-sonnet-4-5", "max_tokens": 20, "system": system}
    first = client.messages.create(**ask, messages=[{"role": "user", "content": "hi there"}])
    usage = first.usage
    assert (usage.input_tokens, usage.cache_creation_input_tokens) == (2, 1200)
    assert usage.cache_read_input_tokens == 0 and usage.service_tier == "standard"
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_5m_input_tokens == 1200
    assert usage.cache_creation.ephemeral_1h_input_tokens == 0
    with client.messages.stream(**ask, messages=[{"role": "user", "content": "and again"}]) as s:
        final = s.get_final_message()
    assert (final.usage.input_tokens, final.usage.cache_read_input_tokens) == (2, 1200)
    assert final.usage.cache_creation_input_tokens == 0


def test_anthropic_one_hour_ttl_and_other_keys(base_url: str, unique: Any) -> None:
    key = unique("sk-ant")
    ask: Any = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 20,
        "system": _cached_system(words(1100), "1h"),
        "messages": [{"role": "user", "content": "hi"}],
    }
    first = _anthropic(base_url, key).messages.create(**ask).usage
    assert first.cache_creation is not None
    assert first.cache_creation.ephemeral_1h_input_tokens == 1100
    other = _anthropic(base_url, key + "-other").messages.create(**ask).usage
    assert (other.cache_read_input_tokens, other.cache_creation_input_tokens) == (0, 1100)
    again = _anthropic(base_url, key).messages.create(**ask).usage
    assert again.cache_read_input_tokens == 1100


def test_anthropic_short_prompts_are_not_cached_and_counting_is_unaffected(
    base_url: str, unique: Any
) -> None:
    client = _anthropic(base_url, unique("sk-ant"))
    ask: Any = {
        "model": "claude-sonnet-4-5",
        "system": _cached_system(words(1100)),
        "messages": [{"role": "user", "content": "hi"}],
    }
    assert client.messages.count_tokens(**ask).input_tokens == 1101
    short = {**ask, "system": _cached_system(words(50))}
    for _ in range(2):
        usage = client.messages.create(**short, max_tokens=5).usage
        assert (usage.input_tokens, usage.cache_read_input_tokens) == (51, 0)
        assert usage.cache_creation_input_tokens == 0


def test_anthropic_refuses_a_one_hour_mark_after_a_five_minute_one(base_url: str) -> None:
    system = [*_cached_system("a", "5m"), *_cached_system("b", "1h")]
    with pytest.raises(anthropic.BadRequestError, match="ttl='1h'"):
        _anthropic(base_url, "sk-ant").messages.create(
            model="claude-sonnet-4-5",
            max_tokens=5,
            system=system,
            messages=[{"role": "user", "content": "hi"}],
        )


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_openai_chat_reports_cached_tokens_inside_prompt_tokens(
    base_url: str, unique: Any, stream: bool
) -> None:
    client = openai.OpenAI(api_key=unique("sk-oai"), base_url=base_url + "/v1", max_retries=0)
    messages: Any = [
        {"role": "system", "content": words(1200)},
        {"role": "user", "content": "hi"},
    ]
    seen = []
    for _ in range(2):
        if stream:
            chunks = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
            usage = next(chunk.usage for chunk in chunks if chunk.usage)
        else:
            usage = client.chat.completions.create(model="gpt-4o-mini", messages=messages).usage
        assert usage is not None and usage.prompt_tokens == 1201
        assert usage.prompt_tokens_details is not None
        seen.append(usage.prompt_tokens_details.cached_tokens)
    assert seen == [0, 1152]


def test_openai_responses_reports_cached_input_tokens(base_url: str, unique: Any) -> None:
    client = openai.OpenAI(api_key=unique("sk-oai"), base_url=base_url + "/v1", max_retries=0)
    ask: Any = {"model": "gpt-5-mini", "instructions": words(1100), "input": "hi"}
    first = client.responses.create(**ask).usage
    second = client.responses.create(**ask).usage
    assert first is not None and second is not None
    assert (first.input_tokens, first.input_tokens_details.cached_tokens) == (1101, 0)
    assert (second.input_tokens, second.input_tokens_details.cached_tokens) == (1101, 1024)


def test_gemini_reports_the_cached_part_of_a_longer_conversation(
    base_url: str, unique: Any
) -> None:
    from google import genai
    from google.genai import types

    client = genai.Client(
        api_key=unique("gemini-key"),
        http_options=types.HttpOptions(
            base_url=base_url + "/", retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )
    document = types.Content(role="user", parts=[types.Part(text=words(1100))])
    first = client.models.generate_content(model="gemini-2.5-flash", contents=[document])
    assert first.usage_metadata is not None
    assert first.usage_metadata.cached_content_token_count is None
    follow_up = [
        document,
        types.Content(role="model", parts=[types.Part(text="noted")]),
        types.Content(role="user", parts=[types.Part(text="so what")]),
    ]
    second = client.models.generate_content(model="gemini-2.5-flash", contents=follow_up)
    meta = second.usage_metadata
    assert meta is not None and meta.prompt_token_count == 1103
    assert meta.cached_content_token_count == 1100


def test_delete_clears_the_prompt_cache(emulator_server_class: Any) -> None:
    server = emulator_server_class().start()
    try:
        client = _anthropic(server.base_url, "sk-ant")
        ask: Any = {
            "model": "claude-sonnet-4-5",
            "max_tokens": 5,
            "system": _cached_system(words(1100)),
            "messages": [{"role": "user", "content": "hi"}],
        }
        client.messages.create(**ask)
        assert client.messages.create(**ask).usage.cache_read_input_tokens == 1100
        assert httpx.delete(server.base_url + "/_emulator/cache").status_code == 200
        assert client.messages.create(**ask).usage.cache_read_input_tokens == 0
    finally:
        server.stop()


def test_anthropic_counts_automatic_caching_among_the_four_marks(base_url: str) -> None:
    """A top-level cache_control takes one of the four slots, as the API says ("Found 5"
    with four marked blocks): the emulator took five, so a gateway adding one would pass
    its tests and fail on Anthropic."""
    system = [*_cached_system("a", "5m"), *_cached_system("b", "5m")]
    marked = {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}
    request: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 5,
        "system": system,
        "messages": [{"role": "user", "content": [marked, {**marked, "text": "there"}]}],
    }
    client = _anthropic(base_url, "sk-ant")
    client.messages.create(**request)  # four
    with pytest.raises(anthropic.BadRequestError, match="Found 5"):
        client.messages.create(**request, extra_body={"cache_control": {"type": "ephemeral"}})
