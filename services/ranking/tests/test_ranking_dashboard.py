"""The dashboard's read side with known answers: league tables of counties and grids sized from
the registry dispatch announced, rank change, trends, and hot spots on a synthetic history.

The read model is made the way the service makes it (events folded by ``metrics``, registry
events by ``registry_view``) in a throwaway SQLite database of ranking's own schema."""
from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy.orm import Session

from infra.demo.pingxiang import POPULATION, demo_grids
from services.common.db import make_engine
from services.common.errors import ValidationError
from services.common.events import CATALOGUE, envelope
from services.common.migrations import upgrade
from services.dispatch.grids import GridRegistry
from services.dispatch.registry_public import snapshot
from services.ranking import dashboard, metrics, periods, registry_view
from services.ranking.models import CounterSet

BEIJING = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=timezone.utc)
LUXI, LIANHUA, ANYUAN = "360323", "360321", "360302"
SHIMEN, ZHANGSHU = "360323104001", "360323104002"       # 石门村, 樟树村 (银河镇, 芦溪县)
XINWU = "360323100001"                                   # 新屋村 (芦溪镇)
DALU = "360322100001"                                    # 大路村 (上栗镇, 上栗县)

CFG = {
    "timezone": "Asia/Shanghai",
    "league": {
        "components": {
            "on_time": {"weight": 1, "figure": "on_time_rate", "kind": "rate"},
            "escalations": {"weight": 1, "figure": "escalations", "kind": "per_size",
                            "cap": 10, "better": "lower"},
        },
        "min_counts": {"closed": 3},
        "size": {"basis": "population", "per": {"population": 100000, "grid_cells": 100}},
        "score_decimals": 2,
        "tie_breakers": ["on_time_rate"],
        "rank_change_against": "previous_period",
    },
    "grid_league": {
        "components": {"escalations": {"weight": 1, "figure": "escalations",
                                       "kind": "per_size", "cap": 2, "better": "lower"}},
        "min_counts": {"closed": 2},
        "size": {"basis": "grid_cells", "per": {"grid_cells": 1}},
    },
    "hotspots": {"k": 2.0, "min_sd": 1.0, "floor": 5, "min_history": 4, "min_neighbours": 2,
                 "granularity": "week", "history": 8,
                 "neighbours": {"nearest": 6, "within_km": 15},
                 "measures": {"complaints": {"exclude_channels": ["patrol", "monitoring"]},
                              "exceedances": {"channels": ["monitoring"]}}},
    "trends": {"periods": 12, "max_periods": 24},
}

_ids = itertools.count(1)


def event(kind: str, at: datetime, **fields) -> dict:
    data = dict(CATALOGUE[kind].sample, **fields)
    for stamp in ("received_at", "accepted_at", "verified_at"):
        if stamp in data:
            data[stamp] = at.isoformat()
    return envelope(kind, data, actor=None, now=at, event_id=f"e-{next(_ids)}")


def closed(region, grid, at, on_time=True):
    return event("task_verified", at, region_code=region, grid_code=grid, on_time=on_time,
                 case_no=f"{region}-{next(_ids)}")


def escalated(region, grid, at):
    return event("task_escalated", at, region_code=region, grid_code=grid, rung=2)


def assigned(grid, at, channel):
    return event("task_assigned", at, region_code=grid[:6], grid_code=grid, channel=channel,
                 case_no=f"{grid}-{next(_ids)}")


@pytest.fixture
def model(tmp_path):
    """A ranking database, the demo registry announced in it (version 1), and a way to fold
    events into its counters."""
    url = f"sqlite:///{tmp_path / 'ranking.db'}"
    upgrade("ranking", url)
    engine = make_engine(url)
    session = Session(engine)
    announced = [SimpleNamespace(event_type="registry_published", payload=p,
                                 occurred_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
                 for p in snapshot(GridRegistry(demo_grids()), 1)]
    registry_view.record(session, announced)
    session.commit()

    def fold(evs):
        state = metrics.Counters(tz=CFG["timezone"])
        for e in evs:
            metrics.apply(state, e)
        for (scope, period), data in state.buckets.items():
            session.add(CounterSet(scope=scope, period=period, data=data, version=1))
        session.commit()
    uow = SimpleNamespace(session=session, now=NOW, fold=fold)
    yield uow
    session.close()
    engine.dispose()


# --- periods ------------------------------------------------------------------------------------
def test_periods_step_and_end():
    assert periods.shift("2026-01", -1) == "2025-12" and periods.shift("2026-W01", -1) == "2025-W52"
    assert periods.shift("2026-03-01", -1) == "2026-02-28"
    assert periods.year_before("2026-W53") == "2025-W52"      # 2025 has 52 ISO weeks
    assert periods.year_before("2026-11") == "2025-11"
    assert periods.year_before("2028-02-29") == "2027-02-28"
    assert periods.span("2026-10", "2027-01") == ["2026-10", "2026-11", "2026-12", "2027-01"]
    assert periods.end_of("2026-11", "Asia/Shanghai") == datetime(2026, 11, 30, 16, 0,
                                                                  tzinfo=timezone.utc)
    for bad in ("2026-13", "2026-W54", "2026-02-30", "26-01", ""):
        with pytest.raises(ValidationError):
            periods.parse(bad)


# --- the registry as ranking sees it ------------------------------------------------------------
def test_sizes_and_names_from_the_announced_registry(model):
    view = registry_view.load(model.session)
    sizes = registry_view.sizes(view)
    assert view.version == 1
    assert sizes[LUXI] == {"population": POPULATION[LUXI], "grid_cells": 7}
    assert sizes["360300"] == {"population": POPULATION["360300"], "grid_cells": 31}
    assert sizes["grid:" + SHIMEN] == {"population": 1307, "grid_cells": 1}
    assert sizes["grid:360323100"]["grid_cells"] == 3
    assert view.name(LUXI) == "芦溪县" and view.name("grid:" + SHIMEN) == "石门村"
    assert view.region_of(SHIMEN) == LUXI


def test_a_period_is_sized_by_the_registry_of_its_time():
    jan, jul = (datetime(2026, m, 1, tzinfo=timezone.utc) for m in (1, 7))
    versions = [(1, jan), (2, jul)]
    assert registry_view.choose_version(versions, datetime(2026, 5, 1, tzinfo=timezone.utc)) == 1
    assert registry_view.choose_version(versions, datetime(2026, 8, 1, tzinfo=timezone.utc)) == 2
    assert registry_view.choose_version(versions, datetime(2025, 8, 1, tzinfo=timezone.utc)) == 1
    assert registry_view.choose_version(versions, None) == 2
    assert registry_view.choose_version([], None) is None


def test_an_incomplete_version_is_not_used(model):
    registry = GridRegistry(demo_grids())
    part = snapshot(registry, 2)[:3]   # three of eight counties of version 2 arrived so far
    registry_view.record(model.session, [SimpleNamespace(
        event_type="registry_published", payload=dict(p, population=1), occurred_at=NOW)
        for p in part])
    assert registry_view.load(model.session).version == 1


def test_neighbours_are_the_nearest_of_the_same_kind(model):
    view = registry_view.load(model.session)
    near = registry_view.neighbours(view, CFG)
    # 樟树村 is 4 km east of 石门村; the villages of 宣风镇 and 芦溪镇 lie 10-15 km away.
    assert near[SHIMEN][0] == ZHANGSHU
    assert all(n.isdigit() and len(n) == 12 or n.startswith("PARK") for n in near[SHIMEN])
    assert "360323104" not in near[SHIMEN]            # a township is not a village's neighbour
    assert near["360323104"] and all(len(n) == 9 for n in near["360323104"])
    tight = registry_view.neighbours(view, {"neighbours": {"nearest": 6, "within_km": 5}})
    assert tight[SHIMEN] == [ZHANGSHU]
    assert len(registry_view.neighbours(view, {"neighbours": {"nearest": 1, "within_km": 99}}
                                        )[SHIMEN]) == 1


# --- league tables ------------------------------------------------------------------------------
def _score(on_time_rate, escalations, population):
    per_100k = escalations / (population / 100000)
    return round(100 * (on_time_rate + (1 - min(per_100k / 10, 1))) / 2, 2)


def test_county_league_normalised_by_population_with_rank_change(model):
    nov, octo = datetime(2026, 11, 10, 2, tzinfo=timezone.utc), datetime(2026, 10, 10, 2,
                                                                          tzinfo=timezone.utc)
    g = {LUXI: SHIMEN, LIANHUA: "360321100001", ANYUAN: "360302100001"}
    evs = []
    # November: 芦溪县 4 closed (3 on time), 2 escalations; 莲花县 5 closed on time, 7
    # escalations; 安源区 2 closed: too few to rank.
    evs += [closed(LUXI, g[LUXI], nov, on_time=i < 3) for i in range(4)]
    evs += [escalated(LUXI, g[LUXI], nov) for _ in range(2)]
    evs += [closed(LIANHUA, g[LIANHUA], nov) for _ in range(5)]
    evs += [escalated(LIANHUA, g[LIANHUA], nov) for _ in range(7)]
    evs += [closed(ANYUAN, g[ANYUAN], nov) for _ in range(2)]
    # October: 芦溪县 first (all on time), 莲花县 second (half late).
    evs += [closed(LUXI, g[LUXI], octo) for _ in range(4)]
    evs += [closed(LIANHUA, g[LIANHUA], octo, on_time=i % 2 == 0) for i in range(4)]
    model.fold(evs)

    table = dashboard.league(model, {"period": "2026-11", "region": "360300"}, CFG)
    assert (table["period"], table["compared_with"], table["size_basis"]) == (
        "2026-11", "2026-10", "population")
    rows = {r["scope"]: r for r in table["rows"]}
    lianhua = _score(1.0, 7, POPULATION[LIANHUA])
    luxi = _score(0.75, 2, POPULATION[LUXI])
    assert rows[LIANHUA]["score"] == lianhua and rows[LUXI]["score"] == luxi
    assert lianhua > luxi   # more escalations, but per resident fewer than 芦溪县's late work costs
    assert [(r["scope"], r["rank"]) for r in table["rows"] if r["ranked"]] == [
        (LIANHUA, 1), (LUXI, 2)]
    assert rows[LIANHUA]["rank_change"] == 1 and rows[LUXI]["rank_change"] == -1
    assert rows[LUXI]["previous_rank"] == 1
    assert rows[ANYUAN]["ranked"] is False and "closed 2 < 3" in rows[ANYUAN]["reason_unranked"]
    assert rows[ANYUAN]["shortfalls"] == [{"figure": "closed", "value": 2, "minimum": 3}]
    assert rows[ANYUAN]["no_size"] is False and rows[LUXI]["shortfalls"] == []
    # Every county of the registry is listed, the quiet ones unranked.
    assert set(rows) == {"360302", "360313", "360321", "360322", "360323"}
    assert rows[LUXI]["name"] == "芦溪县" and rows[LUXI]["size"]["population"] == POPULATION[LUXI]
    assert rows[LUXI]["figures"]["closed"] == 4 and rows[LUXI]["figures"]["escalations"] == 2

    # Without sizes (ranking has heard no registry) a per-size component cannot be fair.
    model.session.execute(registry_view.RegistrySnapshot.__table__.delete())
    bare = dashboard.league(model, {"period": "2026-11"}, CFG)
    assert not any(r["ranked"] for r in bare["rows"])
    assert all("no size (population)" in r["reason_unranked"] for r in bare["rows"])
    assert all(r["no_size"] for r in bare["rows"])


def test_grid_league_uses_its_own_settings(model):
    nov = datetime(2026, 11, 12, 2, tzinfo=timezone.utc)
    evs = [closed(LUXI, SHIMEN, nov) for _ in range(3)] + [escalated(LUXI, SHIMEN, nov)]
    evs += [closed(LUXI, ZHANGSHU, nov, on_time=i == 0) for i in range(2)]
    evs += [closed(LUXI, XINWU, nov)]                  # one closed: below grid min_counts
    evs += [closed(LIANHUA, "360321100001", nov) for _ in range(3)]
    model.fold(evs)
    section = dashboard.league_config(CFG, "grid")
    assert section["components"]["on_time"] == CFG["league"]["components"]["on_time"]
    assert section["components"]["escalations"]["cap"] == 2 and section["min_counts"] == {
        "closed": 2}

    table = dashboard.league(model, {"period": "2026-11", "level": "grid", "region": LUXI}, CFG)
    rows = {r["code"]: r for r in table["rows"]}
    assert set(rows) == {SHIMEN, ZHANGSHU, XINWU}     # only 芦溪县's grids
    # 石门村: all on time, 1 escalation in 1 cell against a cap of 2 -> 0.5.
    assert rows[SHIMEN]["score"] == round(100 * (1.0 + 0.5) / 2, 2)
    assert rows[ZHANGSHU]["score"] == round(100 * (0.5 + 1.0) / 2, 2)
    # Equal scores: the tie-breaker (on-time rate) puts 石门村 first.
    assert (rows[SHIMEN]["rank"], rows[ZHANGSHU]["rank"]) == (1, 2)
    assert rows[XINWU]["ranked"] is False
    assert rows[SHIMEN]["name"] == "石门村" and rows[SHIMEN]["scope"] == "grid:" + SHIMEN


def test_bad_league_parameters(model):
    for filters, field in (({"period": "2026-13"}, "period"), ({"level": "town"}, "level"),
                           ({"region": "3603"}, "region")):
        with pytest.raises(ValidationError) as err:
            dashboard.league(model, filters, CFG)
        assert err.value.field == field


# --- trends -----------------------------------------------------------------------------------
def test_trends_are_per_period_series_with_gaps_filled(model):
    def at(month, day):
        return datetime(2026, month, day, 2, tzinfo=timezone.utc)
    evs = [event("case_received", at(7, 3), region_code=LUXI, grid_code=SHIMEN,
                 case_no=f"r-{i}") for i in range(3)]
    evs += [event("case_received", at(9, 8), region_code=LIANHUA, grid_code=None,
                  case_no=f"s-{i}") for i in range(5)]
    evs += [closed(LUXI, SHIMEN, at(9, 9), on_time=i < 2) for i in range(3)]
    evs += [event("case_rated", at(9, 10), region_code=LUXI, grid_code=SHIMEN,
                  satisfied=i != 0) for i in range(4)]
    model.fold(evs)
    out = dashboard.trends(model, {"region": "360300", "from": "2026-07", "to": "2026-10"}, CFG)
    assert out["name"] == "萍乡市" and out["granularity"] == "month"
    assert [s["period"] for s in out["series"]] == ["2026-07", "2026-08", "2026-09", "2026-10"]
    assert [s["received"] for s in out["series"]] == [3, 0, 5, 0]
    assert [s["closed_on_time"] for s in out["series"]] == [0, 0, 2, 0]
    assert out["series"][2]["on_time_rate"] == 2 / 3
    assert out["series"][2]["satisfaction_rate"] == 3 / 4 and out["series"][1][
        "satisfaction_rate"] is None
    grid = dashboard.trends(model, {"grid": SHIMEN, "to": "2026-09"}, CFG)
    assert len(grid["series"]) == 12 and grid["from"] == "2025-10"
    assert grid["series"][-1]["closed"] == 3 and grid["name"] == "石门村"
    weekly = dashboard.trends(model, {"region": LUXI, "granularity": "week"}, CFG)
    assert weekly["to"] == "2026-W47" and len(weekly["series"]) == 12   # now: 20 Nov 2026
    everything = dashboard.trends(model, {"from": "2026-07", "to": "2026-10"}, CFG)
    assert everything["scope"] is None
    assert [s["received"] for s in everything["series"]] == [3, 0, 5, 0]
    for filters, field in (({"region": "36"}, "region"), ({"region": LUXI, "from": "2026-07",
                                             "to": "2026-W30"}, "from"),
                           ({"region": LUXI, "from": "2024-01", "to": "2026-10"}, "from")):
        with pytest.raises(ValidationError) as err:
            dashboard.trends(model, filters, CFG)
        assert err.value.field == field


# --- hot spots ------------------------------------------------------------------------------------
def _weeks(last: str, n: int) -> list[str]:
    return [periods.shift(last, -i) for i in range(n - 1, -1, -1)]


def _monday(week: str) -> datetime:
    d = periods.first_day(week)
    return datetime(d.year, d.month, d.day, 10, tzinfo=BEIJING)


def test_hot_spots_on_a_synthetic_history(model):
    weeks = _weeks("2026-W47", 9)
    plan = {   # grid -> (channel, counts per week, oldest first; the last is the current week)
        SHIMEN: ("hotline", [2, 3, 2, 3, 2, 3, 2, 3, 12]),      # spike against its own past
        DALU: ("web", [9] * 9),                                 # always high, neighbours quiet
        XINWU: ("hotline", [0] * 8 + [4]),                      # below the floor
        ZHANGSHU: ("monitoring", [0] * 8 + [7]),                # an exceedance spike
        "360322100002": ("patrol", [0] * 8 + [20]),             # patrol finds are not complaints
    }
    evs = [assigned(grid, _monday(week) + timedelta(hours=i), channel)
           for grid, (channel, counts) in plan.items()
           for week, n in zip(weeks, counts) for i in range(n)]
    model.fold(evs)

    out = dashboard.hotspots(model, {"period": "2026-W47"}, CFG)
    assert out["periods"] == weeks and out["measure"] == "complaints"
    spots = {h["grid"]: h for h in out["hot_spots"]}
    assert list(spots) == [SHIMEN, DALU]                 # larger z first
    shimen = spots[SHIMEN]
    assert (shimen["count"], shimen["own_baseline"], shimen["z"]) == (12, 2.5, 9.5)
    assert "own_history" in shimen["reasons"] and shimen["name"] == "石门村"
    dalu = spots[DALU]
    assert dalu["reasons"] == ["neighbours"] and dalu["z"] == 0.0
    assert dalu["neighbour_baseline"] == 0.0 and dalu["neighbour_z"] == 9.0
    assert len(dalu["neighbours"]) >= 2 and dalu["region_code"] == "360322"
    counts = {g["code"]: g["count"] for g in out["grids"]}
    assert counts[SHIMEN] == 12 and counts[XINWU] == 4 and counts["360322100002"] == 0
    assert counts["360321100001"] == 0                   # quiet grids are on the map too

    exceed = dashboard.hotspots(model, {"period": "2026-W47", "measure": "exceedances"}, CFG)
    assert [h["grid"] for h in exceed["hot_spots"]] == [ZHANGSHU]
    only = dashboard.hotspots(model, {"period": "2026-W47", "region": "360322"}, CFG)
    assert [h["grid"] for h in only["hot_spots"]] == [DALU]
    assert {g["region_code"] for g in only["grids"]} == {"360322"}
    assert dashboard.hotspots(model, {}, CFG)["period"] == "2026-W47"   # the current week
