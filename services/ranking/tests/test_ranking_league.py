"""League table: formula, size normalisation, minimum counts, ties, rank change, synthetic year."""
from __future__ import annotations

import pytest

from services.ranking import metrics
from services.ranking.league import Row, league_table
from services.ranking.metrics import Counters, apply, figures
from services.ranking.tests import synthetic

CFG = {"league": {
    "components": {
        "handling": {"weight": 1, "figure": "case_handling_rate", "kind": "rate"},
        "on_time": {"weight": 1, "figure": "on_time_rate", "kind": "rate"},
        "escalations": {"weight": 2, "figure": "escalations", "kind": "per_size", "cap": 10,
                        "better": "lower"},
    },
    "min_counts": {"closed": 10},
    "size": {"basis": "grid_cells", "per": {"grid_cells": 100, "population": 100000}},
    "score_decimals": 2,
    "tie_breakers": ["on_time_rate"],
}}


def fig(closed, accepted, on_time, escalations):
    return {"closed": closed, "accepted": accepted, "case_handling_rate": closed / accepted,
            "on_time_rate": on_time / closed, "escalations": escalations}


def test_score_follows_the_documented_formula():
    rows = league_table({"360323": fig(40, 50, 30, 5)}, {"360323": {"grid_cells": 200}}, CFG)
    # handling 0.8, on time 0.75, escalations 5 per 2 units = 2.5 per 100 cells -> 1 - 0.25
    assert rows[0].components == {"handling": 0.8, "on_time": 0.75, "escalations": 0.75}
    assert rows[0].score == round(100 * (0.8 + 0.75 + 2 * 0.75) / 4, 2) == 76.25
    assert (rows[0].rank, rows[0].ranked, rows[0].rank_change) == (1, True, None)


def test_small_county_with_the_same_rates_ranks_equal():
    figs = {"360321": fig(10, 12, 9, 1), "360323": fig(100, 120, 90, 10),
            "360322": fig(100, 120, 80, 10)}
    sizes = {"360321": {"grid_cells": 30}, "360323": {"grid_cells": 300},
             "360322": {"grid_cells": 300}}
    rows = league_table(figs, sizes, CFG)
    by = {r.scope: r for r in rows}
    assert by["360321"].score == by["360323"].score
    assert by["360321"].rank == by["360323"].rank == 1 and by["360322"].rank == 3
    # Equal rows listed by code: deterministic.
    assert [r.scope for r in rows] == ["360321", "360323", "360322"]


def test_population_basis():
    cfg = {"league": dict(CFG["league"], size={"basis": "population",
                                                "per": {"population": 100000}})}
    rows = league_table({"a": fig(20, 20, 20, 5)}, {"a": {"population": 50000}}, cfg)
    assert rows[0].components["escalations"] == 0.0  # 10 per 100k = cap


def test_ties_broken_by_tie_breaker_before_sharing():
    # Same score, different on-time rate: the better on-time rate goes first.
    cfg = {"league": dict(CFG["league"], components={
        "handling": {"weight": 1, "figure": "case_handling_rate", "kind": "rate"}})}
    figs = {"b": fig(10, 20, 9, 0), "a": fig(10, 20, 5, 0)}
    rows = league_table(figs, {}, cfg)
    assert [(r.scope, r.rank) for r in rows] == [("b", 1), ("a", 2)]


def test_minimum_counts_and_missing_size_leave_a_region_unranked_with_reasons():
    figs = {"360321": fig(9, 12, 9, 0), "360322": fig(20, 20, 20, 0),
            "360323": fig(20, 20, 10, 0)}
    rows = league_table(figs, {"360322": {"grid_cells": 10}, "360321": {"grid_cells": 10}}, CFG)
    assert [(r.scope, r.rank, r.ranked) for r in rows] == [
        ("360322", 1, True), ("360321", None, False), ("360323", None, False)]
    assert rows[1].reason_unranked == "closed 9 < 10"
    assert rows[2].reason_unranked == "no size (grid_cells)"
    assert rows[1].score is not None  # kept for information


def test_undefined_component_is_left_out_of_the_weights():
    f = fig(20, 20, 10, 0)
    f["on_time_rate"] = None
    rows = league_table({"a": f}, {"a": {"grid_cells": 100}}, CFG)
    assert rows[0].components["on_time"] is None
    assert rows[0].score == round(100 * (1.0 + 2 * 1.0) / 3, 2)


def test_rank_change_against_the_previous_period():
    sizes = {s: {"grid_cells": 100} for s in "abc"}
    before = league_table({"a": fig(20, 20, 20, 0), "b": fig(20, 20, 15, 0),
                           "c": fig(20, 20, 10, 0)}, sizes, CFG)
    now = league_table({"a": fig(20, 20, 10, 0), "b": fig(20, 20, 15, 0),
                        "c": fig(20, 20, 20, 0), "d": fig(20, 20, 1, 0)},
                       dict(sizes, d={"grid_cells": 100}), CFG,
                       previous=[r.as_dict() for r in before])
    assert [(r.scope, r.rank, r.rank_change) for r in now] == [
        ("c", 1, 2), ("b", 2, 0), ("a", 3, -2), ("d", 4, None)]


def test_synthetic_year_ranks_follow_lateness():
    cases, patrols = synthetic.plan()
    state = Counters()
    for e in synthetic.events(cases, patrols):
        apply(state, e)
    cfg = metrics.load_config()
    counties = ["360321", "360322", "360323", "360203"]
    sizes = {c: {"grid_cells": 100, "population": 100000} for c in counties}
    year_figs = {}
    for c in counties:
        total = {}
        for m in range(1, 13):
            total = metrics.merge_counts(total, state.buckets[(c, f"2026-{m:02d}")])
        year_figs[c] = figures(total)
    rows = league_table(year_figs, sizes, cfg)
    # Late every 10th, 5th, 3rd, 2nd case respectively: lateness (and the escalations it brings)
    # is what separates the counties.
    assert [r.scope for r in rows] == ["360321", "360322", "360203", "360323"]
    assert [r.rank for r in rows] == [1, 2, 3, 4]
    on_time = {r.scope: r.components["on_time_rate"] for r in rows}
    assert on_time["360321"] > on_time["360322"] > on_time["360203"] > on_time["360323"]
    # Month by month, the small county 360203 (1 case a day) is ranked once it has 10 closures.
    jan = league_table({c: figures(state.buckets[(c, "2026-01")]) for c in counties}, sizes, cfg)
    assert all(r.ranked for r in jan)
    early = league_table({c: figures(state.buckets[(c, "2026-01-05")]) for c in counties},
                         sizes, cfg)
    assert not any(r.ranked for r in early) and "closed" in early[0].reason_unranked


def test_row_is_plain_data():
    row = Row(1, "a", 50.0, {"x": 0.5})
    assert row.as_dict()["components"] == {"x": 0.5}
    with pytest.raises(Exception):
        row.rank = 2  # frozen
