"""Translation of OpenAI requests into Google Gemini's ``generateContent`` and
``batchEmbedContents`` requests, without I/O (the answers: :mod:`backends.gemini_answers`).

Schemas travel as JSON Schema (``parametersJsonSchema``, ``responseJsonSchema``): Gemini's older
``parameters`` / ``responseSchema`` take an OpenAPI subset that rejects ``additionalProperties``,
which every strict OpenAI schema carries.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from collections.abc import Mapping
from typing import Any

import msgspec

from backends import chat_parts
from backends.base import JSON
from backends.chat_parts import bad_message
from gateway.core.errors import InvalidRequest

# A tool call id is ``call_<hex>``, followed by the Gemini thought signature of that call when there
# is one: Gemini 3 refuses a conversation whose function calls come back without theirs, and the id
# is the one field OpenAI clients hand back untouched.
SIGNATURE_SEPARATOR = "__thought__"
_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
# reasoning_effort -> thinking budget in tokens, as Gemini's own OpenAI-compatible endpoint maps it.
_THINKING_BUDGETS = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576}
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}
_IMAGE_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_IMAGE_TYPES |= {"heic": "image/heic", "heif": "image/heif"}
# OpenAI parameter -> generationConfig field, copied as they are.
_GENERATION = {
    "temperature": "temperature",
    "top_p": "topP",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "top_k": "topK",  # Gemini's own, sent on purpose through the OpenAI body
}


def model_path(model: Any) -> str:
    """The model's resource name without the ``models/`` prefix, as it goes into the URL."""
    if not isinstance(model, str) or not model.strip("/"):
        raise InvalidRequest("model must be a non-empty string", param="model")
    return model.removeprefix("models/").strip("/")


def to_generate_request(body: Mapping[str, Any]) -> JSON:
    """The ``generateContent`` body for an OpenAI chat request (the model goes into the URL);
    raise :class:`InvalidRequest` for what Gemini cannot do. Parameters that change nothing the
    caller sees (``user``, ``stream_options``...) are dropped."""
    chat_parts.reject_logprobs(body, "gemini")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages must be a non-empty list", param="messages")
    system, contents = _convert_messages(messages)
    if not contents:
        raise InvalidRequest("messages must hold at least one user or assistant message", param="messages")
    request: JSON = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": system}
    request.update(_tool_fields(body))
    config = _generation_config(body)
    if config:
        request["generationConfig"] = config
    return request


def _generation_config(body: Mapping[str, Any]) -> JSON:
    config: JSON = {field: body[name] for name, field in _GENERATION.items() if body.get(name) is not None}
    maximum = chat_parts.max_tokens(body)
    if maximum is not None:
        config["maxOutputTokens"] = maximum
    if body.get("n") is not None:
        config["candidateCount"] = chat_parts.positive_int(body["n"], "n")
    stops = chat_parts.stop_sequences(body.get("stop"))
    if stops:
        config["stopSequences"] = stops
    config.update(_response_format(body.get("response_format")))
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in _THINKING_BUDGETS:
            raise InvalidRequest(
                "reasoning_effort must be none, minimal, low, medium or high", param="reasoning_effort"
            )
        config["thinkingConfig"] = {"thinkingBudget": _THINKING_BUDGETS[effort]}
    return config


def _response_format(response_format: Any) -> JSON:
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind in (None, "text"):
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    spec = response_format.get("json_schema") if kind == "json_schema" else None
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if not isinstance(schema, Mapping):
        raise InvalidRequest("response_format json_schema needs json_schema.schema", param="response_format")
    return {"responseMimeType": "application/json", "responseJsonSchema": dict(schema)}


def _convert_messages(messages: list[Any]) -> tuple[list[JSON], list[JSON]]:
    """System/developer messages become the system instruction; the rest become ``user`` and
    ``model`` turns, consecutive turns of one role merged: a model turn's parallel function calls
    must be answered by one turn holding as many function responses."""
    names: dict[str, str] = {}  # tool call id -> function name: a functionResponse needs the name
    return chat_parts.split_messages(
        messages, _parts, lambda role, message, position: _turn(role, message, position, names), key="parts"
    )


def _turn(role: Any, message: Mapping[str, Any], position: int, names: dict[str, str]) -> tuple[str, list[JSON]]:
    if role == "user":
        return "user", _parts(message.get("content"), position, media=True)
    if role == "assistant":
        parts = _parts(message.get("content"), position)
        parts.extend(_function_call(call, position, names) for call in message.get("tool_calls") or ())
        return "model", parts
    if role == "tool":
        return "user", [_function_response(message, position, names)]
    raise bad_message(position, f"role {role!r} is not supported")


def _parts(content: Any, position: int, *, media: bool = False) -> list[JSON]:
    """Gemini parts for an OpenAI message content; images and audio only where allowed."""
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise bad_message(position, "content must be a string or a list")
    parts = [_part(part, position, media=media) for part in content]
    return [part for part in parts if part is not None]


def _part(part: Any, position: int, *, media: bool) -> JSON | None:
    kind = part.get("type") if isinstance(part, Mapping) else None
    if kind in ("text", "refusal"):
        return {"text": str(part[kind])} if part.get(kind) else None  # Gemini refuses empty text
    if kind == "image_url" and media:
        return _image(part.get("image_url"), position)
    if kind == "input_audio" and media:
        audio = part.get("input_audio")
        audio = audio if isinstance(audio, Mapping) else {}
        mime = _AUDIO_TYPES.get(str(audio.get("format")))
        if mime is None or not isinstance(audio.get("data"), str):
            raise bad_message(position, "input_audio needs base64 data and a format of wav or mp3")
        return {"inlineData": {"mimeType": mime, "data": _base64(audio["data"], position)}}
    raise bad_message(position, f"content part type {kind!r} is not supported here")


def _image(image: Any, position: int) -> JSON:
    """Base64 data URLs go inline; http(s) URLs go by reference (``fileData``), which Gemini
    fetches itself and which needs the media type, told by the file name's extension."""
    url = chat_parts.image_url(image, position)
    if url.startswith("data:"):
        media_type, data = chat_parts.base64_data_url(url, position)
        return {"inlineData": {"mimeType": media_type, "data": _base64(data, position)}}
    if url.startswith(("http://", "https://")):
        extension = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
        guessed = _IMAGE_TYPES.get(extension) or mimetypes.guess_type(url.split("?", 1)[0])[0]
        if guessed is None or not guessed.startswith("image/"):
            raise bad_message(position, "an image URL must end in .png, .jpg, .jpeg, .webp, .heic or .heif")
        return {"fileData": {"mimeType": guessed, "fileUri": url}}
    raise bad_message(position, "image_url must be an http(s) or a data URL")


def _base64(data: str, position: int) -> str:
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise bad_message(position, "media data is not valid base64") from exc
    return data


def _function_call(call: Any, position: int, names: dict[str, str]) -> JSON:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not function.get("name"):
        raise bad_message(position, "each tool call needs a function name")
    parsed = chat_parts.tool_call_arguments(function, position)
    call_id = str(call.get("id") or "")
    names[call_id] = str(function["name"])
    part: JSON = {"functionCall": {"name": names[call_id], "args": parsed}}
    _, separator, signature = call_id.partition(SIGNATURE_SEPARATOR)
    if separator and signature:
        part["thoughtSignature"] = signature
    return part


def _function_response(message: Mapping[str, Any], position: int, names: dict[str, str]) -> JSON:
    call_id = message.get("tool_call_id")
    if not call_id:
        raise bad_message(position, "a tool message needs tool_call_id")
    name = names.get(str(call_id))
    if name is None:
        raise bad_message(position, f"tool_call_id {call_id!r} answers no earlier assistant tool call")
    content = message.get("content")
    text = content if isinstance(content, str) else "".join(p.get("text", "") for p in _parts(content, position))
    try:
        decoded = msgspec.json.decode(text) if text else None
    except msgspec.DecodeError:
        decoded = None
    # Gemini takes a JSON object; a result that is not one goes under "output", as its docs advise.
    response = decoded if isinstance(decoded, dict) else {"output": text}
    return {"functionResponse": {"name": name, "response": response}}


def _tool_fields(body: Mapping[str, Any]) -> JSON:
    fields: JSON = {}
    tools = body.get("tools")
    if tools:
        fields["tools"] = [{"functionDeclarations": [_declaration(tool, i) for i, tool in enumerate(tools)]}]
    choice = body.get("tool_choice")
    if choice is not None:
        fields["toolConfig"] = {"functionCallingConfig": _calling_config(choice)}
    return fields


def _declaration(tool: Any, index: int) -> JSON:
    function = chat_parts.function_of_tool(tool, index)
    declaration: JSON = {"name": function["name"]}
    if function.get("description"):
        declaration["description"] = function["description"]
    if function.get("parameters"):
        declaration["parametersJsonSchema"] = function["parameters"]
    return declaration


def _calling_config(choice: Any) -> JSON:
    if isinstance(choice, str) and choice in _MODES:
        return {"mode": _MODES[choice]}
    return {"mode": "ANY", "allowedFunctionNames": [chat_parts.chosen_function(choice)]}


def to_embed_request(body: Mapping[str, Any], model: str) -> tuple[list[str], JSON]:
    """The texts to embed and the ``batchEmbedContents`` body for an OpenAI embeddings request."""
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise InvalidRequest(
            "the gemini backend embeds non-empty strings only (not token ids)",
            param="input",
        )
    one: JSON = {"model": f"models/{model}"}
    if body.get("dimensions") is not None:
        one["outputDimensionality"] = chat_parts.positive_int(body["dimensions"], "dimensions")
    requests = [{**one, "content": {"parts": [{"text": text}]}} for text in texts]
    return texts, {"requests": requests}
