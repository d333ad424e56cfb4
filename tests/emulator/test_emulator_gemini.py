"""Gemini generateContent through the official `google-genai` SDK."""

from __future__ import annotations

import json

import httpx
import pytest
from google.genai import errors, types

MODEL = "gemini-2.5-flash"
TOOLS = [
    types.Tool(
        function_declarations=[
            types.FunctionDeclaration(name="get_forecast", description="Weather forecast"),
            types.FunctionDeclaration(name="get_tides", description="Tides"),
        ]
    )
]


def test_generate_content(genai_client, emulator):
    response = genai_client.models.generate_content(
        model=MODEL,
        contents="hello gemini",
        config=types.GenerateContentConfig(system_instruction="Be short"),
    )
    assert response.text == "You said: hello gemini"
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.prompt_token_count == 4
    assert response.usage_metadata.candidates_token_count == 4
    assert response.model_version == MODEL
    request = emulator.last_request()
    # google-genai 3.x posts to /v1/models/...; older releases and the gateway use /v1beta.
    assert request["path"] in {
        f"/v1/models/{MODEL}:generateContent",
        f"/v1beta/models/{MODEL}:generateContent",
    }
    assert request["headers"]["x-goog-api-key"] == "***"


def test_generate_content_stream(genai_client, emulator):
    chunks = list(
        genai_client.models.generate_content_stream(model=MODEL, contents="stream it now")
    )
    texts = [chunk.text for chunk in chunks if chunk.text]
    assert "".join(texts) == "You said: stream it now"
    assert texts[:2] == ["You", " said:"]
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count == 5
    assert emulator.last_request()["query"] == "alt=sse"


def test_v1beta_api_version(base_url, emulator):
    from google import genai

    client = genai.Client(
        api_key="k", http_options=types.HttpOptions(base_url=base_url + "/", api_version="v1beta")
    )
    chunks = list(client.models.generate_content_stream(model=MODEL, contents="beta"))
    assert "".join(chunk.text or "" for chunk in chunks) == "You said: beta"
    assert emulator.last_request()["path"] == f"/v1beta/models/{MODEL}:streamGenerateContent"


def test_parallel_function_calls_without_ids(genai_client):
    response = genai_client.models.generate_content(
        model=MODEL,
        contents='[[tool get_forecast {"city": "Oslo"}]] [[tool get_tides {}]]',
        config=types.GenerateContentConfig(tools=TOOLS),
    )
    calls = response.function_calls
    assert [call.name for call in calls] == ["get_forecast", "get_tides"]
    assert calls[0].args == {"city": "Oslo"}
    assert calls[0].id is None
    assert response.candidates[0].finish_reason == types.FinishReason.STOP


def test_function_response_reply(genai_client):
    contents = [
        types.Content(role="user", parts=[types.Part(text="[[tool get_forecast {}]]")]),
        types.Content(
            role="model",
            parts=[types.Part(function_call=types.FunctionCall(name="get_forecast", args={}))],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        name="get_forecast", response={"output": "windy"}
                    )
                )
            ],
        ),
    ]
    response = genai_client.models.generate_content(
        model=MODEL, contents=contents, config=types.GenerateContentConfig(tools=TOOLS)
    )
    assert response.text == "Tool get_forecast returned: windy"


def test_thought_parts_and_signature(genai_client):
    chunks = list(
        genai_client.models.generate_content_stream(
            model=MODEL, contents="why [[think because it is]]"
        )
    )
    parts = [part for chunk in chunks for part in chunk.candidates[0].content.parts]
    thoughts = [part.text for part in parts if part.thought]
    assert "".join(thoughts) == "because it is"
    first_answer = next(part for part in parts if not part.thought)
    assert first_answer.thought_signature.startswith(b"emu-sig-")
    assert chunks[-1].usage_metadata.thoughts_token_count == 3


def test_max_output_tokens_and_stop_sequences(genai_client):
    truncated = genai_client.models.generate_content(
        model=MODEL, contents="a b c d", config=types.GenerateContentConfig(max_output_tokens=2)
    )
    assert truncated.text == "You said:"
    assert truncated.candidates[0].finish_reason == types.FinishReason.MAX_TOKENS

    stopped = genai_client.models.generate_content(
        model=MODEL, contents="a b c d", config=types.GenerateContentConfig(stop_sequences=["c"])
    )
    assert stopped.text == "You said: a b "
    assert stopped.candidates[0].finish_reason == types.FinishReason.STOP


@pytest.mark.parametrize(
    ("status", "code_name"),
    [
        (400, "INVALID_ARGUMENT"),
        (429, "RESOURCE_EXHAUSTED"),
        (500, "INTERNAL"),
        (503, "UNAVAILABLE"),
    ],
)
def test_errors(genai_client, status, code_name):
    with pytest.raises(errors.APIError) as caught:
        genai_client.models.generate_content(model=MODEL, contents=f"[[error {status}]]")
    assert caught.value.code == status
    assert caught.value.status == code_name
    expected = errors.ClientError if status < 500 else errors.ServerError
    assert isinstance(caught.value, expected)


def test_unknown_tool_is_invalid_argument(genai_client):
    with pytest.raises(errors.ClientError) as caught:
        genai_client.models.generate_content(
            model=MODEL, contents="[[tool nope]]", config=types.GenerateContentConfig(tools=TOOLS)
        )
    assert caught.value.code == 400


@pytest.mark.parametrize(
    ("model", "budget", "refused"),
    [
        ("gemini-2.5-pro", 0, "Budget 0 is invalid"),
        ("gemini-2.5-pro", 32769, "The thinking budget (32769) is invalid."),
        ("gemini-2.5-flash", 24577, "The thinking budget (24577) is invalid."),
        ("gemini-2.5-flash-lite", 100, "The thinking budget (100) is invalid."),
        ("gemini-2.5-flash", 0, None),
        ("gemini-2.5-pro", -1, None),
    ],
)
def test_thinking_budget_outside_the_model_s_range(genai_client, model, budget, refused):
    thinking = types.ThinkingConfig(thinking_budget=budget)
    config = types.GenerateContentConfig(thinking_config=thinking)
    if refused is None:
        genai_client.models.generate_content(model=model, contents="hi", config=config)
        return
    with pytest.raises(errors.ClientError) as caught:
        genai_client.models.generate_content(model=model, contents="hi", config=config)
    assert caught.value.code == 400
    assert refused in str(caught.value.message)


@pytest.mark.parametrize(
    ("model", "level", "refused"),
    [
        ("gemini-3-pro-preview", "MINIMAL", True),
        ("gemini-3-pro-preview", "MEDIUM", True),
        ("gemini-3.1-pro-preview", "MEDIUM", False),
        ("gemini-3-flash-preview", "MINIMAL", False),
    ],
)
def test_thinking_level_the_model_lacks(genai_client, model, level, refused):
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_level=level))
    if not refused:
        genai_client.models.generate_content(model=model, contents="hi", config=config)
        return
    with pytest.raises(errors.ClientError) as caught:
        genai_client.models.generate_content(model=model, contents="hi", config=config)
    assert f"Thinking level {level} is not supported" in str(caught.value.message)


def test_an_empty_text_part_is_invalid_argument(base_url):
    url = f"{base_url}/v1beta/models/{MODEL}:generateContent"
    body = {"contents": [{"parts": [{"text": "hi"}, {"text": "", "thoughtSignature": "c2ln"}]}]}
    response = httpx.post(url, json=body)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message == (
        "* GenerateContentRequest.contents[0].parts[1].data: required oneof field 'data'"
        " must have one initialized field"
    )


def test_penalties_only_to_gemini_2_0(genai_client):
    config = types.GenerateContentConfig(presence_penalty=0.5)
    genai_client.models.generate_content(model="gemini-2.0-flash", contents="hi", config=config)
    with pytest.raises(errors.ClientError) as caught:
        genai_client.models.generate_content(model=MODEL, contents="hi", config=config)
    assert caught.value.code == 400
    assert caught.value.message == f"Penalty is not enabled for models/{MODEL}"


def test_ref_beside_other_fields_is_invalid_argument(base_url):
    schema = {
        "type": "object",
        "properties": {"p": {"$ref": "#/$defs/P", "title": "P"}},
        "$defs": {"P": {"type": "string"}},
    }
    declaration = {"name": "f", "parametersJsonSchema": schema}
    body = {
        "contents": [{"parts": [{"text": "hi"}]}],
        "tools": [{"functionDeclarations": [declaration]}],
    }
    response = httpx.post(f"{base_url}/v1beta/models/{MODEL}:generateContent", json=body)
    assert response.status_code == 400
    assert (
        "Schema.ref 'P' was set alongside unsupported fields" in response.json()["error"]["message"]
    )
    del schema["properties"]["p"]["title"]
    response = httpx.post(f"{base_url}/v1beta/models/{MODEL}:generateContent", json=body)
    assert response.status_code == 200


def test_stream_without_alt_sse_is_a_json_array(base_url):
    response = httpx.post(
        f"{base_url}/v1beta/models/{MODEL}:streamGenerateContent",
        json={"contents": [{"parts": [{"text": "hi"}]}]},
    )
    chunks = response.json()
    assert isinstance(chunks, list)
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


def test_also_served_under_v1_and_count_tokens(base_url):
    body = {"contents": [{"role": "user", "parts": [{"text": "one two"}]}]}
    response = httpx.post(f"{base_url}/v1/models/{MODEL}:generateContent", json=body)
    assert response.json()["candidates"][0]["content"]["parts"][0]["text"] == "You said: one two"
    count = httpx.post(f"{base_url}/v1beta/models/{MODEL}:countTokens", json=body)
    assert count.json() == {"totalTokens": 2}


def test_cut_stream_lacks_finish_reason(base_url):
    finish_reasons: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST",
            f"{base_url}/v1beta/models/{MODEL}:streamGenerateContent?alt=sse",
            json={"contents": [{"parts": [{"text": "[[cut 3]] a b c d"}]}]},
        ) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data: "):
                candidate = json.loads(line[6:])["candidates"][0]
                finish_reasons.append(candidate.get("finishReason", ""))
    assert finish_reasons == ["", "", ""]


def test_models_list(genai_client):
    names = [model.name for model in genai_client.models.list()]
    assert "models/gemini-2.5-flash" in names
