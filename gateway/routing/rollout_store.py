"""The rollouts' shared state and audit trail in the database (``rollout_states``, ``rollout_events``).

A transition is an update conditional on the state's version (compare-and-set): of any number of
gateways that decide the same transition at once, exactly one changes the row and writes the
audit record, in one transaction; the others change nothing and follow the new state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.db.models import RolloutEvent, RolloutState


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of a rollout's state, and why; ``previous_until`` is set on a promotion."""

    action: str  # started, advanced, promoted, rolled_back
    state: str
    stage: int
    share: float
    actor: str
    reason: str | None
    previous_until: dt.datetime | None = None


class RolloutStore:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, model: str) -> RolloutState | None:
        async with self._sessions() as session:
            return await session.get(RolloutState, model)

    async def all(self) -> list[RolloutState]:
        async with self._sessions() as session:
            return list(await session.scalars(select(RolloutState).order_by(RolloutState.model)))

    async def start(self, model: str, config: str, candidate: str, share: float, now: dt.datetime) -> None:
        """A rollout the database has not seen: its first stage. A gateway that loses the race to
        insert it follows the one that won."""
        state = RolloutState(
            model=model,
            config=config,
            candidate=candidate,
            state="active",
            stage=0,
            share=share,
            reason=None,
            version=1,
            started_at=now,
            stage_started_at=now,
            previous_until=None,
        )
        event = _event(model, candidate, now, None, Transition("started", "active", 0, share, "config", None))
        try:
            async with self._sessions.begin() as session:
                session.add_all([state, event])
        except IntegrityError:
            pass

    async def restart(self, found: RolloutState, config: str, candidate: str, share: float, now: dt.datetime) -> bool:
        """A changed rollout config is a new rollout: back to its first stage (once, of all gateways)."""
        started = Transition("started", "active", 0, share, "config", "the rollout config changed")
        return await self.transition(found, started, now, config=config, candidate=candidate, started_at=now)

    async def transition(
        self,
        found: RolloutState,
        to: Transition,
        now: dt.datetime,
        *,
        config: str | None = None,
        candidate: str | None = None,
        started_at: dt.datetime | None = None,
    ) -> bool:
        """Move the rollout from the state ``found`` (its version) to ``to``; False when another
        gateway moved it first, and then nothing changed."""
        values: dict[str, object] = {
            "state": to.state,
            "stage": to.stage,
            "share": to.share,
            "reason": to.reason,
            "version": found.version + 1,
            "stage_started_at": now,
            "previous_until": to.previous_until,
        }
        if config is not None:
            values.update(config=config, candidate=candidate, started_at=started_at)
        statement = (
            update(RolloutState)
            .where(RolloutState.model == found.model, RolloutState.version == found.version)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        async with self._sessions.begin() as session:
            changed = await session.execute(statement)
            if changed.rowcount != 1:  # type: ignore[attr-defined]
                return False
            session.add(_event(found.model, candidate or found.candidate, now, found.share, to))
        return True

    async def events(self, model: str | None = None, limit: int = 200) -> list[RolloutEvent]:
        """The audit trail, newest first."""
        query = select(RolloutEvent).order_by(RolloutEvent.at.desc(), RolloutEvent.id.desc()).limit(limit)
        if model is not None:
            query = query.where(RolloutEvent.model == model)
        async with self._sessions() as session:
            return list(await session.scalars(query))


def _event(model: str, candidate: str, now: dt.datetime, from_share: float | None, to: Transition) -> RolloutEvent:
    return RolloutEvent(
        model=model,
        at=now,
        candidate=candidate,
        action=to.action,
        from_share=from_share,
        to_share=to.share,
        actor=to.actor,
        reason=to.reason,
    )
