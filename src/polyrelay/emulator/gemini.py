"""Gemini: `models/{model}:generateContent` and `:streamGenerateContent` (SSE or JSON array)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

from starlette.responses import Response

from polyrelay.codec import JSONObject, encode
from polyrelay.emulator.dialect import Reply, ReplyContext
from polyrelay.emulator.errors import gemini_error
from polyrelay.emulator.gemini_checks import (
    refuse_empty_parts,
    refuse_penalties,
    refuse_ref_siblings,
    refuse_thinking_budget,
)
from polyrelay.emulator.logprobs import gemini_result, gemini_top_logprobs
from polyrelay.emulator.output_limits import refuse_gemini_past_limit
from polyrelay.emulator.prompt_cache import gemini_prompt
from polyrelay.emulator.script import (
    Conversation,
    Finish,
    Plan,
    RequestError,
    ToolResult,
    read_limit,
    read_stop_sequences,
    signature_hex,
)
from polyrelay.emulator.state import BoundedMemory
from polyrelay.emulator.streaming import Frame
from polyrelay.emulator.tool_choice import gemini_tool_choice
from polyrelay.emulator.tool_names import refuse_gemini_names
from polyrelay.emulator.wire import (
    as_list,
    as_object,
    as_str,
    collapse,
    count_words,
    first_of,
    json_text,
    new_id,
    parts_text,
)
from polyrelay.sse import encode_event

__all__ = ["GeminiDialect"]


class GeminiDialect:
    def __init__(self, model: str, *, stream: bool = False, sse: bool = True) -> None:
        self.model = model
        self.stream = stream
        self.sse = sse

    def conversation(self, body: JSONObject, call_names: BoundedMemory) -> Conversation:
        del call_names  # functionResponse carries its own name
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise RequestError(400, "contents: a non-empty array is required", "contents")
        refuse_empty_parts(body)
        turns = [
            (
                as_str(as_object(content).get("role"), "user"),
                [as_object(part) for part in as_list(as_object(content).get("parts"))],
            )
            for content in contents
        ]
        system = as_object(first_of(body, "systemInstruction", "system_instruction"))
        texts = [parts_text(system.get("parts"))]
        user_text = ""
        for role, parts in turns:
            texts += [_part_text(part) for part in parts]
            spoken = [part for part in parts if _is_answer_text(part)]
            if role == "user" and spoken:
                user_text = parts_text(spoken)
        declarations = _function_declarations(body)
        refuse_gemini_names(_named_declarations(body))
        # Tool declarations go before the conversation in the prompt: the cache's order.
        texts = [as_str(declaration.get("description")) for declaration in declarations] + texts
        words = sum(map(count_words, texts))
        config = as_object(first_of(body, "generationConfig", "generation_config"))
        gemini_top_logprobs(config)  # refused here, before any answer, when invalid
        refuse_thinking_budget(self.model, config)
        refuse_penalties(self.model, config)
        max_tokens = read_limit(
            first_of(config, "maxOutputTokens", "max_output_tokens"),
            "generationConfig.maxOutputTokens",
        )
        refuse_gemini_past_limit(self.model, max_tokens)
        schemas = {as_str(d.get("name")): _parameters(d) for d in declarations}
        refuse_ref_siblings([list(schemas.values()), _output_schema(config)])
        return Conversation(
            user_text=user_text,
            tool_results=_trailing_tool_results(turns),
            tool_names=set(schemas),
            tool_schemas=schemas,
            tool_choice=gemini_tool_choice(body, schemas),
            input_tokens=words,
            max_tokens=max_tokens,
            stop_sequences=read_stop_sequences(
                first_of(config, "stopSequences", "stop_sequences"),
                "generationConfig.stopSequences",
            ),
            output_schema=_output_schema(config),
            cached_prompt=gemini_prompt(self.model, texts, words),
        )

    def reply(self, plan: Plan, body: JSONObject) -> Reply:
        config = as_object(first_of(body, "generationConfig", "generation_config"))
        context = ReplyContext(self.model, new_id("emu-"))
        writer = _CandidateWriter(plan, context, gemini_top_logprobs(config))
        headers = {"x-request-id": new_id("req_")}
        if not self.stream:
            return Reply(body=writer.whole(), headers=headers, media_type="application/json")
        if self.sse:
            frames = ((encode_event(chunk), is_content) for chunk, is_content in writer.chunks())
            return Reply(frames=frames, headers=headers)
        # Without alt=sse the API answers one JSON array of all the chunks.
        array = b"[" + b",\n".join(chunk for chunk, _ in writer.chunks()) + b"]"
        return Reply(body=array, headers=headers, media_type="application/json")

    def error(
        self,
        status: int,
        message: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> Response:
        del code  # OpenAI's alone
        return gemini_error(status, message, param)


def _is_answer_text(part: JSONObject) -> bool:
    return isinstance(part.get("text"), str) and not part.get("thought")


def _part_text(part: JSONObject) -> str:
    call = first_of(part, "functionCall", "function_call")
    if call is not None:
        return json_text(as_object(call).get("args", {}))
    response = first_of(part, "functionResponse", "function_response")
    if response is not None:
        return _response_text(as_object(response))
    return as_str(part.get("text"))


def _response_text(function_response: JSONObject) -> str:
    response = as_object(function_response.get("response"))
    return json_text(response["output"] if "output" in response else response)


def _named_declarations(body: JSONObject) -> list[tuple[str, str]]:
    return [
        (f"tools[{i}].function_declarations[{j}].name", as_str(as_object(declaration).get("name")))
        for i, tool in enumerate(as_list(body.get("tools")))
        for j, declaration in enumerate(
            as_list(first_of(as_object(tool), "functionDeclarations", "function_declarations"))
        )
    ]


def _function_declarations(body: JSONObject) -> list[JSONObject]:
    return [
        as_object(declaration)
        for tool in as_list(body.get("tools"))
        for declaration in as_list(
            first_of(as_object(tool), "functionDeclarations", "function_declarations")
        )
    ]


def _parameters(declaration: JSONObject) -> JSONObject:
    """A declaration's schema: `parametersJsonSchema` (JSON Schema) or `parameters`
    (Gemini's OpenAPI subset)."""
    return as_object(
        first_of(declaration, "parametersJsonSchema", "parameters_json_schema", "parameters")
    )


def _trailing_tool_results(turns: list[tuple[str, list[JSONObject]]]) -> list[ToolResult]:
    role, parts = turns[-1]
    if role not in ("user", "function"):
        return []
    responses = [
        as_object(first_of(part, "functionResponse", "function_response"))
        for part in parts
        if first_of(part, "functionResponse", "function_response")
    ]
    return [
        ToolResult(as_str(response.get("name"), "unknown"), collapse(_response_text(response)))
        for response in responses
    ]


class _CandidateWriter:
    def __init__(self, plan: Plan, context: ReplyContext, top: int | None = None) -> None:
        self.plan = plan
        self.context = context
        self.top = top
        """Logprobs asked for, with `top` alternatives; None: not asked."""
        signature = f"emu-sig-{signature_hex(plan.thinking)}".encode()
        # Sent on the first part after the thought, like Gemini; the SDK reads it as base64.
        self._signature: str | None = (
            base64.b64encode(signature).decode() if plan.thinking else None
        )

    def _signed(self, part: JSONObject) -> JSONObject:
        if self._signature is not None:
            part["thoughtSignature"] = self._signature
            self._signature = None
        return part

    def _answer_parts(self) -> list[JSONObject]:
        parts: list[JSONObject] = []
        if self.plan.text or not self.plan.tool_calls:
            parts.append(self._signed({"text": self.plan.text}))
        parts += [
            self._signed({"functionCall": {"name": call.name, "args": call.arguments}})
            for call in self.plan.tool_calls
        ]
        return parts

    def _usage(self) -> JSONObject:
        plan = self.plan
        usage: JSONObject = {
            "promptTokenCount": plan.input_tokens,
            "candidatesTokenCount": plan.output_tokens - plan.reasoning_tokens,
            "totalTokenCount": plan.input_tokens + plan.output_tokens,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": plan.input_tokens}],
        }
        if plan.cache.read:  # as the API: only when some of the prompt came from the cache
            usage["cachedContentTokenCount"] = plan.cache.read
            usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": plan.cache.read}]
        if plan.reasoning_tokens:
            usage["thoughtsTokenCount"] = plan.reasoning_tokens
        return usage

    def _response(
        self, parts: list[JSONObject], final: bool, tokens: list[str] | None = None
    ) -> JSONObject:
        """`tokens`: the answer's text in the response, scored when logprobs were asked."""
        candidate: JSONObject = {"content": {"parts": parts, "role": "model"}, "index": 0}
        if self.top is not None and tokens is not None:
            candidate["logprobsResult"] = gemini_result(tokens, self.top)
        response: JSONObject = {"candidates": [candidate]}
        if final:
            finish = "MAX_TOKENS" if self.plan.finish is Finish.LENGTH else "STOP"
            candidate["finishReason"] = finish
            response["usageMetadata"] = self._usage()
        response["modelVersion"] = self.context.model
        response["responseId"] = self.context.response_id
        return response

    def whole(self) -> bytes:
        parts = [{"text": self.plan.thinking, "thought": True}] if self.plan.thinking else []
        return encode(self._response(parts + self._answer_parts(), True, self.plan.chunks))

    def chunks(self) -> Iterator[Frame]:
        for word in self.plan.thinking_chunks:
            yield encode(self._response([{"text": word, "thought": True}], final=False)), True
        for word in self.plan.chunks:
            yield encode(self._response([self._signed({"text": word})], False, [word])), True
        for call in self.plan.tool_calls:
            part = self._signed({"functionCall": {"name": call.name, "args": call.arguments}})
            yield encode(self._response([part], final=False)), True
        yield encode(self._response([self._signed({"text": ""})], final=True)), False


def _output_schema(config: JSONObject) -> JSONObject | None:
    """JSON mode: `responseMimeType: application/json`, with `responseJsonSchema` (or the
    older `responseSchema`) when the reply must follow one."""
    mime = first_of(config, "responseMimeType", "response_mime_type")
    if mime != "application/json":
        return None
    schema = first_of(config, "responseJsonSchema", "response_json_schema", "responseSchema")
    return as_object(schema)
