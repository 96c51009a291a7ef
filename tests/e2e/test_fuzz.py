"""Schemathesis against Tollgate's own OpenAPI schema, on a real gateway process.

Every operation the schema describes (so every endpoint added later, once it is in the schema) is a
test of its own, fed valid and invalid requests: none may answer 500, every error of the API must be
in OpenAI's envelope (the dashboard's pages answer browsers in HTML), and a rejected request must
leave the database and the usage journal as it found them. CI
runs a bounded, deterministic number of examples per operation; ``TOLLGATE_FUZZ_EXAMPLES`` raises it
(the longer run in ``docs/fuzzing.md`` did).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from gateway.app import create_app
from gateway.openapi import schema_of
from gateway.settings import load_settings
from tests.support.sim_gateway import ADMIN_TOKEN, SimGateway

EXAMPLES = int(os.environ.get("TOLLGATE_FUZZ_EXAMPLES", "15"))

# The schema as the app builds it (no server needed to collect the tests); the same app serves it.
SCHEMA = schemathesis.openapi.from_dict(schema_of(create_app(load_settings(None, {}))))
OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


# The sim gateway's model for each endpoint that names one: a third of the cases ask for it, so that
# valid requests reach a backend rather than stopping at 404 model_not_found.
MODELS = {
    "/v1/chat/completions": "sim-chat",
    "/v1/completions": "sim-completion",
    "/v1/embeddings": "sim-embed",
    "/v1/images/generations": "sim-image",
    "/v1/images/edits": "sim-image",
    "/v1/images/variations": "sim-image",
    "/v1/audio/transcriptions": "sim-transcription",
    "/v1/audio/translations": "sim-transcription",
    "/v1/audio/speech": "sim-speech",
    "/v1/responses": "sim-chat",
}


def with_known_model(case: Any) -> Any:
    if isinstance(case.body, dict) and case.path in MODELS:
        case.body = {**case.body, "model": MODELS[case.path]}
    return case


def credentials(path: str, gateway: SimGateway) -> dict[str, str]:
    token = ADMIN_TOKEN if path.startswith("/admin") else gateway.keys["alice"]
    return {"authorization": f"Bearer {token}"}


def test_the_schema_describes_every_public_and_admin_endpoint() -> None:
    operations = {(operation.method.upper(), operation.path) for operation in OPERATIONS}
    paths = {path for _, path in operations}
    assert {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models"} <= paths
    assert {"/admin/customers", "/admin/keys", "/admin/usage"} <= paths
    assert set(MODELS) <= paths  # the media endpoints too
    assert {
        ("POST", "/v1/responses"),
        ("GET", "/v1/responses/{response_id}"),
        ("DELETE", "/v1/responses/{response_id}"),
        ("GET", "/v1/responses/{response_id}/input_items"),
        ("POST", "/v1/files"),
        ("GET", "/v1/files"),
        ("GET", "/v1/files/{file_id}"),
        ("DELETE", "/v1/files/{file_id}"),
        ("GET", "/v1/files/{file_id}/content"),
        ("POST", "/v1/batches"),
        ("GET", "/v1/batches"),
        ("GET", "/v1/batches/{batch_id}"),
        ("POST", "/v1/batches/{batch_id}/cancel"),
        ("POST", "/v1/feedback"),
        ("POST", "/v1/images/variations"),
        ("POST", "/admin/models/{model}/rollout/promote"),
        ("POST", "/admin/models/{model}/rollout/rollback"),
        ("GET", "/dashboard/rollouts"),
        ("GET", "/dashboard/margin"),
    } <= operations
    edits = SCHEMA["/v1/images/edits"]["POST"].definition.raw["requestBody"]["content"]["multipart/form-data"]
    assert edits["schema"]["properties"]["image"] == {"type": "string", "format": "binary"}
    chat = SCHEMA["/v1/chat/completions"]["POST"]
    assert chat.definition.raw["requestBody"]["content"]["application/json"]["schema"]


def body_schema(method: str, path: str, media_type: str = "application/json") -> dict[str, Any]:
    schema: dict[str, Any] = SCHEMA[path][method].definition.raw["requestBody"]["content"][media_type]["schema"]
    return schema


def parameters(method: str, path: str) -> dict[str, str]:
    return {each["name"]: each["in"] for each in SCHEMA[path][method].definition.raw.get("parameters", [])}


def test_the_new_endpoints_bodies_forms_and_queries_come_from_their_wire_types() -> None:
    """What each handler validates is what the schema says it takes (so the fuzzer's valid cases are)."""
    assert body_schema("POST", "/v1/responses") == {"$ref": "#/components/schemas/ResponseRequest"}
    assert body_schema("POST", "/v1/batches") == {"$ref": "#/components/schemas/BatchCreate"}
    assert body_schema("POST", "/v1/feedback") == {"$ref": "#/components/schemas/FeedbackIn"}
    upload = body_schema("POST", "/v1/files", "multipart/form-data")
    assert upload["properties"]["file"] == {"type": "string", "format": "binary"}
    assert upload["properties"]["purpose"] == {"enum": ["batch"]}
    assert set(upload["required"]) == {"purpose", "file"}
    variation = body_schema("POST", "/v1/images/variations", "multipart/form-data")
    assert variation["properties"]["image"] == {"type": "string", "format": "binary"}
    assert {"model", "image"} <= set(variation["required"])
    components = SCHEMA.raw_schema["components"]["schemas"]
    assert set(components["BatchCreate"]["required"]) == {"input_file_id", "endpoint", "completion_window"}
    assert components["FeedbackIn"]["properties"]["score"] == {"type": "number", "minimum": 0, "maximum": 1}
    # A query declared on a route with a path parameter keeps the path parameter beside it.
    assert parameters("GET", "/v1/responses/{response_id}/input_items") == {
        "response_id": "path",
        "limit": "query",
        "order": "query",
        "after": "query",
    }
    assert parameters("GET", "/admin/customers/{name}/credits") == {"name": "path", "limit": "query"}
    assert parameters("GET", "/v1/files") == {"purpose": "query", "limit": "query", "order": "query", "after": "query"}
    assert parameters("GET", "/v1/batches") == {"limit": "query", "after": "query"}
    for method, path in [("GET", "/v1/responses/{response_id}"), ("DELETE", "/v1/responses/{response_id}")]:
        assert parameters(method, path) == {"response_id": "path"}
        assert SCHEMA[path][method].definition.raw["security"] == [{"customerKey": []}]


@pytest.mark.parametrize("operation", OPERATIONS, ids=[operation.label for operation in OPERATIONS])
def test_no_request_fails_the_gateway_or_changes_anything_when_refused(operation: Any, sim_gateway: SimGateway) -> None:
    valid = operation.as_strategy(GenerationMode.POSITIVE)
    cases = st.one_of(valid, operation.as_strategy(GenerationMode.NEGATIVE), valid.map(with_known_model))

    @given(case=cases)
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
    def fuzz(case: Any) -> None:
        before = sim_gateway.state_digest()
        response = case.call(base_url=sim_gateway.url, headers=credentials(case.path, sim_gateway), timeout=30)
        case.validate_response(response, checks=[not_a_server_error])
        if response.status_code >= 400:
            if not case.path.startswith("/dashboard"):
                error = response.json()["error"]
                assert set(error) == {"message", "type", "param", "code"}, response.text
                assert isinstance(error["message"], str) and error["message"]
            assert sim_gateway.state_digest() == before, f"{case.method} {case.path} -> {response.status_code}"

    fuzz()
