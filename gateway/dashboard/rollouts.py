"""The dashboard's model pages: each rollout's state, its audit trail, the accuracy customers gave
each deployment (version) hour by hour, and a button that rolls the rollout back in one step."""

from __future__ import annotations

import collections
import datetime as dt
from dataclasses import dataclass

from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.core.errors import TollgateError
from gateway.dashboard.charts import Chart, Series
from gateway.dashboard.guards import page
from gateway.dashboard.session import SessionSigner
from gateway.db.models import RolloutEvent, RolloutState
from gateway.db.models.base import utcnow
from gateway.edge.errors import HttpRequest
from gateway.feedback.repository import FeedbackRepository
from gateway.routing import rollout_actions
from gateway.routing.rollout_store import RolloutStore

ACCURACY_HOURS = 48  # the accuracy chart's span, an hour per point


@dataclass(frozen=True, slots=True)
class ModelPage:
    model: str
    state: RolloutState | None
    events: list[RolloutEvent]
    accuracy: Chart
    can_roll_back: bool


def can_roll_back(state: RolloutState | None, now: dt.datetime) -> bool:
    """Whether one step restores the stable version: an active rollout, or a promotion still in its window."""
    if state is None or state.state == "rolled_back":
        return False
    return state.state == "active" or (state.previous_until is not None and now < state.previous_until)


async def accuracy_chart(sessions: async_sessionmaker[AsyncSession], model: str, now: dt.datetime) -> Chart:
    """Mean score per hour of each deployment that answered (empty hours are gaps)."""
    start = now.replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=ACCURACY_HOURS - 1)
    hours = [start + dt.timedelta(hours=n) for n in range(ACCURACY_HOURS)]
    sums: dict[str, dict[dt.datetime, list[float]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for at, deployment, score in await FeedbackRepository(sessions).scores(model, start):
        sums[deployment or "–"][at.replace(minute=0, second=0, microsecond=0)].append(score)
    series = []
    for deployment in sorted(sums):
        values = [sum(s) / len(s) if (s := sums[deployment].get(hour)) else None for hour in hours]
        series.append(Series(deployment, values, ["–" if v is None else f"{v:.3f}" for v in values]))
    labels = [hour.strftime("%m-%d %H:00") for hour in hours]
    return Chart("accuracy", "Mean accuracy score by deployment", "score", labels, series)


async def model_page(sessions: async_sessionmaker[AsyncSession], model: str) -> ModelPage:
    store, now = RolloutStore(sessions), utcnow()
    state = await store.get(model)
    events = await store.events(model)
    return ModelPage(model, state, events, await accuracy_chart(sessions, model, now), can_roll_back(state, now))


# What the pages take by injection (``gateway/dependencies.py``).
Sessions = NamedDependency[async_sessionmaker[AsyncSession]]
Signer = NamedDependency[SessionSigner | None]


async def _model(
    request: HttpRequest,
    sessions: async_sessionmaker[AsyncSession],
    signer: SessionSigner | None,
    model: str,
    status: int = 200,
    error: str | None = None,
) -> Template:
    shown = await model_page(sessions, model)
    context = {"title": f"Model {model}", "nav": _nav(request), "shown": shown, "error": error}
    return page(request, signer, "model.html", context, status)


@get("/rollouts")
async def rollouts(request: HttpRequest, sessions: Sessions, signer: Signer) -> Template:
    states = await RolloutStore(sessions).all()
    return page(request, signer, "rollouts.html", {"title": "Rollouts", "nav": _nav(request), "states": states})


@get("/models/{model:str}")
async def model(request: HttpRequest, model: FromPath[str], sessions: Sessions, signer: Signer) -> Template:
    return await _model(request, sessions, signer, model)


@post("/models/{model:str}/rollback")
async def roll_back(
    request: HttpRequest, model: FromPath[str], sessions: Sessions, signer: Signer
) -> Redirect | Template:
    try:
        await rollout_actions.rollback(RolloutStore(sessions), model, "dashboard", utcnow())
    except TollgateError as error:
        return await _model(request, sessions, signer, model, error.http_status, error.message)
    return Redirect(f"/dashboard/models/{model}", status_code=HTTP_303_SEE_OTHER)


def routes(navigation: list[tuple[str, str]]) -> list[Router]:
    """The pages, under the dashboard's ``navigation`` (the header's links); mounted with the other
    signed-in pages (``gateway.dashboard.endpoints.SIGNED_IN_ROUTES``)."""
    handlers = [rollouts, model, roll_back]
    return [Router(path="/", route_handlers=handlers, opt={"nav": navigation})]


def _nav(request: HttpRequest) -> list[tuple[str, str]]:
    nav: list[tuple[str, str]] = request.route_handler.opt["nav"]
    return nav
