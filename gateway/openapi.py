"""Tollgate's OpenAPI schema, served at ``/schema/openapi.json``: every public and admin endpoint.

Litestar documents its routes' paths, methods and path parameters. Two things it cannot see are added
here from the same msgspec wire models that validate the requests (so the schema and the validation
never drift apart): the bodies and query strings that handlers validate themselves (declared on the
handler as ``opt={"body": Struct}`` / ``opt={"query": Struct}``), and the generation, image and audio
endpoints, which the :class:`~gateway.app.Edge` serves on plain ASGI (``ENDPOINTS`` of
``gateway.generation.endpoints`` and ``gateway.generation.media_endpoints``; uploads as ``multipart/form-data`` whose
text fields are the wire model's and whose files are binary strings). Every operation answers errors in
OpenAI's envelope and names the bearer token it needs.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.routes import HTTPRoute

from gateway import version
from gateway.generation import media_endpoints as media
from gateway.generation.endpoints import ENDPOINTS

Schema = dict[str, Any]

_REF = "#/components/schemas/{name}"
_ERROR_ENVELOPE: Schema = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_SECURITY_SCHEMES = {
    "customerKey": {"type": "http", "scheme": "bearer", "description": "A customer API key."},
    "adminToken": {"type": "http", "scheme": "bearer", "description": "The admin token (TOLLGATE_ADMIN_TOKEN)."},
}
_ERRORS = {
    "description": "Any refusal or failure, in OpenAI's error envelope.",
    "content": {"application/json": {"schema": {"$ref": _REF.format(name="ErrorEnvelope")}}},
}


class TollgateSchemaPlugin(JsonRenderPlugin):
    """Litestar's JSON schema, completed as the module docstring says (built once per app)."""

    def __init__(self) -> None:
        super().__init__(path="/openapi.json")
        self._rendered: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            self._rendered = msgspec.json.encode(schema_of(request.app))
        return self._rendered


def schema_of(app: Litestar) -> Schema:
    """The app's complete schema; needs no running server (the tests fuzz from it)."""
    routes = [route for route in app.routes if isinstance(route, HTTPRoute)]
    return complete_schema(app.openapi_schema.to_schema(), routes)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Tollgate",
        version=version(),
        description="An OpenAI-compatible model gateway.",
        path="/schema",
        render_plugins=[TollgateSchemaPlugin()],
    )


def complete_schema(litestar_schema: Schema, routes: list[HTTPRoute]) -> Schema:
    schema = copy.deepcopy(litestar_schema)
    paths: dict[str, Schema] = schema.setdefault("paths", {})
    declared: dict[tuple[str, str], tuple[type | None, type | None]] = {}
    for route in routes:
        for verb, (handler, _) in route.route_handler_map.items():
            body, query = handler.opt.get("body"), handler.opt.get("query")
            if (body or query) and verb != "OPTIONS":
                declared[(route.path_format, str(verb).lower())] = (body, query)
    for path, endpoint in ENDPOINTS.items():
        paths[path] = {"post": {"operationId": f"Create{endpoint.op.value.title()}", "summary": endpoint.op.value}}
        declared[(path, "post")] = (endpoint.model, None)
    for path, upload in media.ENDPOINTS.items():
        paths[path] = {"post": {"operationId": _operation_id(upload.op.value), "summary": upload.op.value}}
        if not upload.multipart:
            declared[(path, "post")] = (upload.model, None)
    forms = [upload.model for upload in media.ENDPOINTS.values() if upload.multipart]
    models = sorted(
        {m for pair in declared.values() for m in pair if m is not None} | set(forms), key=lambda m: m.__name__
    )
    components = _components(models)
    for path, upload in media.ENDPOINTS.items():
        if upload.multipart:
            form = _form(components[upload.model.__name__], components, upload.files)
            paths[path]["post"]["requestBody"] = {
                "required": True,
                "content": {"multipart/form-data": {"schema": form}},
            }
    for (path, method), (body, query) in declared.items():
        operation = paths[path][method]
        if body is not None:
            reference = {"$ref": _REF.format(name=body.__name__)}
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": reference}}}
        if query is not None:
            operation["parameters"] = _query_parameters(components[query.__name__])
    for path, item in paths.items():
        for operation in item.values():
            _describe_answers(path, operation)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components)
    schemas["ErrorEnvelope"] = _ERROR_ENVELOPE
    schema["components"]["securitySchemes"] = _SECURITY_SCHEMES
    return schema


def _operation_id(op: str) -> str:
    return "Create" + "".join(part.title() for part in op.replace("/", "_").split("_"))


def _form(fields: Schema, components: dict[str, Schema], files: tuple[str, ...]) -> Schema:
    """A multipart form: the wire model's fields (each a plain value, as form fields are) and the files."""
    properties = {name: _plain(field, components) for name, field in fields.get("properties", {}).items()}
    properties.update({name: {"type": "string", "format": "binary"} for name in files})
    return {"type": "object", "properties": properties, "required": [*fields.get("required", []), files[0]]}


def _plain(field: Schema, components: dict[str, Schema]) -> Schema:
    """A form field's value: the non-null choice of an optional field, with references resolved."""
    choices = [choice for choice in field.get("anyOf", [field]) if choice.get("type") != "null"]
    chosen = choices[0] if len(choices) == 1 else {"anyOf": choices}
    if "$ref" in chosen:
        chosen = components[str(chosen["$ref"]).rsplit("/", 1)[1]]
    return {key: value for key, value in chosen.items() if key != "default"}


def _components(models: list[type]) -> dict[str, Schema]:
    _, components = msgspec.json.schema_components(models, ref_template=_REF)
    return components


def _query_parameters(struct_schema: Schema) -> list[Schema]:
    required = set(struct_schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": field}
        for name, field in struct_schema.get("properties", {}).items()
    ]


def _describe_answers(path: str, operation: Schema) -> None:
    responses: dict[str, Schema] = operation.setdefault("responses", {})
    # Litestar describes its own validation error; Tollgate answers every error in OpenAI's envelope.
    responses.pop("400", None)
    responses.setdefault("200", {"description": "The answer."})
    for answer in responses.values():  # handlers that encode their own JSON answer with bytes
        media = answer.get("content", {}).get("application/json")
        if media is not None and media.get("schema") == {"type": "string"}:
            media["schema"] = {}
    responses["default"] = _ERRORS
    if path.startswith("/admin"):
        operation["security"] = [{"adminToken": []}]
    elif path.startswith("/v1"):
        operation["security"] = [{"customerKey": []}]
