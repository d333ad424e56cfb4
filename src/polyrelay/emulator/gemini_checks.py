"""Requests Gemini refuses, refused as Gemini does: a 400 in Gemini's words.

- thinkingBudget outside the model family's range (ai.google.dev/gemini-api/docs/thinking:
  2.5 Pro 128-32768, Flash 0-24576, Flash-Lite 0 or 512-24576; -1 is dynamic), and a
  thinkingLevel the model lacks (Gemini 3 Pro models: no MINIMAL; 3.0 Pro: no MEDIUM);
- a schema node holding `$ref` beside fields other than `description` and `default` (or
  `$`-keywords), in a function's parameters or the response schema;
- a non-zero presencePenalty or frequencyPenalty to a model past Gemini 2.0;
- a part without data (`{"text": ""}`: proto3 reads an empty string as unset), in the
  system instruction or the contents.

Without these the emulator would answer what real Gemini refuses.
"""

from __future__ import annotations

from polyrelay.codec import JSONObject
from polyrelay.emulator.script import RequestError
from polyrelay.emulator.wire import as_list, as_object, first_of

__all__ = [
    "refuse_empty_parts",
    "refuse_penalties",
    "refuse_ref_siblings",
    "refuse_thinking_budget",
]

_DYNAMIC = -1
_DATA = (
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
)
_REF_SIBLINGS = frozenset({"description", "default"})


def refuse_thinking_budget(model: str, config: JSONObject) -> None:
    thinking = as_object(first_of(config, "thinkingConfig", "thinking_config"))
    level = first_of(thinking, "thinkingLevel", "thinking_level")
    if (level == "MINIMAL" and "-pro" in model) or (
        level == "MEDIUM" and model.startswith("gemini-3-pro")
    ):
        raise RequestError(
            400,
            f"Thinking level {level} is not supported for this model. Please retry with"
            " other thinking level.",
        )
    budget = first_of(thinking, "thinkingBudget", "thinking_budget")
    if not isinstance(budget, int) or budget == _DYNAMIC:
        return
    if "-pro" in model:
        low, high = 128, 32768
        if budget == 0:
            raise RequestError(400, "Budget 0 is invalid. This model only works in thinking mode.")
    else:
        low, high = (512 if "flash-lite" in model else 0), 24576
    if budget != 0 and not low <= budget <= high:
        raise RequestError(400, f"The thinking budget ({budget}) is invalid.")


def refuse_ref_siblings(schema: object) -> None:
    """Walks every object in `schema` (the emulator need not tell schemas from values)."""
    if isinstance(schema, list):
        for item in schema:
            refuse_ref_siblings(item)
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str):
        extra = [k for k in schema if k != "$ref" and k not in _REF_SIBLINGS and k[:1] != "$"]
        if extra:
            name = ref.rsplit("/", 1)[-1]
            raise RequestError(
                400,
                f"Schema.ref '{name}' was set alongside unsupported fields. If a schema node"
                " has Schema.ref set, then only description and default can be set alongside"
                " it; other fields they would be replaced by the expanded reference.",
            )
    for value in schema.values():
        refuse_ref_siblings(value)


def refuse_penalties(model: str, config: JSONObject) -> None:
    if model.startswith(("gemini-1.", "gemini-2.0")):
        return
    for name in ("presencePenalty", "frequencyPenalty"):
        if first_of(config, name, _snake(name)):
            raise RequestError(400, f"Penalty is not enabled for models/{model}")


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def refuse_empty_parts(body: JSONObject) -> None:
    system = as_object(first_of(body, "systemInstruction", "system_instruction"))
    places = [("system_instruction", system)]
    places += [
        (f"contents[{i}]", as_object(c)) for i, c in enumerate(as_list(body.get("contents")))
    ]
    for where, content in places:
        for j, part in enumerate(as_list(content.get("parts"))):
            if not _has_data(as_object(part)):
                raise RequestError(
                    400,
                    f"* GenerateContentRequest.{where}.parts[{j}].data: required oneof field"
                    " 'data' must have one initialized field",
                )


def _has_data(part: JSONObject) -> bool:
    if part.get("text"):
        return True
    return any(first_of(part, name, _snake(name)) is not None for name in _DATA)
