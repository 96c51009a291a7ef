"""Customer keys: refused without one, scoped to their models, revoked everywhere within a second."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from gateway.keys.material import hash_key
from tests.support.gateway_process import create_key

USER = [{"role": "user", "content": "hi"}]


def chat(url: str, authorization: str | None, model: str = "sim-chat") -> httpx.Response:
    headers = {} if authorization is None else {"authorization": authorization}
    return httpx.post(f"{url}/v1/chat/completions", headers=headers, json={"model": model, "messages": USER})


@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "missing_api_key"),
        ("Bearer tg-not-a-real-key", "invalid_api_key"),
        ("Basic abc", "invalid_api_key"),
        ("Bearer", "invalid_api_key"),
    ],
)
def test_requests_without_a_valid_key_get_401(gateway_url: str, authorization: str | None, code: str) -> None:
    response = chat(gateway_url, authorization)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["type"] == "authentication_error"


def test_the_sdk_raises_authentication_error(gateway_url: str) -> None:
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key="tg-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_a_key_limited_to_some_models(shared_config: dict[str, Any], gateway_workdir: Path, gateway_url: str) -> None:
    key = create_key(shared_config, gateway_workdir, "scoped-co", "--models", "sim-chat")
    client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0)
    assert [m.id for m in client.models.list()] == ["sim-chat"]
    assert client.chat.completions.create(model="sim-chat", messages=USER).choices  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-fake", messages=USER)  # type: ignore[arg-type]
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-fake")


# (endpoint, JSON body or multipart fields) with {model} to fill; each endpoint checks the model its own way.
ENDPOINTS: list[tuple[str, dict[str, Any]]] = [
    ("/v1/chat/completions", {"model": "{model}", "messages": USER}),
    ("/v1/completions", {"model": "{model}", "prompt": "hi"}),
    ("/v1/embeddings", {"model": "{model}", "input": "hi"}),
    ("/v1/images/generations", {"model": "{model}", "prompt": "a cat"}),
    ("/v1/audio/speech", {"model": "{model}", "input": "hi", "voice": "alloy"}),
]


def _refusal(url: str, key: str, path: str, body: dict[str, Any], model: str) -> tuple[int, dict[str, Any]]:
    filled = {name: model if value == "{model}" else value for name, value in body.items()}
    response = httpx.post(f"{url}{path}", headers={"authorization": f"Bearer {key}"}, json=filled)
    error: dict[str, Any] = response.json()["error"]
    return response.status_code, {**error, "message": error["message"].replace(model, "<model>")}


def test_a_model_outside_the_allow_list_is_indistinguishable_from_no_model(
    shared_config: dict[str, Any], gateway_workdir: Path, gateway_url: str
) -> None:
    """Chat models, embedding, image and speech models all exist; the key may use none of them here.
    Before, the embeddings endpoint answered that 'gpt-fake' "is a chat model" (400) and the others 403."""
    key = create_key(shared_config, gateway_workdir, "allow-listed", "--models", "sim-chat")
    for path, body in ENDPOINTS:
        for existing in ("gpt-fake", "gpt-fake-completion", "embed-fake", "sim-image", "sim-tts"):
            assert _refusal(gateway_url, key, path, body, existing) == _refusal(
                gateway_url, key, path, body, "no-such-model"
            ), (path, existing)
    status, error = _refusal(gateway_url, key, "/v1/embeddings", ENDPOINTS[2][1], "gpt-fake")
    assert (status, error["code"], error["param"]) == (404, "model_not_found", "model")
    multipart = httpx.post(
        f"{gateway_url}/v1/audio/transcriptions",
        headers={"authorization": f"Bearer {key}"},
        data={"model": "sim-whisper"},
        files={"file": ("a.wav", b"RIFF", "audio/wav")},
    )
    assert (multipart.status_code, multipart.json()["error"]["code"]) == (404, "model_not_found")


def _wait_refused(url: str, key: str, timeout: float = 5.0) -> float:
    started = time.monotonic()
    while chat(url, f"Bearer {key}").status_code == 200:
        if time.monotonic() - started > timeout:
            raise AssertionError("the key was still accepted")
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_key_revoked_with_the_cli_is_refused_by_the_running_gateway(
    shared_config: dict[str, Any], gateway_workdir: Path, gateway_url: str
) -> None:
    key = create_key(shared_config, gateway_workdir, "revoke-co")
    assert chat(gateway_url, f"Bearer {key}").status_code == 200  # now cached by the gateway
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "keys",
            "revoke",
            key[:10],
            "--config",
            str(gateway_workdir / "tollgate.yaml"),
        ],
        check=True,
        capture_output=True,
        cwd=gateway_workdir,
    )
    # The CLI is another process: the gateway learns through its one-second poll of updated_at.
    assert _wait_refused(gateway_url, key) < 2.5
    assert chat(gateway_url, f"Bearer {key}").json()["error"]["code"] == "invalid_api_key"


def test_an_expired_key_is_refused(shared_config: dict[str, Any], gateway_workdir: Path, gateway_url: str) -> None:
    key = create_key(shared_config, gateway_workdir, "expiry-co")
    assert chat(gateway_url, f"Bearer {key}").status_code == 200
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    with sqlite3.connect(gateway_workdir / "tollgate.db") as connection:
        connection.execute(
            "UPDATE api_keys SET expires_at = ?, updated_at = ? WHERE key_hash = ?",
            (past.isoformat(), dt.datetime.now(dt.UTC).isoformat(), hash_key(key)),
        )
    _wait_refused(gateway_url, key)
    assert chat(gateway_url, f"Bearer {key}").json()["error"]["code"] == "expired_api_key"


def test_only_the_hash_of_a_key_is_stored(shared_config: dict[str, Any], gateway_workdir: Path) -> None:
    key = create_key(shared_config, gateway_workdir, "hash-co")
    with sqlite3.connect(gateway_workdir / "tollgate.db") as connection:
        rows = connection.execute("SELECT * FROM api_keys").fetchall()
    values = [str(value) for row in rows for value in row]
    assert hash_key(key) in values and not any(key in value for value in values)
    files = [path.read_bytes() for path in gateway_workdir.glob("tollgate.db*")]
    assert not any(key.encode() in content for content in files)
