"""The semantic cache's calls to models this gateway serves, made through its own router (not over
HTTP to itself): the judge's chat calls, and a served embeddings model's, which the router hands to
the model's embeddings micro-batcher (gateway/routing/batching.py) when it batches."""

from __future__ import annotations

from backends.base import JSON, Operation
from gateway.cache.embedder import Embed
from gateway.cache.verifier import Ask
from gateway.routing.router import Router, Traits

# A customer's request waits on these calls: they go in the first tier.
_TRAITS = Traits()


def chat_via(router: Router) -> Ask:
    async def ask(model: str, body: JSON) -> tuple[JSON, str]:
        answer = await router.complete(model, Operation.CHAT, body, _TRAITS)
        return answer.body, answer.route.deployment

    return ask


def embeddings_via(router: Router, model: str) -> Embed:
    async def embed(texts: list[str]) -> list[list[float]]:
        answer = await router.complete(model, Operation.EMBEDDINGS, {"model": model, "input": texts}, _TRAITS)
        rows = sorted(answer.body["data"], key=lambda row: row["index"])
        return [list(row["embedding"]) for row in rows]

    return embed
