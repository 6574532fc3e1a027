"""The read model: exact figures over a synthetic year, order tolerance, replay equals live."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.events import CATALOGUE, sample_payload
from services.common.workdays import working_days_between
from services.ranking import metrics
from services.ranking.metrics import Counters, apply, figures, figures_for, merge
from services.ranking.tests import synthetic

BEIJING = synthetic.BEIJING


@pytest.fixture(scope="module")
def year():
    cases, patrols = synthetic.plan()
    state = Counters()
    for e in synthetic.events(cases, patrols):
        apply(state, e)
    return cases, patrols, state


def _in(scope: str, county: str) -> bool:
    return county.startswith({6: scope, 4: scope}.get(len(scope.rstrip("0")), scope.rstrip("0")))


def expected_month(cases, patrols, scope: str, month: str) -> dict:
    """Independent count of one month's figures from the plan (not from events)."""
    def m(dt):
        return dt.astimezone(BEIJING).strftime("%Y-%m") == month

    mine = [c for c in cases if c.county.startswith(scope.rstrip("0"))]
    received = [c for c in mine if c.fate != "merged" and m(c.received_at)]
    closed = [c for c in mine if c.verified_at and m(c.verified_at)]
    milli = [max(0, round(working_days_between(c.accepted_at, c.verified_at) * 1000))
             for c in closed]
    ratings = [c for c in mine if c.rating is not None and m(c.verified_at + timedelta(hours=1))]
    esc = [c for c in mine if c.rungs and m(c.escalated_at)]
    by_channel = {}
    for c in received:
        by_channel[c.channel] = by_channel.get(c.channel, 0) + 1
    n_patrols = sum(1 for p in patrols if p.county.startswith(scope.rstrip("0"))
                    and m(p.started_at))
    p90 = None
    if milli:
        rank = math.ceil(0.9 * len(milli))
        p90 = round((sorted(milli)[rank - 1] // 100 + 1) / 10, 3)
    return {
        "received": len(received),
        "received_by_channel": dict(sorted(by_channel.items())),
        "merged": sum(1 for c in mine if c.fate == "merged" and m(c.received_at)),
        "declined": sum(1 for c in mine if c.fate == "declined" and m(c.received_at)),
        "accepted": sum(1 for c in mine if c.accepted_at and m(c.accepted_at)),
        "closed": len(closed),
        "closed_on_time": sum(1 for c in closed if c.on_time),
        "closed_late": sum(1 for c in closed if not c.on_time),
        "overdue": len(esc),
        "escalations": sum(len(c.rungs) for c in esc),
        "rated": len(ratings),
        "satisfied": sum(1 for c in ratings if c.rating),
        "patrols": n_patrols,
        "patrol_minutes": 45 * n_patrols,
        "closed_with_time": len(milli),
        "avg_days_to_close": round(sum(milli) / len(milli) / 1000, 3) if milli else None,
        "p90_days_to_close": p90,
        "problem_discovery_rate": (by_channel.get("patrol", 0) / n_patrols) if n_patrols else None,
    }


@pytest.mark.parametrize("scope", ["360321", "360322", "360323", "360300", "360203", "360000"])
@pytest.mark.parametrize("month", ["2026-01", "2026-06", "2026-10", "2026-12"])
def test_synthetic_year_month_figures_are_exact(year, scope, month):
    cases, patrols, state = year
    got = figures(state.buckets[(scope, month)])
    want = expected_month(cases, patrols, scope, month)
    assert {k: got[k] for k in want} == want


def test_synthetic_year_rollups_add_up(year):
    _, _, state = year
    for month in ("2026-03", "2026-11"):
        counties = [figures(state.buckets[(c, month)]) for c in ("360321", "360322", "360323")]
        city = figures(state.buckets[("360300", month)])
        province = figures(state.buckets[("360000", month)])
        other = figures(state.buckets[("360203", month)])
        for name in ("received", "accepted", "closed", "rated", "patrols", "escalations"):
            assert city[name] == sum(f[name] for f in counties)
            assert province[name] == city[name] + other[name]
        # Grids of a county partition it.
        grids = [figures(state.buckets[(f"grid:36032310000{g}", month)]) for g in (1, 2)]
        assert sum(g["received"] for g in grids) == counties[2]["received"]


def test_days_and_weeks_partition_the_month(year):
    _, _, state = year
    days = [b for (s, p), b in state.buckets.items() if s == "360322" and p.startswith("2026-06-")]
    assert len(days) == 30
    assert sum(b.get("received", 0) for b in days) == state.buckets[("360322", "2026-06")]["received"]
    # 2026-06-01 is a Monday: ISO week 23 lies wholly in June.
    week = figures(state.buckets[("360322", "2026-W23")])
    june_1_to_7 = sum(figures(state.buckets[("360322", f"2026-06-0{d}")])["submissions"]
                      for d in range(1, 8))
    assert week["submissions"] == june_1_to_7 == 21  # 3 a day, repeats included


def test_sample_payloads_of_the_catalogue_are_counted():
    state = Counters()
    for kind in CATALOGUE:
        apply(state, sample_payload(kind))
    day = figures(state.buckets[("360323", "2026-11-23")])
    assert (day["received"], day["accepted"], day["declined"], day["merged"]) == (1, 1, 1, 1)
    assert day["received_by_channel"] == {"hotline": 1}
    assert day["received_by_category"] == {"air.odour": 1}
    assert (day["escalations"], day["overdue"], day["warnings"], day["rated"]) == (1, 1, 1, 1)
    assert day["satisfaction_rate"] == 0.0 and day["repeat_rate"] == 0.5
    # Verified 2026-12-01 08:00 UTC: counted in December, time from acceptance 23 Nov 09:05 local.
    dec = figures(state.buckets[("grid:360323100001", "2026-12")])
    assert dec["closed"] == dec["closed_on_time"] == 1
    assert dec["avg_days_to_close"] == round(working_days_between(
        datetime(2026, 11, 23, 1, 5, tzinfo=timezone.utc),
        datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)), 3)
    # Event types ranking does not count leave no trace.
    assert ("360323", "2026-11-30") not in state.buckets  # task_closed's closed_at day


def _case(kind, at, **extra):
    e = {"event_type": kind, "occurred_at": at, "case_no": "C1", "region_code": "360323",
         "grid_code": "360323100001", "channel": "hotline", "category": "air.odour"}
    e.update(extra)
    return e


ACC = _case("case_accepted", "2026-11-23T01:00:00+00:00", accepted_at="2026-11-23T01:00:00+00:00")
VER = _case("task_verified", "2026-11-25T01:00:00+00:00", on_time=True,
            verified_at="2026-11-25T01:00:00+00:00")
RATED = _case("case_rated", "2026-11-25T02:00:00+00:00", satisfied=True)


def test_sign_off_before_acceptance_and_rating_before_sign_off_give_the_same_figures():
    live, late = Counters(), Counters()
    for e in (ACC, VER, RATED):
        apply(live, e)
    for e in (RATED, VER, ACC):
        apply(late, e)
    assert metrics.to_json(live) == metrics.to_json(late)
    f = figures(live.buckets[("360323", "2026-11")])
    assert f["avg_days_to_close"] == 2.0 and f["p90_days_to_close"] == 2.1  # bin [2.0, 2.1)
    assert f["satisfaction_rate"] == 1.0 and f["case_handling_rate"] == 1.0


def test_earlier_acceptance_replaces_the_time_to_close():
    state = Counters()
    apply(state, VER)
    apply(state, ACC)
    # A referred case accepted earlier elsewhere: the clock starts at the earliest acceptance.
    apply(state, dict(ACC, region_code="360322", accepted_at="2026-11-20T01:00:00+00:00"))
    f = figures(state.buckets[("360323", "2026-11")])
    assert f["closed_with_time"] == 1
    assert f["avg_days_to_close"] == 3.0  # Fri 20 Nov 09:00 -> Wed 25 Nov 09:00, weekend skipped
    assert f["accepted"] == 1 and figures(state.buckets[("360322", "2026-11")])["accepted"] == 1


def test_patrol_and_transfer_events_when_present():
    state = Counters()
    apply(state, {"event_type": "patrol_recorded", "occurred_at": "2026-11-24T02:00:00+00:00",
                  "region_code": "360323", "grid_code": "360323100001", "worker_id": "w1",
                  # Walked late on the 22nd local, uploaded on the 24th: counts on the 22nd.
                  "started_at": "2026-11-22T14:00:00+00:00",
                  "ended_at": "2026-11-22T15:30:00+00:00"})
    apply(state, dict(_case("case_received", "2026-11-22T15:00:00+00:00"), channel="patrol"))
    apply(state, {"event_type": "joint_transfer_answered",
                  "occurred_at": "2026-12-02T02:00:00+00:00", "case_no": "C1",
                  "from_region": "320700", "to_region": "360323", "on_time": True,
                  "requested_at": "2026-11-24T02:00:00+00:00"})  # counted when requested
    apply(state, {"event_type": "joint_transfer_answered",
                  "occurred_at": "2026-11-24T03:00:00+00:00", "case_no": "C2",
                  "region_code": "320700", "to_region": "360323",
                  "on_time": False})  # counted for the receiving party, not the task's region
    day = figures(state.buckets[("grid:360323100001", "2026-11-22")])
    assert day["patrols"] == 1 and day["patrol_minutes"] == 90
    assert day["problem_discovery_rate"] == 1.0
    assert ("360323", "2026-11-23") not in state.buckets
    f = figures(state.buckets[("360323", "2026-11")])
    assert (f["transfers_answered"], f["transfers_on_time"], f["transfer_on_time_rate"]) == (2, 1, 0.5)
    assert "320700" not in {scope for scope, _ in state.buckets}


def test_joint_enforcement_events_count_for_each_party_on_their_day():
    state = Counters()
    for kind in ("joint_transfer_requested", "joint_consultation_held", "joint_operation_done",
                 "joint_case_closed", "joint_case_found", "joint_operation_planned"):
        apply(state, sample_payload(kind))
    xiangdong = figures(state.buckets[("360313", "2026-12")])
    luxi = figures(state.buckets[("360323", "2026-12")])
    assert (xiangdong["consultations_held"], xiangdong["consultations_attended"]) == (1, 1)
    assert (luxi["consultations_held"], luxi["consultations_attended"]) == (0, 1)
    assert xiangdong["joint_operations"] == luxi["joint_operations"] == 1  # one each, not two
    assert luxi["shared_cases_closed"] == 1 and xiangdong["shared_cases_closed"] == 0
    # A request counts for the party asked, when asked; planned operations and findings do not
    # count (the finding's case counts where it was found, as a received case).
    assert figures(state.buckets[("360313", "2026-11-23")])["transfers_received"] == 1
    assert ("360323", "2026-11") not in state.buckets
    # The city sums its counties' participations.
    assert figures(state.buckets[("360300", "2026-12")])["joint_operations"] == 2


def test_json_round_trip_and_merge_counts():
    state = Counters()
    for e in (ACC, VER, RATED):
        apply(state, e)
    text = json.dumps(metrics.to_json(state))
    again = metrics.from_json(json.loads(text))
    assert metrics.to_json(again) == metrics.to_json(state)
    assert metrics.merge_counts({"a": 1, "b": 2}, {"a": -1, "c": 3}) == {"b": 2, "c": 3}
    with pytest.raises(ValueError):
        metrics.from_json({"v": 99})


def test_figures_for_one_period():
    state = Counters()
    for e in (ACC, VER):
        apply(state, e)
    got = figures_for(state, "2026-W48", ["360323", "999999"])
    assert list(got) == ["360323"] and got["360323"]["closed"] == 1


# --- replay from scratch equals the live model, whatever the order and split ----------------

_T0 = datetime(2026, 12, 24, 1, 0, tzinfo=timezone.utc)  # spans New Year and 2027 weeks


@st.composite
def event_streams(draw):
    events = []
    for n in range(draw(st.integers(1, 5))):
        case_no = f"C{n}"
        region = draw(st.sampled_from(["360321", "360323", "360203"]))
        grid = region + "10000" + draw(st.sampled_from("12"))
        base = dict(case_no=case_no, region_code=region, grid_code=grid,
                    channel=draw(st.sampled_from(["patrol", "hotline", "web"])),
                    category=draw(st.sampled_from(["air.odour", "water.industrial"])))

        def at(hours):
            return (_T0 + timedelta(hours=hours)).isoformat()

        kinds = draw(st.lists(st.sampled_from(
            ["case_received", "case_accepted", "case_accepted", "case_declined", "case_merged",
             "task_assigned", "task_verified", "task_verified", "task_escalated", "task_warning",
             "case_rated", "patrol_recorded", "case_transfer_answered", "case_closed"]),
            min_size=1, max_size=8))
        for kind in kinds:
            h = draw(st.integers(0, 24 * 40))
            e = dict(base, event_type=kind, occurred_at=at(h))
            if kind == "case_accepted":
                e["accepted_at"] = at(h)
            elif kind == "task_verified":
                e.update(verified_at=at(h), on_time=draw(st.booleans()))
            elif kind == "task_escalated":
                e["rung"] = draw(st.integers(1, 3))
            elif kind == "case_rated":
                e["satisfied"] = draw(st.booleans())
            elif kind == "patrol_recorded":
                e.update(started_at=at(h), ended_at=at(h + 1))
            elif kind == "case_transfer_answered":
                e["on_time"] = draw(st.booleans())
            events.append(e)
    return events


def _figures_all(state):
    return {k: figures(b) for k, b in state.buckets.items()}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=event_streams(), data=st.data())
def test_any_split_and_order_replays_to_the_live_model(stream, data):
    live = Counters()
    for e in stream:
        apply(live, e)
    shuffled = data.draw(st.permutations(stream))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(shuffled)), max_size=4)))
    chunks, last = [], 0
    for cut in cuts + [len(shuffled)]:
        chunks.append(shuffled[last:cut])
        last = cut
    parts = []
    for chunk in chunks:
        part = Counters()
        for e in chunk:
            apply(part, e)
        parts.append(metrics.from_json(json.loads(json.dumps(metrics.to_json(part)))))
    # Merge in a drawn order too: merge must be commutative and associative.
    order = data.draw(st.permutations(range(len(parts))))
    replay = Counters()
    for i in order:
        replay = merge(replay, parts[i])
    assert _figures_all(replay) == _figures_all(live)
    assert metrics.to_json(replay) == metrics.to_json(live)


@settings(max_examples=60, deadline=None)
@given(stream=event_streams(), data=st.data())
def test_service_style_deltas_on_stored_tracks_equal_the_live_model(stream, data):
    """Batch apply onto the stored tracks with empty buckets, then add the deltas to the rows."""
    live = Counters()
    for e in stream:
        apply(live, e)
    cut = data.draw(st.integers(0, len(stream)))
    stored = Counters()
    for e in stream[:cut]:
        apply(stored, e)
    batch = stream[cut:]
    delta = Counters(cases={c: t for c, t in metrics.from_json(metrics.to_json(stored)).cases.items()
                            if c in {e["case_no"] for e in batch}})
    for e in batch:
        apply(delta, e)
    rows = {k: dict(v) for k, v in stored.buckets.items()}
    for key, d in delta.buckets.items():
        rows[key] = metrics.merge_counts(rows.get(key, {}), d)
    rows = {k: v for k, v in rows.items() if v}
    assert rows == live.buckets
