"""The public figures behind the dashboard (公开看板): league tables of regions and of grids
sized from the registry, trends as per-period series, and hot-spot grids. Read side only; no
personal data exists in the read model, so none can leave here.

* ``league``: ``league.league_table`` over one period's figures with sizes from the registry as
  it stood then (``registry_view``), ranks of the comparison period for ``rank_change`` (config
  ``league.rank_change_against``), names and the figures behind the score. ``level=grid`` ranks
  grid cells with ``grid_league`` (config) merged over ``league``.
* ``trends``: one scope's figures for every period from ``from`` to ``to`` (missing = zeros).
* ``hotspots``: ``hotspots.hot_spots`` on per-grid counts of tasks dispatched by channel
  (config ``hotspots.measures``) over ``history`` + 1 periods, with neighbours from the
  registry's centroids; also every grid's count, for the map.
"""
from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import select

from services.common.errors import ValidationError
from services.common.regions import prefix
from services.ranking import hotspots as hotspot_rules
from services.ranking import league as league_rules
from services.ranking import metrics, periods, registry_view
from services.ranking.models import CounterSet

LEVELS = ("region", "grid")
# The figures shown beside a league row (the score's inputs and the volumes behind them).
SHOWN = ("received", "accepted", "closed", "closed_on_time", "escalations", "rated",
         "case_handling_rate", "on_time_rate", "satisfaction_rate", "problem_discovery_rate",
         "avg_days_to_close", "p90_days_to_close")


# --- parameters -------------------------------------------------------------------------------

def _region(filters: dict, field: str = "region", required: bool = False) -> str | None:
    region = filters.get(field)
    if region in (None, ""):
        if required:
            raise ValidationError(f"{field} is required", code="missing_field", field=field)
        return None
    region = str(region)
    if not (len(region) == 6 and region.isdigit()):
        raise ValidationError(f"{field} must be a six-digit division code",
                              code="invalid_value", field=field)
    return region


def _choice(filters: dict, field: str, allowed, default: str) -> str:
    value = filters.get(field) or default
    if value not in allowed:
        raise ValidationError(f"{field} must be one of {', '.join(allowed)}",
                              code="invalid_value", field=field)
    return value


def _period_or_now(uow, filters: dict, kind: str, tz: str) -> str:
    if filters.get("period"):
        return periods.parse(filters["period"])
    return periods.containing(uow.now, kind, tz)


def _in_region(code: str, region: str | None) -> bool:
    return region is None or code.startswith(prefix(region))


def _is_county(scope: str) -> bool:
    return len(scope) == 6 and scope.isdigit() and not scope.endswith("00")


def _figures(uow, period_list, grids: bool) -> dict[tuple[str, str], dict]:
    """``{(scope, period): counters}`` of regions or of grids over the given periods."""
    query = select(CounterSet).where(CounterSet.period.in_(list(period_list)))
    query = query.where(CounterSet.scope.startswith("grid:") if grids
                        else ~CounterSet.scope.startswith("grid:"))
    return {(r.scope, r.period): r.data for r in uow.session.scalars(query)}


# --- league tables ------------------------------------------------------------------------------

def league_config(cfg: dict, level: str) -> dict:
    """The ``league`` section, with ``grid_league`` laid over it for grids."""
    base = dict(cfg.get("league") or {})
    if level != "grid":
        return base
    over = cfg.get("grid_league") or {}
    merged = dict(base, **{k: v for k, v in over.items() if k != "components"})
    merged["components"] = dict(base.get("components") or {}, **(over.get("components") or {}))
    return merged


def comparison_period(period: str, section: dict) -> str:
    against = section.get("rank_change_against", "previous_period")
    if against == "previous_year":
        return periods.year_before(period)
    if against != "previous_period":
        raise ValueError(f"unknown rank_change_against {against!r}")
    return periods.shift(period, -1)


def _scopes(counters: dict[str, dict], view: registry_view.RegistryView, level: str,
            region: str | None) -> dict[str, dict]:
    """``{scope: figures}`` taking part: counties (or grids) with counters in the region, and
    for a region table every county the registry lists there, so that a county with nothing
    recorded is shown (unranked) rather than left out."""
    out = {}
    if level == "grid":
        for scope, data in counters.items():
            code = scope[5:]
            if scope.startswith("grid:") and _in_region(view.region_of(code) or code, region):
                out[scope] = metrics.figures(data)
        return out
    for scope, data in counters.items():
        if _is_county(scope) and _in_region(scope, region):
            out[scope] = metrics.figures(data)
    if region is not None:
        for code, r in view.regions.items():
            if r.get("level") == "county" and _in_region(code, region) and code not in out:
                out[code] = metrics.figures({})
    return out


def standings(now: dict[str, dict], before: dict[str, dict], view_now, view_before,
              section: dict) -> list[dict]:
    """League rows (dicts) of ``now`` figures, with ranks of ``before`` for the change. Pure."""
    previous = league_rules.league_table(before, registry_view.sizes(view_before), section)
    prev_rank = {row.scope: row.rank for row in previous}
    sizes = registry_view.sizes(view_now)
    basis = (section.get("size") or {}).get("basis", "grid_cells")
    rows = []
    for row in league_rules.league_table(now, sizes, section, previous=previous):
        fig = now[row.scope]
        # Why a row is unranked, as data a page can put in its own words.
        shortfalls = [{"figure": name, "value": fig.get(name) or 0, "minimum": minimum}
                      for name, minimum in (section.get("min_counts") or {}).items()
                      if (fig.get(name) or 0) < minimum]
        rows.append(dict(asdict(row), code=row.scope.removeprefix("grid:"),
                         name=view_now.name(row.scope), size=sizes.get(row.scope),
                         previous_rank=prev_rank.get(row.scope), shortfalls=shortfalls,
                         no_size=not (sizes.get(row.scope) or {}).get(basis),
                         figures={k: fig.get(k) for k in SHOWN}))
    return rows


def league(uow, filters: dict, cfg: dict | None = None) -> dict:
    """The league table of counties (``level=region``) or grid cells (``level=grid``) of a
    period (default: the current month), optionally within ``region``."""
    cfg = cfg or metrics.load_config()
    tz = cfg.get("timezone", metrics.DEFAULT_TZ)
    level = _choice(filters, "level", LEVELS, "region")
    region = _region(filters)
    period = _period_or_now(uow, filters, periods.MONTH, tz)
    section = league_config(cfg, level)
    before_period = comparison_period(period, section)
    counters = _figures(uow, (period, before_period), grids=level == "grid")
    view_now = registry_view.load(uow.session, periods.end_of(period, tz))
    view_before = registry_view.load(uow.session, periods.end_of(before_period, tz))

    def of(p, view):
        return _scopes({s: d for (s, per), d in counters.items() if per == p}, view, level,
                       region)
    rows = standings(of(period, view_now), of(before_period, view_before), view_now,
                     view_before, section)
    size = section.get("size") or {}
    return {"period": period, "compared_with": before_period, "level": level, "region": region,
            "size_basis": size.get("basis"), "registry_version": view_now.version,
            "rows": rows}


# --- trends -------------------------------------------------------------------------------------

def trends(uow, filters: dict, cfg: dict | None = None) -> dict:
    """One region's (``region``) or grid's (``grid``) figures per period, ``from``..``to``
    (default: the last ``trends.periods`` months up to now); with neither, everything ranking
    has counted (the sum of its provinces)."""
    cfg = cfg or metrics.load_config()
    tz = cfg.get("timezone", metrics.DEFAULT_TZ)
    tc = cfg.get("trends") or {}
    grid = filters.get("grid")
    if grid:
        grid = str(grid)
        if not (0 < len(grid) <= 32):
            raise ValidationError("grid must be a grid code", code="invalid_value", field="grid")
        scope = "grid:" + grid
    else:
        scope = _region(filters)
    last = periods.parse(filters["to"], "to") if filters.get("to") else None
    first = periods.parse(filters["from"], "from") if filters.get("from") else None
    kind = periods.kind_of(last or first or "") or _choice(
        filters, "granularity", (periods.MONTH, periods.WEEK, periods.DAY), periods.MONTH)
    if first and last and periods.kind_of(first) != periods.kind_of(last):
        raise ValidationError("from and to must be periods of the same kind",
                              code="invalid_value", field="from")
    last = last or (periods.shift(first, int(tc.get("periods", 12)) - 1) if first
                    else periods.containing(uow.now, kind, tz))
    first = first or periods.shift(last, -(int(tc.get("periods", 12)) - 1))
    series_periods = periods.span(first, last)
    if not series_periods:
        raise ValidationError("from is after to", code="invalid_value", field="from")
    if len(series_periods) > int(tc.get("max_periods", 120)):
        raise ValidationError(f"at most {tc.get('max_periods', 120)} periods",
                              code="out_of_range", field="from")
    query = select(CounterSet).where(CounterSet.period.in_(series_periods))
    query = query.where(CounterSet.scope == scope if scope else CounterSet.scope.like("__0000"))
    rows: dict[str, dict] = {}
    for r in uow.session.scalars(query):
        rows[r.period] = metrics.merge_counts(rows.get(r.period, {}), r.data)
    view = registry_view.load(uow.session)
    return {"scope": scope, "name": view.name(scope) if scope else None,
            "granularity": periods.kind_of(first),
            "from": first, "to": last,
            "series": [dict(metrics.figures(rows.get(p, {})), period=p) for p in series_periods]}


# --- hot spots ------------------------------------------------------------------------------------

def measure_count(counters: dict, spec: dict) -> int:
    """Tasks dispatched in a bucket, by the channels ``spec`` names (``channels``) or all but
    those it excludes (``exclude_channels``)."""
    by_channel = metrics.figures(counters)["assigned_by_channel"]
    if "channels" in spec:
        return sum(by_channel.get(ch, 0) for ch in spec["channels"])
    excluded = set(spec.get("exclude_channels") or ())
    return sum(n for ch, n in by_channel.items() if ch not in excluded)


def hot_spot_table(series: dict[str, list[int]], view: registry_view.RegistryView,
                   cfg: dict) -> tuple[list[dict], dict[str, list[str]]]:
    """Hot spots of per-grid series (oldest first, current last), named, with the neighbours
    they were compared with. Pure."""
    near = registry_view.neighbours(view, cfg, codes=series)
    spots = []
    for h in hotspot_rules.hot_spots(series, near, cfg):
        spots.append(dict(asdict(h), name=view.name("grid:" + h.grid),
                          region_code=view.region_of(h.grid), neighbours=near.get(h.grid, [])))
    return spots, near


def hotspots(uow, filters: dict, cfg: dict | None = None) -> dict:
    """Hot-spot grids (热点网格) of a period (default: the current ``hotspots.granularity``
    period) for ``measure`` (default complaints), optionally within ``region``."""
    cfg = cfg or metrics.load_config()
    tz = cfg.get("timezone", metrics.DEFAULT_TZ)
    hc = cfg.get("hotspots") or {}
    measures = hc.get("measures") or {}
    measure = _choice(filters, "measure", tuple(measures), next(iter(measures), "complaints"))
    region = _region(filters)
    period = _period_or_now(uow, filters, hc.get("granularity", periods.WEEK), tz)
    window = [periods.shift(period, -i) for i in range(int(hc.get("history", 8)), -1, -1)]
    view = registry_view.load(uow.session, periods.end_of(period, tz))
    counts: dict[str, dict[str, int]] = {}
    for (scope, per), data in _figures(uow, window, grids=True).items():
        code = scope[5:]
        if _in_region(view.region_of(code) or code, region):
            counts.setdefault(code, {})[per] = measure_count(data, measures[measure])
    for code, g in view.grids.items():   # quiet grids count as 0, for the neighbour test
        if g.get("cells") == 1 and _in_region(g["region_code"], region):
            counts.setdefault(code, {})
    series = {code: [by.get(p, 0) for p in window] for code, by in counts.items()}
    spots, _ = hot_spot_table(series, view, cfg)
    grids = [{"code": code, "name": view.name("grid:" + code),
              "region_code": view.region_of(code), "count": s[-1],
              "history_mean": round(sum(s[:-1]) / len(s[:-1]), 3) if len(s) > 1 else None}
             for code, s in sorted(series.items())]
    return {"period": period, "measure": measure, "region": region, "periods": window,
            "registry_version": view.version, "hot_spots": spots, "grids": grids}
