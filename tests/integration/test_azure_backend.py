"""AzureBackend against the local fake of Azure OpenAI, and the OpenAI SDK through a gateway on it.

What every backend does (chat, streams with usage, tools, embeddings, 429 and 5xx) is in
``test_backend_conformance.py``; here is what is Azure's own: its URLs, its two credentials, its
content-filter annotations and refusals, and its errors named only by a code.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import openai
import pytest
import pytest_asyncio

from backends.azure import CONTENT_FILTERED, AzureBackend, AzureConfig
from backends.base import Operation
from backends.http import build_client
from backends.http_client import HTTPClient
from backends.registry import BackendConfig
from gateway.core.errors import UpstreamStatusError
from tests.fakes.azure_openai_server import API_KEY, ENTRA_TOKEN, RETRY_AFTER, FakeAzureOpenAI, build_app
from tests.fakes.threaded import serve_in_thread
from tests.support.backend_harness import backend_context
from tests.support.gateway_process import create_key, running_gateway
from tests.support.usage_events import wait_for_event

JSON = dict[str, Any]
DEPLOYMENT = "gpt4o-prod"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAzureOpenAI]:
    azure = FakeAzureOpenAI()
    with serve_in_thread(build_app(azure)) as url:
        azure.endpoint = url
        yield azure


@pytest_asyncio.fixture
async def client() -> AsyncIterator[HTTPClient]:
    async with build_client() as http:
        yield http


def backend(client: HTTPClient, fake: FakeAzureOpenAI, **config: Any) -> AzureBackend:
    settings = msgspec.convert({"type": "azure", "endpoint": f"{fake.endpoint}/", **config}, BackendConfig)
    assert isinstance(settings, AzureConfig)
    return AzureBackend("azure-eu", settings, backend_context(client))


def chat(text: str, **params: Any) -> JSON:
    return {"model": DEPLOYMENT, "messages": [{"role": "user", "content": text}], **params}


async def test_a_chat_goes_to_the_deployments_url_with_the_api_key(client: HTTPClient, fake: FakeAzureOpenAI) -> None:
    answer = await backend(client, fake, api_key=API_KEY).request(Operation.CHAT, chat("hello there"))
    assert answer["choices"][0]["message"]["content"] == "echo: hello there"
    assert answer["prompt_filter_results"][0]["content_filter_results"]["hate"] == {
        "filtered": False,
        "severity": "safe",
    }
    sent = fake.requests[-1]
    assert (sent.path, sent.query) == (
        f"/openai/deployments/{DEPLOYMENT}/chat/completions",
        {"api-version": "2024-10-21"},
    )
    assert sent.headers["api-key"] == API_KEY and "Authorization" not in sent.headers


async def test_an_entra_token_is_sent_as_a_bearer_and_the_api_version_as_configured(
    client: HTTPClient, fake: FakeAzureOpenAI
) -> None:
    azure = backend(client, fake, azure_ad_token=ENTRA_TOKEN, api_version="2025-01-01-preview")
    answer = await azure.request(Operation.EMBEDDINGS, {"model": "embed-prod", "input": ["a b", "c"]})
    assert [item["index"] for item in answer["data"]] == [0, 1] and answer["usage"]["prompt_tokens"] == 3
    sent = fake.requests[-1]
    assert sent.path == "/openai/deployments/embed-prod/embeddings"
    assert sent.query == {"api-version": "2025-01-01-preview"}
    assert sent.headers["Authorization"] == f"Bearer {ENTRA_TOKEN}" and "api-key" not in sent.headers
    assert await azure.ready()


async def test_completions_are_served_images_and_audio_are_not(client: HTTPClient, fake: FakeAzureOpenAI) -> None:
    azure = backend(client, fake, api_key=API_KEY)
    answer = await azure.request(Operation.COMPLETIONS, {"model": DEPLOYMENT, "prompt": "say this"})
    assert answer["choices"][0]["text"] == "echo: say this"
    assert fake.requests[-1].path == f"/openai/deployments/{DEPLOYMENT}/completions"
    assert [op for op in Operation if azure.supports(op)] == [
        Operation.CHAT,
        Operation.COMPLETIONS,
        Operation.EMBEDDINGS,
    ]


async def test_a_stream_loses_only_the_content_filter_annotations(client: HTTPClient, fake: FakeAzureOpenAI) -> None:
    body = chat("one two three", stream=True, stream_options={"include_usage": True})
    chunks = [c async for c in backend(client, fake, api_key=API_KEY).stream(Operation.CHAT, body)]
    # The fake sends the prompt's results first (no choices) and the asynchronous filter's verdict
    # (a choice with no delta) before the finish: an OpenAI client would read both as deltas.
    assert all(c["id"] and (c["choices"] or c["usage"]) for c in chunks)
    assert all("delta" in choice for c in chunks for choice in c["choices"])
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "echo: one two three"
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}


async def test_a_prompt_the_content_filter_refuses_is_a_clear_400(client: HTTPClient, fake: FakeAzureOpenAI) -> None:
    azure = backend(client, fake, api_key=API_KEY)

    async def _first(op: Operation, body: JSON) -> JSON:
        return await anext(aiter(azure.stream(op, {**body, "stream": True})))

    for call in (azure.request, _first):
        with pytest.raises(UpstreamStatusError) as caught:
            await call(Operation.CHAT, chat("[[content_filter]]"))
        error = caught.value
        assert (error.http_status, error.error_type, error.code) == (400, "invalid_request_error", "content_filter")
        assert error.message == CONTENT_FILTERED


async def test_a_completion_the_filter_cut_ends_as_openais_do(client: HTTPClient, fake: FakeAzureOpenAI) -> None:
    answer = await backend(client, fake, api_key=API_KEY).request(
        Operation.CHAT, chat("tell me [[filtered_completion]]")
    )
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "content_filter" and choice["message"]["content"] == "echo: tell me"
    assert choice["content_filter_results"]["violence"] == {"filtered": True, "severity": "high"}


@pytest.mark.parametrize(
    ("config", "body", "status", "kind", "code"),
    [
        ({"api_key": API_KEY}, chat("[[rate_limit]]"), 429, "requests", "rate_limit_exceeded"),
        ({"api_key": API_KEY}, chat("[[server_error]]"), 500, "server_error", "InternalServerError"),
        # A deployment Azure does not have is the operator's mistake: 502, so the router falls back.
        ({"api_key": API_KEY}, {**chat("hi"), "model": "gone"}, 502, "upstream_error", "upstream_deployment_not_found"),
        # Azure refusing the gateway's key is not the client's 401.
        ({"api_key": "wrong"}, chat("hi"), 502, "upstream_error", "upstream_auth_failed"),
        ({"api_key": API_KEY, "api_version": "1999-01-01"}, chat("hi"), 502, "upstream_error", "upstream_not_found"),
    ],
)
async def test_azures_errors_get_openais_types_and_codes(
    client: HTTPClient,
    fake: FakeAzureOpenAI,
    config: JSON,
    body: JSON,
    status: int,
    kind: str,
    code: str | None,
) -> None:
    with pytest.raises(UpstreamStatusError) as caught:
        await backend(client, fake, **config).request(Operation.CHAT, body)
    error = caught.value
    assert (error.http_status, error.error_type, error.code) == (status, kind, code)
    if status == 429:
        assert error.headers == {"retry-after": RETRY_AFTER}


def test_an_azure_backend_needs_exactly_one_credential() -> None:
    for credentials in ({}, {"api_key": "k", "azure_ad_token": "t"}):
        with pytest.raises(msgspec.ValidationError, match="exactly one of api_key and azure_ad_token"):
            msgspec.convert({"type": "azure", "endpoint": "https://x.openai.azure.com", **credentials}, BackendConfig)


def test_the_sdk_through_the_gateway_sees_the_content_filter_refusal_and_responses_work(
    fake: FakeAzureOpenAI, tmp_path: Path
) -> None:
    config = {
        "backends": {"azure": {"type": "azure", "endpoint": fake.endpoint, "api_key": API_KEY}},
        "models": [{"name": "gpt-4o", "deployments": [{"backend": "azure", "model": DEPLOYMENT}]}],
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'tollgate.db'}",
    }
    key = create_key(config, tmp_path, "azure-user")
    with running_gateway(config, tmp_path) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        for stream in (False, True):
            with pytest.raises(openai.BadRequestError) as caught:
                client.chat.completions.create(  # type: ignore[call-overload]
                    model="gpt-4o", messages=[{"role": "user", "content": "[[content_filter]]"}], stream=stream
                )
            assert (caught.value.code, caught.value.type, caught.value.body["message"]) == (  # type: ignore[index]
                "content_filter",
                "invalid_request_error",
                CONTENT_FILTERED,
            )
            event = wait_for_event(tmp_path / "tollgate.db", caught.value.response.headers["x-request-id"])
            assert (event["status"], event["cost_micros"]) == (400, 0)
        cut = client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "go on [[filtered_completion]]"}]
        )
        assert cut.choices[0].finish_reason == "content_filter" and cut.choices[0].message.content == "echo: go on"
        # /v1/responses reaches Azure as a chat completion of the deployment.
        response = client.responses.create(model="gpt-4o", input="hello from responses", store=False)
        assert response.output_text == "echo: hello from responses"
        assert fake.requests[-1].path == f"/openai/deployments/{DEPLOYMENT}/chat/completions"
