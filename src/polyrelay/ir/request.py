"""ChatRequest: the one canonical request every frontend decodes into."""

from __future__ import annotations

import enum
from typing import Any

import msgspec

from polyrelay.ir.content import CacheTTL, JSONSchema, TextPart
from polyrelay.ir.messages import Message
from polyrelay.ir.tools import FunctionTool, ToolChoice, WebSearchTool

__all__ = [
    "OPENAI_CLIENT_METADATA",
    "OPENAI_PROMPT_CACHE_KEY",
    "OPENAI_PROMPT_CACHE_OPTIONS",
    "OPENAI_PROMPT_CACHE_RETENTION",
    "OPENAI_SAFETY_IDENTIFIER",
    "OPENAI_USER",
    "SUMMARY_OMITTED",
    "ChatRequest",
    "OutputFormat",
    "OutputFormatKind",
    "ReasoningConfig",
]

# `ChatRequest.extensions` keys both OpenAI provider types (Chat and Responses) read: the
# fields the two OpenAI protocols share and the IR has no room for, written by the OpenAI
# frontends so that a request leaving the fast path keeps them (Codex's prompt-cache
# affinity, say). Other upstreams have no equivalent and leave them out.
OPENAI_PROMPT_CACHE_KEY = "openai.prompt_cache_key"
OPENAI_PROMPT_CACHE_RETENTION = "openai.prompt_cache_retention"
OPENAI_PROMPT_CACHE_OPTIONS = "openai.prompt_cache_options"
"""How long OpenAI keeps the prompt's cache (`in_memory`, `24h`) and its breakpoints'
mode and ttl: both OpenAI protocols take them; other upstreams keep their own caching
rules, as for the cache key (that caching was asked for at all is `prompt_cache`)."""
OPENAI_SAFETY_IDENTIFIER = "openai.safety_identifier"
OPENAI_USER = "openai.user"
"""Set (possibly to None) only with OPENAI_SAFETY_IDENTIFIER: the client's own `user`,
as `ChatRequest.user` then may be the safety_identifier (the one end-user id that
upstreams with a single such field, e.g. Anthropic's metadata.user_id, get)."""
SUMMARY_OMITTED = "omitted"
"""ReasoningConfig.summary: no readable reasoning wanted."""
OPENAI_CLIENT_METADATA = "openai.client_metadata"
"""Responses only (Chat Completions has no such field)."""


class OutputFormatKind(enum.Enum):
    TEXT = "text"
    JSON_OBJECT = "json_object"
    JSON_SCHEMA = "json_schema"


class OutputFormat(msgspec.Struct, frozen=True, kw_only=True):
    kind: OutputFormatKind
    name: str | None = None
    schema: JSONSchema | None = None
    strict: bool | None = None
    description: str | None = None

    def described_schema(self) -> JSONSchema | None:
        """The schema, holding the format's description, for an upstream that takes no
        description beside it (Anthropic, Gemini): the model reads the schema's own."""
        schema, said = self.schema, self.description
        if not said or schema is None or schema.get("description") == said:
            return schema
        own = schema.get("description")
        return {**schema, "description": f"{said}\n\n{own}" if isinstance(own, str) else said}


class ReasoningConfig(msgspec.Struct, frozen=True, kw_only=True):
    """Reasoning policy. `enabled=False` turns it off; otherwise `budget_tokens` (Anthropic,
    Gemini 2.5) or `effort` (OpenAI; minimal/low/medium/high/xhigh) say how much."""

    enabled: bool = True
    effort: str | None = None
    budget_tokens: int | None = None
    adaptive: bool = False
    summary: str | None = None
    """Readable reasoning asked for: OpenAI's `auto` / `concise` / `detailed` (an Anthropic
    client's `display: summarized` is `auto`), or SUMMARY_OMITTED for none (Anthropic's
    `display: omitted`: the signature alone); None leaves it to the upstream's default."""


class ChatRequest(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    """The public model name the client asked for."""
    messages: tuple[Message, ...]
    system: tuple[TextPart, ...] = ()
    tools: tuple[FunctionTool, ...] = ()
    web_search: WebSearchTool | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    n: int = 1
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    user: str | None = None
    output_format: OutputFormat | None = None
    reasoning: ReasoningConfig | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    service_tier: str | None = None
    """The capacity asked for, in OpenAI's words (`auto`, `default`, `flex`, `scale`,
    `priority`): an Anthropic client's `standard_only` is `default`."""
    verbosity: str | None = None
    """How long the answer should be (`low`, `medium`, `high`): OpenAI's only."""
    logprobs: int | None = None
    """Token log probabilities asked for: None, not asked; N, with the N likeliest
    alternatives at each token (0: the chosen tokens alone). OpenAI caps N at 20."""
    prompt_cache: CacheTTL | None = None
    """Caching of the whole prompt asked for in OpenAI's terms (`prompt_cache_key`,
    `prompt_cache_retention`: `24h` is `1h`, else `5m`); None when not asked. OpenAI
    caches by itself; an upstream that caches only where told (Anthropic) is told to
    cache up to the prompt's end when the request marks no breakpoint of its own."""
    stream: bool = False
    extensions: dict[str, Any] = msgspec.field(default_factory=dict)
    """Request fields only one provider type has, keyed `<provider type>.<field>` (as
    parts' extensions are): a frontend of the same protocol fills them so a translated
    request keeps them (e.g. `anthropic.service_tier`); only that provider reads them.
    The `openai.` keys above are read by both OpenAI provider types."""
