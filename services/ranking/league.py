"""League table (考核排名 / 擂台赛): a composite score per region from its period figures. Pure.

Formula (weights and parameters in ``infra/config/ranking.yaml`` → ``league``)
-------------------------------------------------------------------------------
For every configured component ``c`` with figure ``f`` (from ``metrics.figures``):

* ``kind: rate``     → ``x = clamp(f, 0, 1)`` (rates are size-free already);
* ``kind: per_size`` → ``x = min((f / units) / cap, 1)`` where ``units = size / per`` (per 100
  grid cells or per 100,000 residents, ``size.basis``);
* ``kind: days``     → ``x = min(f / cap, 1)``;
* ``better: lower``  → the component is ``1 - x``, else ``x``.

``score = round(100 × Σ wᶜ·xᶜ / Σ wᶜ, score_decimals)`` over the components that are defined; a
component whose figure is undefined (0/0, e.g. no ratings) is shown as None and its weight left
out, so a region is neither punished nor rewarded for it.

Capping instead of min-max: a region's score then depends on its own figures only (it does not
move because a neighbour had a bad month, and a table of one region is well defined).

Ranked or not: a region with fewer than ``min_counts`` of any listed figure (e.g. 10 closed
cases), without a size when a per-size component needs one, or with no defined component is
listed *unranked* with the reason; it keeps its score for information.

Order and ties: by score, then by each ``tie_breakers`` figure (higher first, undefined last);
regions equal on all of these share a rank (competition ranking 1, 1, 3) and are listed by code,
so the table is deterministic and no region loses a place because of its code.

``rank_change`` = previous rank − rank (positive: moved up), None when either is unranked or the
region is new.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Row:
    """One line of the league table (排名表)."""

    rank: int | None
    scope: str
    score: float | None
    components: dict = field(default_factory=dict)
    ranked: bool = True
    reason_unranked: str | None = None
    rank_change: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _section(cfg: dict) -> dict:
    return cfg.get("league", cfg)


def _component(spec: dict, value, units: float | None) -> float | None:
    if value is None:
        return None
    kind = spec.get("kind", "rate")
    if kind == "rate":
        x = min(max(float(value), 0.0), 1.0)
    elif kind == "per_size":
        if not units:
            return None
        x = min(max(float(value) / units / float(spec["cap"]), 0.0), 1.0)
    elif kind == "days":
        x = min(max(float(value) / float(spec["cap"]), 0.0), 1.0)
    else:
        raise ValueError(f"unknown component kind {kind!r}")
    return 1.0 - x if spec.get("better", "higher") == "lower" else x


def _units(scope: str, sizes: dict, size_cfg: dict) -> float | None:
    basis = size_cfg.get("basis", "grid_cells")
    per = float((size_cfg.get("per") or {}).get(basis, 1))
    size = (sizes.get(scope) or {}).get(basis)
    if not size or size <= 0:
        return None
    return float(size) / per


def _prev_rank(item) -> tuple[str, int | None]:
    if isinstance(item, Row):
        return item.scope, item.rank
    return item["scope"], item.get("rank")


def league_table(figures_by_scope: dict[str, dict], sizes: dict[str, dict], cfg: dict,
                 previous: list | None = None) -> list[Row]:
    """Rank regions by composite score (see module docstring); ranked rows first, then unranked.

    ``figures_by_scope``: ``{scope: metrics.figures(...)}`` of one period; ``sizes``:
    ``{scope: {"grid_cells": int, "population": int}}``; ``cfg``: the ranking config (or its
    ``league`` section); ``previous``: the previous period's rows (``Row`` or dicts with
    ``scope`` and ``rank``).
    """
    lc = _section(cfg)
    specs: dict = lc["components"]
    min_counts: dict = lc.get("min_counts") or {}
    decimals = int(lc.get("score_decimals", 2))
    tie_breakers = list(lc.get("tie_breakers") or [])
    needs_size = any(s.get("kind") == "per_size" for s in specs.values())

    drafts = []
    for scope in sorted(figures_by_scope):
        fig = figures_by_scope[scope]
        reasons = [f"{name} {fig.get(name) or 0} < {minimum}"
                   for name, minimum in min_counts.items() if (fig.get(name) or 0) < minimum]
        units = _units(scope, sizes, lc.get("size") or {})
        if needs_size and units is None:
            reasons.append(f"no size ({(lc.get('size') or {}).get('basis', 'grid_cells')})")
        components = {name: _component(spec, fig.get(spec.get("figure", name)), units)
                      for name, spec in specs.items()}
        weight = sum(float(specs[n]["weight"]) for n, x in components.items() if x is not None)
        score = None
        if weight > 0:
            score = round(100.0 * sum(float(specs[n]["weight"]) * x
                                      for n, x in components.items() if x is not None) / weight,
                          decimals)
        else:
            reasons.append("no defined component")
        order = (score or 0.0,) + tuple(
            float("-inf") if fig.get(t) is None else float(fig[t]) for t in tie_breakers)
        drafts.append((scope, score, components, "; ".join(reasons) or None, order))

    ranked = sorted((d for d in drafts if d[3] is None), key=lambda d: (
        tuple(-v for v in d[4]), d[0]))
    unranked = [d for d in drafts if d[3] is not None]
    prev = dict(_prev_rank(p) for p in (previous or []))

    rows: list[Row] = []
    rank, last_order = 0, None
    for position, (scope, score, components, _, order) in enumerate(ranked, start=1):
        if order != last_order:
            rank, last_order = position, order
        before = prev.get(scope)
        rows.append(Row(rank, scope, score, components, True, None,
                        before - rank if before is not None else None))
    for scope, score, components, reason, _ in unranked:
        rows.append(Row(None, scope, score, components, False, reason, None))
    return rows


__all__ = ["Row", "league_table"]
