"""``GET /v1/models`` and ``GET /v1/models/{id}`` (the generation endpoints are in ``generation``)."""

from __future__ import annotations

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from gateway.edge.errors import HttpRequest, request_id_of
from gateway.keys.principal import Principal
from gateway.protocol.models import ModelList
from gateway.routing.catalog import Catalog, model_not_found

_encode = msgspec.json.Encoder(decimal_format="number").encode


@get("/v1/models")
async def list_models(
    request: HttpRequest, principal: NamedDependency[Principal], catalog: NamedDependency[Catalog]
) -> Response[bytes]:
    """The models this key may use."""
    cards = [card for card in catalog.cards() if principal.may_use(card.id)]
    return Response(
        _encode(ModelList(data=cards)), media_type="application/json", headers={"x-request-id": request_id_of(request)}
    )


@get("/v1/models/{model_id:path}")
async def retrieve_model(
    request: HttpRequest,
    model_id: FromPath[str],
    principal: NamedDependency[Principal],
    catalog: NamedDependency[Catalog],
) -> Response[bytes]:
    name = model_id.lstrip("/")
    if not principal.may_use(name):
        raise model_not_found(name)
    card = catalog.card(name)
    return Response(_encode(card), media_type="application/json", headers={"x-request-id": request_id_of(request)})


ROUTES = [list_models, retrieve_model]
