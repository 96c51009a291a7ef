"""The soak (``tests/perf/soak.py``), shortened to 20 seconds: two replicas, mixed load with repeated
prompts (answered from the shared response cache), and every served request metered exactly once at
the cost it announced. The ten-minute run is in docs/soak.md."""

from __future__ import annotations

from tests.perf.soak import soak


async def test_a_short_soak_meters_every_served_request_exactly_once() -> None:
    outcome = await soak(seconds=20, concurrency=4, repeat=True, seed=7)
    assert outcome.problems == []
    kinds = {served.kind for served in outcome.tally.served}
    assert {"chat", "stream", "stream_disconnect", "embeddings"} <= kinds
    assert {400, 404, 429} <= set(outcome.tally.refused)  # the mix really had its rejections
    assert outcome.events == len(outcome.tally.served) > 0
    assert 0 < outcome.cache_hits < outcome.events
