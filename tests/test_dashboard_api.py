"""The public figures end to end: dispatch announces its registry, ranking hears it (or asks for
it), and the league, hot-spot, trend and map endpoints answer from it, with no personal data."""
from __future__ import annotations

import json

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from infra.demo.pingxiang import POPULATION, demo_grids
from tests.casework import file_case
from tests.fixtures import wait_for

CITY = "360300"
MEITANG = "360322102001"   # 梅塘村, 福田镇, 上栗县: no other test files cases here
SPIKE = 6


def _people(grids=None) -> list[str]:
    """Every phone number and person id of the demo registry."""
    out = []
    for grid in grids or demo_grids():
        for person in [grid.chief] + list(grid.workers or []):
            if person:
                out += [person["phone"], person["id"]]
    return out


def _league(system, **params):
    query = "&".join(f"{k}={v}" for k, v in dict({"region": CITY}, **params).items())
    r = system.call("GET", f"/api/v1/stats/league?{query}")
    assert r.status_code == 200, r.text
    return r.json()


def _snapshots(url):
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = {(v, c): (n, d) for v, c, n, d in conn.execute(text(
            "SELECT version, region_code, region_count, data FROM registry_snapshot"))}
    engine.dispose()
    return rows


def test_ranking_hears_the_registry_and_sizes_the_league(system):
    table = wait_for(lambda: (lambda t: t["registry_version"] is not None and t)(
        _league(system)), timeout=30, message="ranking has the registry")
    rows = {r["scope"]: r for r in table["rows"]}
    assert set(rows) == {"360302", "360313", "360321", "360322", "360323"}
    for code, row in rows.items():
        assert row["size"]["population"] == POPULATION[code]
    assert rows["360323"]["size"]["grid_cells"] == 7 and rows["360323"]["name"] == "芦溪县"
    assert table["size_basis"] == "grid_cells" and table["compared_with"]
    grid_table = _league(system, level="grid")
    assert grid_table["level"] == "grid"
    assert all(r["scope"].startswith("grid:") for r in grid_table["rows"])


def _announcements(url) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM recorded_event "
                              "WHERE event_type = 'registry_published'")).scalar()
    engine.dispose()
    return n


def test_ranking_asks_dispatch_when_it_has_no_registry(system):
    url = system.databases["ranking"]
    before = wait_for(lambda: _snapshots(url), timeout=30, message="snapshots")
    heard = _announcements(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM registry_snapshot"))
    engine.dispose()
    # Ranking's timer notices, asks dispatch, which announces again (same version) ...
    wait_for(lambda: _announcements(url) > heard, timeout=60,
             message="dispatch asked to announce again")
    # ... and the projector folds the announcement.
    after = wait_for(lambda: (lambda s: len(s) >= len(before) and s)(_snapshots(url)),
                     timeout=60, message="announcement folded")
    assert {k: v for k, v in after.items() if k in before} == before


@pytest.fixture(scope="module")
def spike(system):
    """Six hotline cases in 梅塘村 this week, accepted and dispatched there."""
    cases = [file_case(system, MEITANG, category="noise.industrial") for _ in range(SPIKE)]
    for case_no in cases:
        r = system.call("POST", f"/api/v1/cases/{case_no}/accept", "intake-360322", json={})
        assert r.status_code == 200, r.text
    return cases


def test_a_spike_in_a_quiet_grid_is_a_hot_spot(system, spike):
    def found():
        r = system.call("GET", "/api/v1/stats/hotspots?region=360322")
        assert r.status_code == 200, r.text
        spots = {h["grid"]: h for h in r.json()["hot_spots"]}
        return MEITANG in spots and spots[MEITANG]["count"] >= SPIKE and (r.json(), spots)
    data, spots = wait_for(found, timeout=30, message="梅塘村 a hot spot")
    spot = spots[MEITANG]
    assert spot["count"] == SPIKE and spot["name"] == "梅塘村" and spot["region_code"] == "360322"
    assert "own_history" in spot["reasons"] and spot["own_baseline"] == 0.0
    assert spot["z"] == SPIKE / 1.0                      # flat history: sd floored at min_sd 1
    assert len(data["periods"]) == 9 and data["measure"] == "complaints"
    assert spot["neighbours"] and MEITANG not in spot["neighbours"]
    exceed = system.call("GET", "/api/v1/stats/hotspots?region=360322&measure=exceedances")
    assert MEITANG not in {h["grid"] for h in exceed.json()["hot_spots"]}
    assert _people() and not any(p in json.dumps(data) for p in _people())


def test_trends_of_the_grid_per_week(system, spike):
    def weekly():
        r = system.call("GET", f"/api/v1/stats/trends?grid={MEITANG}&granularity=week")
        assert r.status_code == 200, r.text
        return r.json()["series"][-1]["assigned"] == SPIKE and r.json()
    data = wait_for(weekly, timeout=30, message="trend of 梅塘村")
    assert len(data["series"]) == 12 and data["name"] == "梅塘村"
    last = data["series"][-1]
    assert (last["received"], last["accepted"]) == (SPIKE, SPIKE)
    assert last["received_by_channel"] == {"hotline": SPIKE}
    assert last["assigned_by_channel"] == {"hotline": SPIKE}
    assert all(s["received"] == 0 for s in data["series"][:-1])
    month = system.call("GET", "/api/v1/stats/trends?region=360300&from=2026-01&to=2026-11")
    assert [s["period"] for s in month.json()["series"]][-1] == "2026-11"
    assert month.json()["series"][-1]["received"] >= SPIKE


def test_public_map_has_boundaries_and_nobody(system):
    r = system.call("GET", "/api/v1/public/map?region=360323&level=grid")
    assert r.status_code == 200, r.text
    features = r.json()["features"]
    assert len(features) == 7
    assert all(set(f["properties"]) == {"code", "name", "level", "parent_code", "population"}
               for f in features)
    assert not any(p in r.text for p in _people())
    counties = system.call("GET", f"/api/v1/public/map?region={CITY}").json()["features"]
    assert [f["properties"]["name"] for f in counties] == ["安源区", "湘东区", "莲花县", "上栗县",
                                                         "芦溪县"]


@pytest.mark.parametrize("path,field", [
    ("/api/v1/public/map?region=abc", "region"),
    ("/api/v1/public/map?region=360300&level=town", "level"),
    ("/api/v1/stats/hotspots?measure=noise", "measure"),
    ("/api/v1/stats/hotspots?period=2026-W60", "period"),
    ("/api/v1/stats/trends?region=36", "region"),
    ("/api/v1/stats/trends?region=360300&from=2010-01&to=2026-11", "from"),   # > 120
    ("/api/v1/stats/league?level=village", "level"),
])
def test_bad_parameters_name_the_field(system, path, field):
    r = system.call("GET", path)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_replay_rebuilds_the_registry_snapshots(system):
    url = system.databases["ranking"]
    live = wait_for(lambda: _snapshots(url), timeout=30, message="snapshots")
    with ClusterRpcProxy(system.config) as rpc:
        assert rpc.ranking.rebuild() > 0
    assert _snapshots(url) == live
