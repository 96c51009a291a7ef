"""What the fake Gemini API checks of a ``generateContent`` request, as the real one does
(:mod:`tests.fakes.gemini_server`); messages are the real API's words."""

from __future__ import annotations

import re
from typing import Any

import msgspec

JSON = dict[str, Any]
_FIELDS = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
}
_CONFIG_FIELDS = {"stopSequences", "responseMimeType", "responseSchema", "responseJsonSchema", "candidateCount"}
_CONFIG_FIELDS |= {"maxOutputTokens", "temperature", "topP", "topK", "seed", "presencePenalty", "frequencyPenalty"}
_CONFIG_FIELDS |= {"responseLogprobs", "logprobs", "thinkingConfig", "responseModalities"}
_PART_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse")
_MEDIA = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif", "audio/wav", "audio/mp3")


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str, details: list[JSON] | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.details = code, status, message, details or []


def invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


def validate(body: JSON, signatures: set[str]) -> None:
    for name in sorted(set(body) - _FIELDS):
        raise invalid(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
    config = body.get("generationConfig") or {}
    for name in sorted(set(config) - _CONFIG_FIELDS):
        raise invalid(
            f"Invalid JSON payload received. Unknown name \"{name}\" at 'generation_config': Cannot find field."
        )
    if not 0 <= config.get("temperature", 0) <= 2:
        raise invalid("* GenerateContentRequest.generation_config.temperature: must be in [0, 2]")
    if not body.get("contents"):
        raise invalid("* GenerateContentRequest.contents: contents is not specified")
    if "systemInstruction" in body:
        for part in body["systemInstruction"].get("parts") or [{}]:
            _validate_part("system_instruction.parts", part, signatures)
    for index, content in enumerate(body["contents"]):
        if content.get("role") not in ("user", "model"):
            raise invalid("Please use a valid role: user, model.")
        if not content.get("parts"):
            raise invalid(f"* GenerateContentRequest.contents[{index}].parts: contents.parts must not be empty.")
        for part in content["parts"]:
            _validate_part(f"contents[{index}].parts", part, signatures)
        _validate_turn(body["contents"], index)
    _validate_tools(body)


def _validate_part(where: str, part: JSON, signatures: set[str]) -> None:
    present = [name for name in _PART_DATA if name in part]
    if len(present) != 1:
        raise invalid(f"* GenerateContentRequest.{where}: required oneof field 'data' must have one initialized field")
    if "text" in part and not part["text"]:
        raise invalid(
            "Unable to submit request because it has an empty text parameter. "
            "Add a value to the parameter and try again."
        )
    media = part.get("inlineData") or part.get("fileData")
    if media is not None and media.get("mimeType") not in _MEDIA:
        raise invalid(f"Unsupported MIME type: {media.get('mimeType')}")
    signature = part.get("thoughtSignature")
    if signature is not None and signature not in signatures:
        raise invalid("Corrupted thought signature.")


def _validate_turn(contents: list[JSON], index: int) -> None:
    parts, previous = contents[index]["parts"], contents[index - 1] if index else None
    if any("functionCall" in p for p in parts) and (previous is None or previous["role"] != "user"):
        raise invalid(
            "Please ensure that function call turn comes immediately after a user turn "
            "or after a function response turn."
        )
    answered = sum("functionResponse" in p for p in parts)
    called = sum("functionCall" in p for p in previous["parts"]) if previous else 0
    if answered and answered != called:
        raise invalid(
            "Please ensure that the number of function response parts is equal to "
            "the number of function call parts of the function call turn."
        )
    calls = [p for p in parts if "functionCall" in p]
    if calls and "thoughtSignature" not in calls[0]:  # Gemini 3: each step's first call carries one
        name = calls[0]["functionCall"].get("name")
        raise invalid(
            "Function call is missing a thought_signature in functionCall parts. This is required for tools to "
            f"work correctly. Additional data, function call `default_api:{name}` , position {index + 1}."
        )


def _validate_tools(body: JSON) -> None:
    names = set()
    for tool in body.get("tools") or ():
        for declaration in tool.get("functionDeclarations") or ():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}", declaration.get("name", "")):
                raise invalid("* GenerateContentRequest.tools[0].function_declarations[0].name: Invalid function name.")
            if "additionalProperties" in msgspec.json.encode(declaration.get("parameters") or {}).decode():
                raise invalid(
                    'Invalid JSON payload received. Unknown name "additionalProperties" at '
                    "'tools[0].function_declarations[0].parameters': Cannot find field."
                )
            names.add(declaration["name"])
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    if calling.get("mode", "AUTO") not in ("AUTO", "ANY", "NONE", "VALIDATED"):
        raise invalid(f"Invalid value at 'tool_config.function_calling_config.mode' ({calling['mode']})")
    allowed = calling.get("allowedFunctionNames")
    if allowed and (calling.get("mode") != "ANY" or set(allowed) - names):
        raise invalid(
            "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
            "must be declared functions, with mode ANY."
        )
