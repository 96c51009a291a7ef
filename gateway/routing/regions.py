"""Region preference: a request's own region first, then the others from nearest to farthest."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def by_region(regions: Sequence[str | None], preferred: str | None, nearest: Mapping[str, list[str]]) -> list[int]:
    """Indices of the deployments (whose regions are given, in fallback order) in the order to try them.

    Deployments in ``preferred`` come first, then those in the regions ``nearest[preferred]`` lists,
    in its order, then those without a region (hosted providers), then the rest; the configured
    fallback order is kept within each group. Without a preferred region the order is unchanged.
    """
    if preferred is None:
        return list(range(len(regions)))
    ranks = {region: rank for rank, region in enumerate([preferred, *nearest.get(preferred, [])])}
    unplaced = len(ranks)

    def rank(index: int) -> int:
        region = regions[index]
        if region is None:
            return unplaced
        return ranks.get(region, unplaced + 1)

    return sorted(range(len(regions)), key=rank)
