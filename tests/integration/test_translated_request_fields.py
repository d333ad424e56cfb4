"""Request fields of the Responses and Messages APIs on translated paths: each is carried,
mapped or dropped with a warning, never dropped silently. The official SDKs send them;
what each upstream received is read back from the emulator, which refuses what the
provider refuses (a verbosity other than `medium` to a model before gpt-5, say)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.integration.conftest import Emulator, Gateway, serving_config
from tests.integration.servers import gateway_config

# The test config's models, and a Chat Completions upstream serving a gpt-5 model.
CHAT, CHAT_GPT5, RESPONSES = "gpt-4o-mini", "chat-gpt-5", "gpt-5-mini"
CLAUDE, GEMINI = "claude-sonnet-4-5", "gemini-2.5-flash"


@pytest.fixture(scope="module")
def fields_gateway(
    emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    workdir: Path = tmp_path_factory.mktemp("fields")
    config = gateway_config(emulator.url, workdir / "polyrelay.db").replace(
        "models:\n", f"models:\n  {CHAT_GPT5}: {{provider: emu-openai, model: gpt-5-mini}}\n", 1
    )
    (workdir / "polyrelay.yaml").write_text(config)
    yield from serving_config(workdir / "polyrelay.yaml")


def _responses(gateway: Gateway, api_key: str, **fields: Any) -> str:
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=api_key, max_retries=0)
    fields.setdefault("input", "hi")
    raw = client.responses.with_raw_response.create(**fields)
    raw.parse()
    return raw.headers.get("polyrelay-warnings", "")


def _messages(gateway: Gateway, api_key: str, **fields: Any) -> str:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=api_key, max_retries=0)
    fields.setdefault("max_tokens", 100)
    raw = client.messages.with_raw_response.create(
        messages=[{"role": "user", "content": "hi"}], **fields
    )
    raw.parse()
    return raw.headers.get("polyrelay-warnings", "")


def _sent(emulator: Emulator) -> dict[str, Any]:
    body: dict[str, Any] = emulator.last()["body"]
    return body


# model, what the upstream gets for service_tier "priority" and verbosity "low" (None: left
# out), and the words of the warnings expected (none when empty)
RESPONSES_TIER_VERBOSITY = {
    "chat": (CHAT, ("priority", None), ["verbosity low is not supported by 'gpt-4o-mini'"]),
    "chat-gpt-5": (CHAT_GPT5, ("priority", "low"), []),
    "anthropic": (CLAUDE, ("auto", None), ["verbosity is not supported by Anthropic"]),
    "gemini": (GEMINI, (None, None), ["no service_tier priority", "no verbosity"]),
}


@pytest.mark.parametrize("case", list(RESPONSES_TIER_VERBOSITY))
def test_responses_service_tier_and_verbosity(
    case: str, fields_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    model, (tier, verbosity), warned = RESPONSES_TIER_VERBOSITY[case]
    emulator.clear()
    warnings = _responses(
        fields_gateway, api_key, model=model, service_tier="priority", text={"verbosity": "low"}
    )
    sent = _sent(emulator)
    assert sent.get("service_tier") == tier
    assert sent.get("verbosity") == verbosity
    assert "text" not in sent  # never a Responses upstream here
    assert all(words in warnings for words in warned), warnings
    assert ("verbosity" in warnings) == (verbosity is None)
    assert ("service_tier" in warnings) == (case == "gemini")


# upstream type → (model, the service_tier it gets for Anthropic's "standard_only")
MESSAGES_TIER = {
    "openai": (CHAT, "default"),
    "openai-responses": (RESPONSES, "default"),
    "gemini": (GEMINI, None),
}


@pytest.mark.parametrize("upstream", list(MESSAGES_TIER))
def test_messages_service_tier_is_mapped(
    upstream: str, fields_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    model, tier = MESSAGES_TIER[upstream]
    emulator.clear()
    warnings = _messages(fields_gateway, api_key, model=model, service_tier="standard_only")
    assert _sent(emulator).get("service_tier") == tier
    assert "service_tier" not in warnings  # standard capacity is every upstream's default


PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)
PDF = "data:application/pdf;base64,JVBERi0xLjQKJSVFT0YK"
# model → whether its upstream takes an image's detail (OpenAI Chat's image_url.detail)
IMAGE_DETAIL = {CHAT: True, CLAUDE: False, GEMINI: False}


@pytest.mark.parametrize("model", list(IMAGE_DETAIL))
def test_responses_media_detail_is_carried_or_warned(
    model: str, fields_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    emulator.clear()
    content = [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": PNG, "detail": "low"},
        {"type": "input_file", "file_data": PDF, "filename": "a.pdf", "detail": "low"},
    ]
    warnings = _responses(
        fields_gateway, api_key, model=model, input=[{"role": "user", "content": content}]
    )
    assert "input[0].content[2]: input_file detail is not carried" in warnings, warnings
    carried = IMAGE_DETAIL[model]
    assert ("image detail low" in warnings) != carried, warnings
    if carried:
        image = _sent(emulator)["messages"][0]["content"][1]
        assert image["image_url"]["detail"] == "low"


def test_responses_reasoning_summary_asks_claude_for_its_thinking(
    fields_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """Newer Claude models leave thinking out (`display: omitted`) unless told."""
    emulator.clear()
    _responses(fields_gateway, api_key, model=CLAUDE, reasoning={"summary": "detailed"})
    assert _sent(emulator)["thinking"]["display"] == "summarized"


# upstream type → (model, where the reasoning config is, its field that says "no text")
OMITTED = {
    "openai-responses": (RESPONSES, ("reasoning",), "summary"),
    "gemini": (GEMINI, ("generationConfig", "thinkingConfig"), "includeThoughts"),
}


@pytest.mark.parametrize("upstream", list(OMITTED))
def test_messages_thinking_display_omitted_asks_for_no_reasoning_text(
    upstream: str, fields_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    model, path, field = OMITTED[upstream]
    emulator.clear()
    thinking: Any = {"type": "enabled", "budget_tokens": 2048, "display": "omitted"}
    _messages(fields_gateway, api_key, model=model, max_tokens=4000, thinking=thinking)
    config = _sent(emulator)
    for key in path:
        config = config[key]
    assert config.get(field) in (None, False), config


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def _description(sent: dict[str, Any]) -> str:
    """The one declared tool's description, in whichever upstream's shape."""
    if "contents" in sent:
        declared: dict[str, Any] = sent["tools"][0]["functionDeclarations"][0]
    elif "messages" in sent and "input_schema" in sent["tools"][0]:
        declared = sent["tools"][0]
    else:
        declared = sent["tools"][0].get("function", sent["tools"][0])
    return str(declared["description"])


@pytest.mark.parametrize("model", [CHAT, CLAUDE, GEMINI])
def test_responses_tool_options(
    model: str, fields_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    tool: Any = {
        "type": "function",
        "name": "weather",
        "description": "Today's weather.",
        "parameters": SCHEMA,
        "strict": False,
        "output_schema": {"type": "object", "properties": {"celsius": {"type": "number"}}},
        "defer_loading": True,
        "allowed_callers": ["programmatic"],
    }
    emulator.clear()
    reasoning: Any = {"mode": "pro"}
    warnings = _responses(fields_gateway, api_key, model=model, tools=[tool], reasoning=reasoning)
    description = _description(_sent(emulator))
    assert description.startswith("Today's weather.") and '"celsius"' in description
    for words in ("defer_loading", "tools[0].allowed_callers", "reasoning.mode"):
        assert words in warnings, warnings


MESSAGES_TOOL: Any = {
    "name": "weather",
    "description": "Today's weather.",
    "input_schema": SCHEMA,
    "input_examples": [{"city": "Oslo"}],
    "defer_loading": True,
    "eager_input_streaming": True,
}


@pytest.mark.parametrize("model", [CHAT, RESPONSES, GEMINI])
def test_messages_tool_options(
    model: str, fields_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    emulator.clear()
    warnings = _messages(fields_gateway, api_key, model=model, tools=[MESSAGES_TOOL])
    assert '{"city":"Oslo"}' in _description(_sent(emulator))
    assert "defer_loading" in warnings and "eager_input_streaming" not in warnings


def test_messages_tool_options_reach_anthropic_off_the_fast_path(
    fields_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """A Markdown document takes the request off the fast path (the gateway converts it):
    the client's tool list still goes to Anthropic as written."""
    source = {"type": "text", "media_type": "text/markdown", "data": "# notes"}
    document = {"type": "document", "source": source}
    emulator.clear()
    client = anthropic.Anthropic(base_url=fields_gateway.url, api_key=api_key, max_retries=0)
    content: Any = [{"type": "text", "text": "hi"}, document]
    raw = client.messages.with_raw_response.create(
        model=CLAUDE,
        max_tokens=100,
        tools=[MESSAGES_TOOL],
        messages=[{"role": "user", "content": content}],
    )
    raw.parse()
    sent = _sent(emulator)
    assert "text/markdown" not in str(sent["messages"])  # converted: translated
    assert sent["tools"] == [MESSAGES_TOOL]
    assert "defer_loading" not in raw.headers.get("polyrelay-warnings", "")


def test_chat_service_tier_and_verbosity_are_translated_too(
    fields_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """The same IR fields, from a Chat Completions client."""
    client = openai.OpenAI(base_url=fields_gateway.url + "/v1", api_key=api_key, max_retries=0)
    emulator.clear()
    raw = client.chat.completions.with_raw_response.create(
        model=CLAUDE,
        messages=[{"role": "user", "content": "hi"}],
        service_tier="default",
        verbosity="low",
    )
    raw.parse()
    assert _sent(emulator)["service_tier"] == "standard_only"
    warnings = raw.headers.get("polyrelay-warnings", "")
    assert "verbosity is not supported by Anthropic" in warnings
    assert "service_tier" not in warnings


def test_responses_cache_breakpoints_are_anthropic_cache_markers(
    fields_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    """Six marked parts: Anthropic takes four markers (it refuses a fifth), the last four."""
    breakpoint: Any = {"mode": "explicit", "ttl": "30m"}
    content = [
        {"type": "input_text", "text": f"part {i}", "prompt_cache_breakpoint": breakpoint}
        for i in range(6)
    ]
    emulator.clear()
    warnings = _responses(
        fields_gateway, api_key, model=CLAUDE, input=[{"role": "user", "content": content}]
    )
    blocks = _sent(emulator)["messages"][0]["content"]
    assert [bool(b.get("cache_control")) for b in blocks] == [False] * 2 + [True] * 4
    assert "2 cache markers beyond Anthropic's 4 were left out" in warnings


@pytest.mark.parametrize("model", [CLAUDE, GEMINI])
def test_responses_file_name_reaches_claude_and_is_warned_for_gemini(
    model: str, fields_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    content = [
        {"type": "input_text", "text": "read"},
        {"type": "input_file", "file_data": PDF, "filename": "report.pdf"},
    ]
    emulator.clear()
    warnings = _responses(
        fields_gateway, api_key, model=model, input=[{"role": "user", "content": content}]
    )
    sent = _sent(emulator)
    if model == CLAUDE:
        assert sent["messages"][0]["content"][1]["title"] == "report.pdf"
    else:
        assert "a document's title or filename is not carried to gemini" in warnings


PROMPT = {"id": "pmpt_abc123", "version": "2", "variables": {"city": "Paris"}}


@pytest.mark.parametrize("model", [CHAT, CLAUDE, GEMINI])
def test_responses_stored_prompt_is_refused_when_translated(
    fields_gateway: Gateway, emulator: Emulator, api_key: str, model: str
) -> None:
    """A stored prompt template lives at OpenAI: answered without it (warned 'ignored'),
    the request was another one, its instructions and messages missing."""
    emulator.clear()
    with pytest.raises(openai.BadRequestError) as refused:
        _responses(fields_gateway, api_key, model=model, prompt=PROMPT)
    assert refused.value.param == "prompt"  # type: ignore[attr-defined]
    assert "stored prompt template" in str(refused.value)
    assert emulator.requests() == []


def test_responses_stored_prompt_is_relayed_to_openai_responses(
    fields_gateway: Gateway, emulator: Emulator, api_key: str
) -> None:
    _responses(fields_gateway, api_key, model=RESPONSES, prompt=PROMPT)
    assert _sent(emulator)["prompt"] == PROMPT
