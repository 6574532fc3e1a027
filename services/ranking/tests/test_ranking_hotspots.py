"""Hot-spot grids against their own history and their neighbours."""
from __future__ import annotations

from services.ranking import metrics
from services.ranking.hotspots import hot_spots

CFG = {"hotspots": {"k": 2.0, "min_sd": 1.0, "floor": 5, "min_history": 4, "min_neighbours": 2}}


def test_spike_against_own_history():
    counts = {"g1": [3, 4, 3, 4, 12], "g2": [3, 4, 3, 4, 5]}
    got = hot_spots(counts, {}, CFG)
    assert [h.grid for h in got] == ["g1"]
    h = got[0]
    assert h.own_baseline == 3.5 and h.z == round((12 - 3.5) / 1.0, 3)  # sd 0.5 -> floor 1.0
    assert h.reasons == ["own_history"] and h.neighbour_baseline is None


def test_floor_and_short_history():
    assert hot_spots({"g": [0, 0, 0, 0, 4]}, {}, CFG) == []          # below the floor
    assert hot_spots({"g": [0, 0, 9]}, {}, CFG) == []                 # too little history


def test_against_neighbours():
    counts = {"a": [20], "b": [2], "c": [3], "d": [2]}
    nbrs = {"a": ["b", "c", "d"], "b": ["a", "c"], "c": ["a", "b"], "d": ["a"]}
    got = hot_spots(counts, nbrs, CFG)
    assert [(h.grid, h.reasons) for h in got] == [("a", ["neighbours"])]
    assert got[0].neighbour_baseline == round(7 / 3, 3) and got[0].z is None


def test_both_reasons_and_order():
    counts = {"a": [1, 1, 1, 1, 30], "b": [1, 1, 1, 1, 8], "c": [1, 1, 1, 1, 1],
              "d": [1, 1, 1, 1, 1]}
    nbrs = {"a": ["c", "d"], "b": ["c", "d"]}
    got = hot_spots(counts, nbrs, CFG)
    assert [h.grid for h in got] == ["a", "b"]
    assert got[0].reasons == ["own_history", "neighbours"]


def test_fed_from_counters():
    # Weekly received counts per grid from the read model.
    state = metrics.Counters()
    weeks = ["2026-W44", "2026-W45", "2026-W46", "2026-W47", "2026-W48"]
    for w, n in zip(weeks, [2, 3, 2, 3, 11]):
        state.buckets[("grid:g1", w)] = {"received": n}
    series = {"g1": [metrics.figures(state.buckets.get(("grid:g1", w), {}))["received"]
                     for w in weeks]}
    assert [h.grid for h in hot_spots(series, {}, CFG)] == ["g1"]
