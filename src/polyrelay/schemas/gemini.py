"""Gemini Developer API wire schemas: generateContent, streamGenerateContent, countTokens.

Field names are lowerCamelCase on the wire (`rename="camel"`); the API also accepts
snake_case on input, but we always send camelCase. Reference:
protocols/gemini-generate-content.md; the names follow google-genai's `types.py`.
Function-call `args` are `msgspec.Raw` so tool arguments pass through without being
rebuilt as Python objects.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "Blob",
    "Candidate",
    "Content",
    "CountTokensRequest",
    "CountTokensResponse",
    "ErrorResponse",
    "FileData",
    "FunctionCall",
    "FunctionCallingConfig",
    "FunctionDeclaration",
    "FunctionResponse",
    "GenerateContentRequest",
    "GenerateContentResponse",
    "GenerateContentStreamChunk",
    "GenerationConfig",
    "LogprobsCandidate",
    "LogprobsResult",
    "Part",
    "PromptFeedback",
    "Status",
    "ThinkingConfig",
    "Tool",
    "ToolConfig",
    "TopCandidates",
    "UsageMetadata",
]


class _Wire(msgspec.Struct, kw_only=True, omit_defaults=True, rename="camel"):
    """Shared config: keyword-only, camelCase names, unset fields left out of output."""


class Blob(_Wire):
    mime_type: str
    data: str
    """Bare base64, no `data:` prefix."""


class FileData(_Wire):
    file_uri: str
    mime_type: str | None = None


class FunctionCall(_Wire):
    name: str
    args: msgspec.Raw = msgspec.Raw(b"{}")
    id: str | None = None


class FunctionResponse(_Wire):
    name: str
    response: dict[str, Any]
    """`{"output": ...}` or `{"error": ...}`: the API wants a JSON object."""
    id: str | None = None


class Part(_Wire):
    """One data field (`text`, `inlineData`, ...) plus the `thought` / `thoughtSignature`
    flags that may sit alongside any of them."""

    text: str | None = None
    thought: bool | None = None
    thought_signature: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    function_call: FunctionCall | None = None
    function_response: FunctionResponse | None = None


class Content(_Wire):
    parts: list[Part] = []
    role: str | None = None


class FunctionDeclaration(_Wire):
    name: str
    description: str | None = None
    parameters_json_schema: dict[str, Any] | None = None


class Tool(_Wire):
    function_declarations: list[FunctionDeclaration] | None = None
    google_search: dict[str, Any] | None = None


class FunctionCallingConfig(_Wire):
    mode: str
    allowed_function_names: list[str] | None = None


class ToolConfig(_Wire):
    function_calling_config: FunctionCallingConfig


class ThinkingConfig(_Wire):
    include_thoughts: bool | None = None
    thinking_budget: int | None = None
    thinking_level: str | None = None


class GenerationConfig(_Wire):
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop_sequences: list[str] | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    response_mime_type: str | None = None
    response_json_schema: dict[str, Any] | None = None
    thinking_config: ThinkingConfig | None = None
    response_logprobs: bool | None = None
    logprobs: int | None = None
    """How many top candidates each token's `logprobsResult` lists (0-20)."""


class GenerateContentRequest(_Wire):
    contents: list[Content]
    model: str | None = None
    """Set only inside a countTokens `generateContentRequest` (`models/<id>`)."""
    system_instruction: Content | None = None
    tools: list[Tool] | None = None
    tool_config: ToolConfig | None = None
    generation_config: GenerationConfig | None = None


class CountTokensRequest(_Wire):
    generate_content_request: GenerateContentRequest


class CountTokensResponse(_Wire):
    total_tokens: int = 0
    cached_content_token_count: int | None = None


class LogprobsCandidate(_Wire):
    token: str = ""
    token_id: int | None = None
    log_probability: float = 0.0


class TopCandidates(_Wire):
    candidates: list[LogprobsCandidate] = []
    """Sorted by log probability, the likeliest first."""


class LogprobsResult(_Wire):
    """One entry per decoding step in each list (a stream chunk's: that chunk's tokens)."""

    chosen_candidates: list[LogprobsCandidate] = []
    top_candidates: list[TopCandidates] = []


class Candidate(_Wire):
    content: Content | None = None
    finish_reason: str | None = None
    finish_message: str | None = None
    index: int | None = None
    logprobs_result: LogprobsResult | None = None


class PromptFeedback(_Wire):
    block_reason: str | None = None
    block_reason_message: str | None = None


class UsageMetadata(_Wire):
    prompt_token_count: int = 0
    cached_content_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    total_token_count: int = 0


class GenerateContentResponse(_Wire):
    candidates: list[Candidate] = []
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None


class Status(_Wire):
    """google.rpc.Status as the REST API renders it."""

    code: int = 0
    message: str = ""
    status: str | None = None
    details: list[dict[str, Any]] = []


class GenerateContentStreamChunk(GenerateContentResponse):
    """A streamed chunk; an error after the 200 arrives as `{"error": {...}}` in its place."""

    error: Status | None = None


class ErrorResponse(_Wire):
    error: Status
