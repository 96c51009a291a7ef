"""Tollgate's OpenAPI schema, served at ``/schema/openapi.json``: every public and admin endpoint.

Litestar documents its routes' paths, methods and path parameters. Two things it cannot see are added
here from the same msgspec wire models that validate the requests (so the schema and the validation
never drift apart): the bodies, forms and query strings that handlers read themselves (declared on the
handler as ``opt={"body": Struct}``, ``opt={"form": Struct, "files": ("file",)}`` / ``opt={"query": Struct}``),
and the endpoints that the :class:`~gateway.app.Edge` serves on plain ASGI: generation, image and audio
(``ENDPOINTS`` of ``gateway.generation.endpoints`` and ``gateway.generation.media_endpoints``) and
Responses (``gateway.responses.endpoints``). Uploads are ``multipart/form-data`` whose text fields are
the wire model's and whose files are binary strings (the first one required). Every operation answers
errors in OpenAI's envelope and names the bearer token it needs.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

import msgspec
from litestar import Litestar, Request
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.routes import HTTPRoute

from gateway import version
from gateway.generation import media_endpoints as media
from gateway.generation.endpoints import ENDPOINTS
from gateway.protocol.responses import InputItemsQuery, ResponseRequest
from gateway.responses.endpoints import PATH as RESPONSES

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


class Declared(NamedTuple):
    """What an operation reads that Litestar cannot see: a JSON body, a query string, or a multipart
    form (its text fields' wire model and its file fields, the first one required)."""

    body: type | None = None
    query: type | None = None
    form: type | None = None
    files: tuple[str, ...] = ()


def complete_schema(litestar_schema: Schema, routes: list[HTTPRoute]) -> Schema:
    schema = copy.deepcopy(litestar_schema)
    paths: dict[str, Schema] = schema.setdefault("paths", {})
    declared = _declared_by_handlers(routes)
    declared.update(_plain_asgi(paths))
    models = sorted(
        {m for each in declared.values() for m in (each.body, each.query, each.form) if m is not None},
        key=lambda m: m.__name__,
    )
    components = _components(models)
    for (path, method), each in declared.items():
        operation = paths[path][method]
        if each.body is not None:
            reference = {"$ref": _REF.format(name=each.body.__name__)}
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": reference}}}
        if each.form is not None:
            form = _form(components[each.form.__name__], components, each.files)
            operation["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": form}}}
        if each.query is not None:  # after the path's own parameters
            query = _query_parameters(components[each.query.__name__])
            operation["parameters"] = [*operation.get("parameters", []), *query]
    for path, item in paths.items():
        for operation in item.values():
            _describe_answers(path, operation)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components)
    schemas["ErrorEnvelope"] = _ERROR_ENVELOPE
    schema["components"]["securitySchemes"] = _SECURITY_SCHEMES
    return schema


def _declared_by_handlers(routes: list[HTTPRoute]) -> dict[tuple[str, str], Declared]:
    declared: dict[tuple[str, str], Declared] = {}
    for route in routes:
        for verb, (handler, _) in route.route_handler_map.items():
            opt = handler.opt
            if verb != "OPTIONS" and ("body" in opt or "query" in opt or "form" in opt):
                found = Declared(opt.get("body"), opt.get("query"), opt.get("form"), opt.get("files", ()))
                declared[(route.path_format, str(verb).lower())] = found
    return declared


def _plain_asgi(paths: dict[str, Schema]) -> dict[tuple[str, str], Declared]:
    """The operations the Edge serves without Litestar, added to ``paths``, and what each reads."""
    declared: dict[tuple[str, str], Declared] = {}
    for path, endpoint in ENDPOINTS.items():
        paths[path] = {"post": {"operationId": f"Create{endpoint.op.value.title()}", "summary": endpoint.op.value}}
        declared[(path, "post")] = Declared(body=endpoint.model)
    for path, upload in media.ENDPOINTS.items():
        paths[path] = {"post": {"operationId": _operation_id(upload.op.value), "summary": upload.op.value}}
        read = Declared(form=upload.model, files=upload.files) if upload.multipart else Declared(body=upload.model)
        declared[(path, "post")] = read
    one = [{"name": "response_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    paths[RESPONSES] = {"post": {"operationId": "CreateResponse", "summary": "responses"}}
    paths[RESPONSES + "/{response_id}"] = {
        "get": {"operationId": "GetResponse", "summary": "a stored response", "parameters": one},
        "delete": {"operationId": "DeleteResponse", "summary": "delete a stored response", "parameters": one},
    }
    items = RESPONSES + "/{response_id}/input_items"
    paths[items] = {"get": {"operationId": "ListInputItems", "summary": "a stored response's input", "parameters": one}}
    declared[(RESPONSES, "post")] = Declared(body=ResponseRequest)
    declared[(items, "get")] = Declared(query=InputItemsQuery)
    return declared


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
