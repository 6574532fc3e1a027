"""Hot-spot grids (热点网格): unusual complaint or exceedance density this period. Pure.

Input per grid: counts per period, oldest first, the **last one is the current period** (e.g.
cases received, or monitoring exceedances, per week). Parameters in ``ranking.yaml`` →
``hotspots``:

* own history: ``own_baseline`` = mean of the earlier periods, ``sd`` their population standard
  deviation; ``z = (count - mean) / max(sd, min_sd)``; reason ``own_history`` when there are at
  least ``min_history`` earlier periods and ``z >= k``. ``min_sd`` stops a flat history (sd 0)
  from making every extra case infinitely unusual.
* neighbours: ``neighbour_baseline`` = mean of the neighbours' current counts, ``neighbour_z``
  likewise against their sd; reason ``neighbours`` when there are at least ``min_neighbours``
  neighbours with data and ``neighbour_z >= k``.
* either way the current count must reach ``floor``: a quiet grid going from 0 to 2 is noise.

Sorted by the larger z (descending), then count (descending), then grid code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HotSpot:
    grid: str
    count: int
    own_baseline: float | None
    neighbour_baseline: float | None
    z: float | None                  # against the grid's own history (None: too little history)
    reasons: list[str] = field(default_factory=list)
    neighbour_z: float | None = None  # against the neighbours this period


def _mean_sd(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def hot_spots(counts_by_grid_period: dict[str, list[int]], neighbours: dict[str, list[str]],
              cfg: dict) -> list[HotSpot]:
    """Grids whose current count is unusual against their history or their neighbours."""
    hc = cfg.get("hotspots", cfg)
    k, min_sd, floor = float(hc["k"]), float(hc["min_sd"]), int(hc["floor"])
    min_history, min_neighbours = int(hc["min_history"]), int(hc["min_neighbours"])

    out = []
    for grid in sorted(counts_by_grid_period):
        series = counts_by_grid_period[grid]
        if not series:
            continue
        count, history = series[-1], series[:-1]
        own_baseline = z = None
        if len(history) >= min_history:
            own_baseline, sd = _mean_sd(history)
            z = round((count - own_baseline) / max(sd, min_sd), 3)
        near = [counts_by_grid_period[n][-1] for n in neighbours.get(grid, ())
                if n != grid and counts_by_grid_period.get(n)]
        neighbour_baseline = neighbour_z = None
        if len(near) >= min_neighbours:
            neighbour_baseline, nsd = _mean_sd(near)
            neighbour_z = round((count - neighbour_baseline) / max(nsd, min_sd), 3)
        reasons = []
        if count >= floor:
            if z is not None and z >= k:
                reasons.append("own_history")
            if neighbour_z is not None and neighbour_z >= k:
                reasons.append("neighbours")
        if reasons:
            out.append(HotSpot(grid, count,
                               None if own_baseline is None else round(own_baseline, 3),
                               None if neighbour_baseline is None else round(neighbour_baseline, 3),
                               z, reasons, neighbour_z))
    out.sort(key=lambda h: (-max(x for x in (h.z, h.neighbour_z) if x is not None),
                            -h.count, h.grid))
    return out


__all__ = ["HotSpot", "hot_spots"]
