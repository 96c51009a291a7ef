"""What an admin does to a rollout (admin API, ``tollgate rollout``, the dashboard): roll it back or
promote it, in one step, on the shared state every gateway follows (gateway/routing/rollouts.py).

A rollback of an active rollout withdraws the candidate; of a promoted one, it restores the
previous (stable) deployments, but only until the ``keep_previous_hours`` after the promotion.
"""

from __future__ import annotations

import datetime as dt

import msgspec

from gateway.config.routing import Rollout
from gateway.core.errors import Conflict, NotFound
from gateway.db.models import RolloutState
from gateway.routing.rollout_store import RolloutStore, Transition

_rollout = msgspec.json.Decoder(Rollout)
# A transition raced by a gateway's judge is read again and tried again, this many times.
TRIES = 3


async def rollback(store: RolloutStore, model: str, actor: str, now: dt.datetime) -> RolloutState:
    """Withdraw the candidate, or restore the previous version within its window; the state after."""
    for _ in range(TRIES):
        found = await _found(store, model)
        if found.state == "rolled_back":
            raise Conflict(f"The rollout of '{model}' is already rolled back.", code="rollout_rolled_back")
        if found.state == "promoted":
            if found.previous_until is None or now >= found.previous_until:
                kept = (
                    "was not kept"
                    if found.previous_until is None
                    else f"was kept until {found.previous_until:%Y-%m-%d %H:%M}Z"
                )
                raise Conflict(
                    f"The previous version of '{model}' {kept}: it can no longer be restored in one step.",
                    code="rollback_window_closed",
                )
            reason = f"rolled back by {actor}: previous version restored"
        else:
            reason = f"rolled back by {actor}"
        to = Transition("rolled_back", "rolled_back", found.stage, 0.0, actor, reason)
        if await store.transition(found, to, now):
            return await _found(store, model)
    raise Conflict(f"The rollout of '{model}' kept changing; try again.", code="rollout_busy")


async def promote(store: RolloutStore, model: str, actor: str, now: dt.datetime) -> RolloutState:
    """Give the candidate all the traffic now; the previous version is kept ``keep_previous_hours``."""
    for _ in range(TRIES):
        found = await _found(store, model)
        if found.state == "promoted":
            raise Conflict(f"The rollout of '{model}' is already promoted.", code="rollout_promoted")
        keep = _rollout.decode(found.config).keep_previous_hours
        last = len(_rollout.decode(found.config).shares()) - 1
        to = Transition(
            "promoted", "promoted", last, 1.0, actor, f"promoted by {actor}", now + dt.timedelta(hours=keep)
        )
        if await store.transition(found, to, now):
            return await _found(store, model)
    raise Conflict(f"The rollout of '{model}' kept changing; try again.", code="rollout_busy")


async def _found(store: RolloutStore, model: str) -> RolloutState:
    found = await store.get(model)
    if found is None:
        raise NotFound(f"The model '{model}' has no rollout.", code="rollout_not_found")
    return found
