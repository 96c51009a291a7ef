"""``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` (multipart), ``/v1/audio/speech`` (JSON)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from backends.base import Form, Upload
from gateway.core.errors import InvalidRequest
from gateway.protocol.decoding import invalid, validate_query

TranscriptFormat = Literal["json", "text", "srt", "verbose_json", "vtt"]
SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
GRANULARITIES = ("timestamp_granularities[]", "timestamp_granularities")

# What each speech format is sent back as (OpenAI's content types).
SPEECH_MEDIA_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}


class TranscriptionRequest(msgspec.Struct):
    """The fields the gateway reads; every field of the form goes to the backend as it came."""

    model: str
    response_format: TranscriptFormat = "json"
    language: str | None = None
    prompt: str | None = None
    temperature: Annotated[float, Meta(ge=0, le=1)] | None = None
    stream: bool | None = None

    def check(self, form: Form, *, translation: bool) -> Upload:
        """The audio file, once the request is known to be one this gateway serves."""
        if self.stream:
            raise invalid("stream", "Streaming transcription is not supported by this gateway.", "unsupported_value")
        granularities = [value for name, value in form.fields if name in GRANULARITIES]
        if granularities and translation:
            raise invalid("timestamp_granularities", "Translations do not take 'timestamp_granularities'.")
        for value in granularities:
            if value not in ("word", "segment"):
                raise invalid(
                    "timestamp_granularities", f"Invalid timestamp granularity '{value}'; use word or segment."
                )
        if granularities and self.response_format != "verbose_json":
            raise invalid(
                "timestamp_granularities",
                "'timestamp_granularities' needs 'response_format' to be 'verbose_json'.",
            )
        files = [upload for upload in form.files if upload.field == "file"]
        if len(files) != 1:
            message = "Missing required parameter: 'file'." if not files else "Send exactly one 'file'."
            raise InvalidRequest(message, param="file", code="missing_required_parameter" if not files else None)
        return files[0]


def transcription_request(form: Form) -> TranscriptionRequest:
    fields = {name: value for name, value in form.fields if name not in GRANULARITIES and not name.endswith("[]")}
    return validate_query(fields, TranscriptionRequest)


class SpeechRequest(msgspec.Struct):
    model: str
    input: str
    voice: str | dict[str, Any]
    response_format: SpeechFormat = "mp3"
    speed: Annotated[float, Meta(ge=0.25, le=4.0)] | None = None
    instructions: str | None = None
    stream_format: Literal["audio", "sse"] | None = None

    def check(self, max_characters: int) -> None:
        if not self.input:
            raise invalid("input", "'input' must not be empty.")
        if len(self.input) > max_characters:
            raise invalid(
                "input", f"'input' is {len(self.input)} characters long; this model takes at most {max_characters}."
            )
        if self.stream_format == "sse":
            raise invalid(
                "stream_format",
                "stream_format 'sse' is not supported by this gateway; use 'audio'.",
                "unsupported_value",
            )

    @property
    def media_type(self) -> str:
        return SPEECH_MEDIA_TYPES[self.response_format]
