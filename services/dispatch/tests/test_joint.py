"""Cross-region joint enforcement (左右联动): rotation, sharing, transfers, evaluation, export."""
import re
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.demo.pingxiang import COUNTIES, HUNAN
from services.common.errors import Conflict, ValidationError
from services.dispatch import joint
from services.dispatch.ical import fold, roster_table_html, roster_to_ics
from services.dispatch.joint import (
    Agreement, Meeting, Party, Scope, Swap, Transfer, agenda, answer, answer_deadlines,
    consultation_agenda, credit_region, distance_km, evaluate, expire, generate_roster,
    in_scope, is_answered_on_time, load_agreements, load_config, near_border,
    operation_parties, plan_consultations, propose_neighbours, sharing_partners, term_on,
    unscheduled,
)

ROOT = Path(__file__).resolve().parents[3]
CFG = load_config(ROOT / "infra" / "config" / "joint.yaml")
DEMO = load_agreements(ROOT / "infra" / "demo" / "joint_pingxiang.yaml")
UTC = timezone.utc
CODES = ("360302", "360313", "360323")


def three_party(period="quarter", start=date(2025, 1, 1), **party_changes) -> Agreement:
    parties = [Party(code, f"县{code}", start, liaisons=[
        {"id": f"ll-{code}", "name": f"联络员{code}", "phone": "13800138000"}]) for code in CODES]
    for code, changes in party_changes.items():
        i = CODES.index(code)
        parties[i] = replace(parties[i], **changes)
    return Agreement("T", "测试联动协议", parties, Scope(buffer_km=5), period, start)


def counts(terms, codes=None):
    c = Counter(t.host_region for t in terms)
    return {code: c.get(code, 0) for code in (c if codes is None else codes)}


# --- rotating host (轮流坐庄) --------------------------------------------------------------------
def test_three_parties_two_years_quarterly_are_fair():
    terms = generate_roster(three_party(), date(2025, 1, 1), date(2026, 12, 31), cfg=CFG)
    assert len(terms) == 8
    assert [t.period_start for t in terms][:3] == [date(2025, 1, 1), date(2025, 4, 1),
                                                   date(2025, 7, 1)]
    assert terms[0].period_end == date(2025, 3, 31) and terms[-1].period_end == date(2026, 12, 31)
    assert [t.host_region for t in terms[:4]] == ["360302", "360313", "360323", "360302"]
    c = counts(terms, CODES)
    assert max(c.values()) - min(c.values()) <= 1 and sum(c.values()) == 8
    assert terms[0].duties == tuple(d["zh"] for d in CFG["host"]["duties"])


def test_roster_does_not_depend_on_the_window_asked_for():
    a = three_party()
    full = generate_roster(a, date(2025, 1, 1), date(2027, 12, 31), cfg=CFG)
    window = generate_roster(a, date(2026, 2, 10), date(2026, 8, 1), cfg=CFG)
    assert window == [t for t in full if date(2026, 1, 1) <= t.period_start <= date(2026, 7, 1)]


def test_host_order_and_month_end_anchor():
    a = replace(three_party(period="month", start=date(2025, 1, 31)),
                host_order=["360323", "360302"])
    terms = generate_roster(a, date(2025, 1, 31), date(2025, 5, 1), cfg=CFG)
    assert [t.host_region for t in terms[:3]] == ["360323", "360302", "360313"]
    # From the anchor each time: Feb 28, then Mar 31 (not Mar 28).
    assert [t.period_start for t in terms[:3]] == [date(2025, 1, 31), date(2025, 2, 28),
                                                   date(2025, 3, 31)]
    assert terms[0].period_end == date(2025, 2, 27)


def test_recorded_swap_is_honoured():
    a = three_party()
    base = generate_roster(a, date(2025, 1, 1), date(2025, 12, 31), cfg=CFG)
    assert base[0].host_region == "360302" and base[1].host_region == "360313"
    swap = Swap(date(2025, 1, 1), "360302", "360313", recorded_by="市局张科长",
                reason="安源区换届，无法主持一季度会商")
    swapped = generate_roster(a, date(2025, 1, 1), date(2025, 12, 31), [swap], cfg=CFG)
    assert [t.host_region for t in swapped[:2]] == ["360313", "360302"]
    assert swapped[0].swap == swap and swapped[1].swap == swap
    assert swapped[2:] == base[2:]
    assert counts(swapped) == counts(base)
    # A window ending at the swapped term still sees the exchange (the partner term lies after).
    assert generate_roster(a, date(2025, 1, 1), date(2025, 2, 1), [swap], cfg=CFG)[0].swap == swap


@pytest.mark.parametrize("swap, code", [
    (Swap(date(2025, 2, 1), "360302", "360313", "张", "原因"), "swap_not_a_term"),
    (Swap(date(2025, 1, 1), "360313", "360323", "张", "原因"), "swap_mismatch"),
    (Swap(date(2025, 1, 1), "360302", "360313", "", "原因"), "swap_unrecorded"),
    (Swap(date(2025, 1, 1), "360302", "999999", "张", "原因"), "swap_bad_party"),
])
def test_bad_swaps_are_refused(swap, code):
    with pytest.raises(ValidationError) as err:
        generate_roster(three_party(), date(2025, 1, 1), date(2025, 12, 31), [swap], cfg=CFG)
    assert err.value.code == code


def test_party_leaving_is_skipped_and_the_rest_stay_fair():
    a = three_party(**{"360313": {"left": date(2025, 8, 15)}})
    terms = generate_roster(a, date(2025, 1, 1), date(2027, 12, 31), cfg=CFG)
    # It hosts its Q2 2025 term, and none starting on or after 2025-08-15.
    assert [t.period_start for t in terms if t.host_region == "360313"] == [date(2025, 4, 1)]
    after = [t for t in terms if t.period_start >= date(2025, 8, 15)]
    c = counts(after, ("360302", "360323"))
    assert max(c.values()) - min(c.values()) <= 1 and sum(c.values()) == len(after) == 9
    hosts = [t.host_region for t in after]
    assert all(x != y for x, y in zip(hosts, hosts[1:]))  # the two remaining alternate


def test_joining_party_enters_the_rotation():
    a = three_party()
    a.parties.append(Party("360321", "莲花县", date(2025, 5, 10)))
    terms = generate_roster(a, date(2025, 1, 1), date(2027, 12, 31), cfg=CFG)
    firsts = [t.period_start for t in terms if t.host_region == "360321"]
    assert firsts and firsts[0] >= date(2025, 7, 1)  # first term starting after it joined
    # Appended at the back: the three founders each host once more before it does.
    since_join = [t.host_region for t in terms if t.period_start >= date(2025, 7, 1)]
    assert since_join[:4] == ["360323", "360302", "360313", "360321"]
    c = counts([t for t in terms if t.period_start >= date(2025, 7, 1)])
    assert max(c.values()) - min(c.values()) <= 1 and set(c) == {*CODES, "360321"}


@st.composite
def agreements(draw):
    period = draw(st.sampled_from(joint.PERIODS))
    start = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 400)))
    n = draw(st.integers(2, 5))
    parties = []
    for i in range(n):
        joined = start + timedelta(days=draw(st.sampled_from([0, 0, 0, 45, 200, 500, 900])))
        left = draw(st.one_of(st.none(), st.integers(1, 1500).map(
            lambda d, j=joined: j + timedelta(days=d))))
        parties.append(Party(f"3603{i + 10:02d}", f"P{i}", joined, left))
    host_order = draw(st.permutations([p.region_code for p in parties]))
    return Agreement("H", "h", parties, Scope(), period, start,
                     host_order=list(host_order[:draw(st.integers(0, n))]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(agreements(), st.integers(0, 40), st.integers(1, 40))
def test_rotation_is_fair_over_any_window(agreement, skip, width):
    terms = generate_roster(agreement, agreement.start, agreement.start + timedelta(days=3000),
                            cfg=CFG)
    assert generate_roster(agreement, agreement.start, agreement.start + timedelta(days=3000),
                           cfg=CFG) == terms  # deterministic
    for t in terms:
        assert agreement.party(t.host_region).active_on(t.period_start)
    window = terms[skip:skip + width]
    if not window:
        return
    steady = [p.region_code for p in agreement.parties
              if all(p.active_on(t.period_start) for t in window)]
    c = counts(window, steady)
    if c:
        assert max(c.values()) - min(c.values()) <= 1, (c, [t.host_region for t in window])


# --- geometry: neighbours and sharing (信息共享) -------------------------------------------------
def test_propose_neighbours_edges_not_corners():
    b = shapely.box
    boundaries = {
        "360302": b(114.0, 27.0, 114.1, 27.1),
        "360313": b(114.1, 27.0, 114.2, 27.1),     # shares the edge lon 114.1 with 360302
        "360321": b(114.2, 27.1, 114.3, 27.2),     # touches 360313 at one corner only
        "360322": b(114.1003, 27.1, 114.2, 27.2),  # on 360313; 30 m from 360302's corner
    }
    # 360321/360322 share lon 114.2; 360302/360322 only come within 30 m at a corner.
    assert propose_neighbours(boundaries) == [
        ("360302", "360313"), ("360313", "360322"), ("360321", "360322")]
    # Without tolerance an exact edge still counts, an exact corner still does not.
    assert propose_neighbours(boundaries, tolerance_m=0) == propose_neighbours(boundaries)


def test_propose_neighbours_bridges_small_gaps_only():
    b = shapely.box
    near = {"360302": b(114.0, 27.0, 114.1, 27.1), "360313": b(114.1003, 27.0, 114.2, 27.1)}
    assert propose_neighbours(near, tolerance_m=50) == [("360302", "360313")]  # ~30 m gap
    assert propose_neighbours(near, tolerance_m=10) == []


def test_propose_neighbours_on_the_demo_map():
    counties = {code: geom for code, _, geom in COUNTIES}
    assert propose_neighbours(counties) == [
        ("360302", "360313"), ("360302", "360322"), ("360302", "360323"), ("360313", "360321"),
        ("360313", "360322"), ("360313", "360323"), ("360321", "360323"), ("360322", "360323")]
    city = shapely.union_all(list(counties.values()))
    pairs = propose_neighbours({"360300": city, **{c: g for c, _, g in HUNAN}, **counties})
    # The city borders all three Hunan neighbours, and is never paired with its own counties.
    assert {("360300", h) for h in ("430181", "430223", "430281")} <= set(pairs)
    assert not any(a == "360300" and b.startswith("3603") for a, b in pairs)


def test_distance_uses_the_ellipsoid():
    # One degree of latitude at 27.5 N is 110.82 km on WGS84 (a sphere would give 111.19).
    assert distance_km((114.0, 27.0), (114.0, 28.0)) == pytest.approx(110.82, abs=0.05)
    assert distance_km((114.0, 27.6), (115.0, 27.6)) == pytest.approx(98.72, abs=0.1)


def test_near_border_with_a_buffer():
    b = shapely.box
    own = b(114.0, 27.0, 114.2, 27.2)
    partners = {"360313": b(114.2, 27.0, 114.4, 27.2),      # east edge lon 114.2
                "360321": b(113.8, 27.2, 114.0, 27.4)}      # corner (114.0, 27.2) only
    km_per_lon = distance_km((114.0, 27.1), (115.0, 27.1))
    p = (114.2 - 4.9 / km_per_lon, 27.1)  # 4.9 km west of the shared edge
    assert near_border(p, own, partners, 5) == ["360313"]
    assert near_border(p, own, partners, 4.8) == []
    # Right at the corner: still not near 360321, which shares no edge.
    assert near_border((114.0005, 27.1995), own, partners, 5) == []
    with pytest.raises(ValidationError):
        near_border(p, own, partners, -1)


def _demo_boundaries():
    counties = {code: geom for code, _, geom in COUNTIES}
    return {"360300": shapely.union_all(list(counties.values())),
            **{c: g for c, _, g in HUNAN}, **counties}


def test_sharing_partners_buffer_and_river():
    counties_agreement, border_agreement = DEMO
    boundaries = _demo_boundaries()
    # 芦溪县, 2 km east of its border with 湘东区 (lon 114.00, lat 27.40-27.55).
    case = {"category": "air.odour", "region_code": "360323", "lat": 27.47,
            "lon": 114.0 + 2 / distance_km((114, 27.47), (115, 27.47))}
    assert sharing_partners(counties_agreement, case, boundaries, cfg=CFG) == ["360313"]
    # Deep inside 芦溪县: nobody, unless it is on the 萍水河, which flows on to 安源区 and 湘东区.
    inside = dict(case, lat=27.6, lon=114.2)
    assert sharing_partners(counties_agreement, inside, boundaries, cfg=CFG) == []
    assert sharing_partners(counties_agreement, dict(inside, river=" 萍水河"), boundaries,
                            cfg=CFG) == ["360302", "360313"]
    # Cross-province: a 萍水河 case in 芦溪县 (a county of party 360300) reaches 醴陵 only.
    assert sharing_partners(border_agreement, dict(inside, river="萍水河"), boundaries,
                            cfg=CFG) == ["430281"]
    # A 湘东区 case next to 醴陵市 (lon 113.60) reaches 醴陵 but not 浏阳 or 攸县.
    west = {"category": "water.industrial", "region_code": "360313", "lat": 27.6, "lon": 113.62}
    assert sharing_partners(border_agreement, west, boundaries, cfg=CFG) == ["430281"]
    with pytest.raises(ValidationError) as err:
        sharing_partners(border_agreement, west, {"360300": boundaries["360300"]}, cfg=CFG)
    assert err.value.code == "missing_boundary"


def test_in_scope_category_region_and_dates():
    a = replace(three_party(), scope=Scope(categories=["water", "air.odour"], buffer_km=5))
    assert in_scope(a, {"category": "water.industrial", "region_code": "360323100001"})
    assert in_scope(a, {"category": ["noise.industrial", "air.odour"], "region_code": "360302"})
    assert not in_scope(a, {"category": "air.dust", "region_code": "360302"})
    assert not in_scope(a, {"category": "water.other", "region_code": "360321"})
    assert not in_scope(a, {"category": "water.other", "region_code": "360302"},
                        on=date(2024, 12, 31))
    with pytest.raises(ValidationError):
        in_scope(a, {"category": "water.other"})


def test_demo_agreements_load():
    counties_agreement, border_agreement = DEMO
    assert counties_agreement.name == "萍乡市县区环境执法联动协议"
    assert {p.region_code for p in counties_agreement.parties} == {
        "360302", "360313", "360321", "360322", "360323"}
    assert (counties_agreement.period, counties_agreement.scope.buffer_km) == ("quarter", 5)
    assert border_agreement.period == "year" and "渌水" in border_agreement.scope.rivers
    assert {p.region_code for p in border_agreement.parties} == {
        "360300", "430281", "430223", "430181"}
    for a in DEMO:
        for p in a.parties:
            assert p.liaisons and all(re.fullmatch(r"1[3-9]\d{9}", x["phone"])
                                      for x in p.liaisons)


def test_agreement_validation():
    with pytest.raises(ValidationError) as err:
        replace(three_party(), period="week")
    assert err.value.code == "bad_period"
    p = three_party().parties
    with pytest.raises(ValidationError) as err:
        Agreement("X", "x", [p[0], Party("360300", "萍乡市", date(2025, 1, 1))], Scope(),
                  "year", date(2025, 1, 1))
    assert err.value.code == "nested_parties"


# --- consultations (定期会商) --------------------------------------------------------------------
def test_plan_consultations_one_per_term_on_working_days():
    terms = generate_roster(three_party(), date(2025, 1, 1), date(2025, 12, 31), cfg=CFG)
    meetings = plan_consultations(terms, CFG)
    assert [m.host_region for m in meetings] == [t.host_region for t in terms]
    for m, t in zip(meetings, terms):
        assert t.period_start <= m.date <= t.period_end and m.kind == "regular"
        assert m.date.weekday() < 5 or m.date == date(2025, 9, 28)  # 2025-09-28 is a 调休 day
    # Q1 2025: middle day is Feb 15 (Saturday) -> Monday Feb 17.
    assert meetings[0].date == date(2025, 2, 17)


def test_plan_consultations_refuses_fewer_than_yearly():
    a = three_party(period="year")
    terms = generate_roster(a, date(2025, 1, 1), date(2027, 12, 31), cfg=CFG)
    assert len(plan_consultations(terms, CFG)) == 3
    cfg = {**CFG, "consultation": {**CFG["consultation"], "per_term": 0}}
    with pytest.raises(ValidationError) as err:
        plan_consultations(terms, cfg)
    assert err.value.code == "too_few_consultations"


def test_agenda_lists_open_shared_cases_without_complainant_data():
    cases = [
        {"case_no": "360323-20251103-0002", "region_code": "360323", "region_name": "芦溪县",
         "category": "water.industrial", "enterprise": "萍乡某化工有限公司", "address": "芦溪县宣风镇",
         "status": "in_progress", "received_at": "2025-11-03T02:00:00+00:00",
         "complainant_name": "王秀兰", "complainant_phone": "13912345678",
         "description": "举报人王秀兰称夜间排污"},
        {"case_no": "360313-20251101-0001", "region_code": "360313", "category": "air.odour",
         "status": "assigned", "received_at": "2025-11-01T02:00:00+00:00"},
        {"case_no": "360302-20251020-0009", "region_code": "360302", "category": "air.odour",
         "status": "closed", "received_at": "2025-10-20T02:00:00+00:00"},
    ]
    lines = agenda(cases, categories={"water.industrial": {"zh": "水-工业废水"},
                                      "air.odour": {"zh": "大气-恶臭/异味"}}, cfg=CFG)
    assert len(lines) == 2
    assert lines[0].startswith("360313-20251101-0001") and "大气-恶臭/异味" in lines[0]
    assert "芦溪县" in lines[1] and "萍乡某化工有限公司" in lines[1] and "水-工业废水" in lines[1]
    text = "\n".join(lines)
    assert "王秀兰" not in text and "13912345678" not in text and "夜间排污" not in text


def test_consultation_agenda_sections_each_case_once():
    now = datetime(2025, 12, 1, 2, 0, tzinfo=UTC)
    labels = {"water.industrial": {"zh": "水-工业废水"}, "air.odour": {"zh": "大气-恶臭/异味"}}

    def case(no, region, deadline_days, status="assigned", **extra):
        return {"case_no": no, "region_code": region, "category": "air.odour",
                "status": status, "received_at": "2025-11-01T02:00:00+00:00",
                "deadline": now + timedelta(days=deadline_days), "regions": [region, "360313"],
                "complainant_phone": "13912345678", "description": "举报人称", **extra}

    cases = [case("A", "360323", -3), case("B", "360323", -10), case("C", "360302", 5),
             case("D", "360323", 2), case("E", "360323", -1, status="signed_off"),
             case("F", "360323", 9)]
    transfers = [{"case_no": "F", "kind": "help_request", "from_region": "360323",
                  "to_region": "360302", "due": now - timedelta(hours=1)},
                 {"case_no": "E", "kind": "transfer", "from_region": "360323",
                  "to_region": "360313", "due": now}]  # finished: left out
    items = consultation_agenda(cases, transfers, now, categories=labels, cfg=CFG)
    assert [(i["section"], i["case_no"]) for i in items] == [
        ("transfer", "F"), ("overdue", "B"), ("overdue", "A"), ("open", "D"), ("open", "C")]
    assert "协助调查取证" in items[0]["line"] and "已逾答复期限" in items[0]["line"]
    assert items[0]["regions"] == ["360302", "360313", "360323"]
    text = str(items)
    assert "13912345678" not in text and "举报人" not in text


def test_unscheduled_regular_meetings_and_terms():
    a = three_party()
    terms = generate_roster(a, date(2025, 1, 1), date(2025, 12, 31), cfg=CFG)
    planned = plan_consultations(terms, CFG)
    assert term_on(terms, date(2025, 5, 1)).period_start == date(2025, 4, 1)
    q2 = terms[1]
    # Scheduled on another day of the term, by its host: it stands for the planned one.
    scheduled = [Meeting(date(2025, 4, 3), q2.host_region, "regular", held=True),
                 Meeting(date(2025, 1, 9), terms[0].host_region, "requested")]
    owed = unscheduled(terms, planned, scheduled)
    assert [m.date for m in owed] == [m.date for m in planned if m.host_region != q2.host_region
                                      or not q2.period_start <= m.date <= q2.period_end]
    assert len(owed) == len(planned) - 1  # a requested meeting stands for no regular one


def test_operation_parties_by_containment_in_party_order():
    a = DEMO[1]  # 湘赣边: 萍乡市 is the party for its counties
    assert operation_parties(a, "430281", ["360313", "360323", "430223"]) == [
        "360300", "430281", "430223"]
    assert operation_parties(a, "360300", ["999999"]) == ["360300"]


def test_evaluation_counts_sign_offs_when_given():
    a = three_party()
    cases = [{"region_code": "360313", "status": "in_progress"}]
    closed = [{"region_code": "360313"}, {"region_code": "360313"}, {"region_code": "999999"}]
    x = evaluate(a, [], [], [], cases, closed, cfg=CFG)["360313"]
    assert (x["shared_cases"], x["shared_cases_closed"]) == (1, 2)
    assert x["score_parts"]["shared_case_closure"] == 1.0  # capped


# --- transfers (案件移交) -----------------------------------------------------------------------
T0 = datetime(2025, 11, 3, 2, 0, tzinfo=UTC)


def transfer(**kw) -> Transfer:
    base = dict(id="TR-1", case_no="360323-20251103-0002", from_region="360323",
                to_region="360313", requested_at=T0, due=T0 + timedelta(days=7),
                expires_at=T0 + timedelta(days=21))
    return Transfer(**{**base, **kw})


def test_transfer_accept_refuse_expire():
    t = transfer()
    ok = answer(t, True, None, T0 + timedelta(days=2))
    assert ok.state == "accepted" and is_answered_on_time(ok)
    with pytest.raises(ValidationError) as err:
        answer(t, False, "  ", T0 + timedelta(days=2))
    assert err.value.code == "reason_required"
    refused = answer(t, False, "不属于本区管辖，发生地在上栗县", T0 + timedelta(days=1))
    assert refused.state == "refused" and refused.reason.startswith("不属于")
    with pytest.raises(Conflict):
        answer(refused, True, None, T0 + timedelta(days=3))
    late = answer(t, True, None, T0 + timedelta(days=9))
    assert late.state == "accepted" and not is_answered_on_time(late)
    with pytest.raises(ValidationError):
        expire(t, T0 + timedelta(days=10))  # due, but not lapsed yet
    lapsed = expire(t, T0 + timedelta(days=21))
    assert lapsed.state == "expired" and not is_answered_on_time(lapsed)
    with pytest.raises(Conflict):
        answer(lapsed, True, None, T0 + timedelta(days=22))
    assert t.state == "requested"  # answering returns a new value


def test_transfer_validation_and_deadlines():
    with pytest.raises(ValidationError):
        transfer(due=T0)
    with pytest.raises(ValidationError):
        transfer(to_region="360323")
    with pytest.raises(ValidationError):
        transfer(requested_at=T0.replace(tzinfo=None))
    # Monday 2025-11-03 10:00 Beijing: 5 working days -> Monday 2025-11-10 17:30 Beijing.
    due, expires = answer_deadlines("transfer", T0, CFG)
    assert due == datetime(2025, 11, 10, 9, 30, tzinfo=UTC)
    assert expires == datetime(2025, 11, 24, 9, 30, tzinfo=UTC)
    help_due, _ = answer_deadlines("help_request", T0, CFG)
    assert help_due == datetime(2025, 11, 17, 9, 30, tzinfo=UTC)


def test_cross_inspection_credits_where_the_case_is_found():
    assert credit_region("360323", ["360302", "360313"]) == "360323"
    assert credit_region("360323100001", iter(["430281"])) == "360323100001"
    with pytest.raises(ValidationError):
        credit_region("", ["360302"])


# --- evaluation (联动工作评估) ------------------------------------------------------------------
def _evaluation(answer_at: datetime):
    a = three_party()
    transfers = [answer(transfer(), True, None, answer_at),
                 transfer(id="TR-2", to_region="360302")]
    meetings = [Meeting(date(2025, 2, 17), "360302", held=True, attendees=("360313",)),
                Meeting(date(2025, 5, 16), "360313")]
    ops = [{"lead_region": "360313", "participants": ["360323"]}]
    cases = [{"region_code": "360313", "status": "closed"},
             {"region_code": "360313", "status": "in_progress"}]
    return evaluate(a, transfers, meetings, ops, cases, cfg=CFG)


def test_evaluation_figures_and_late_answer():
    on_time = _evaluation(T0 + timedelta(days=1))
    late = _evaluation(T0 + timedelta(days=9))
    x = on_time["360313"]
    assert (x["transfers_received"], x["answered_on_time"], x["answered_late"]) == (1, 1, 0)
    assert (x["consultations_hosted"], x["consultations_held"], x["consultations_attended"]) == (
        1, 0, 1)
    assert (x["joint_operations"], x["shared_cases"], x["shared_cases_closed"]) == (1, 2, 1)
    assert on_time["360302"]["unanswered"] == 1 and on_time["360323"]["transfers_sent"] == 2
    # 35*1 + 20*0 + 10*1 + 15*0.5 + 20*0.5 over 100.
    assert x["score"] == 62.5
    y = late["360313"]
    assert (y["answered_on_time"], y["answered_late"]) == (0, 1)
    assert y["score_parts"]["transfer_timeliness"] == 0.5
    assert y["score"] == pytest.approx(62.5 - 35 * 0.5)
    assert late["360302"] == on_time["360302"]
    # 360323 received nothing and hosted nothing: those parts do not count against it.
    assert set(on_time["360323"]["score_parts"]) == {"consultation_attendance", "joint_operations"}


# --- export ------------------------------------------------------------------------------------
def _unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def test_ics_is_well_formed_and_stable():
    a = DEMO[0]
    swap = Swap(date(2025, 4, 1), "360313", "360321", "市局", "湘东区承办省级检查，申请调换")
    terms = generate_roster(a, date(2025, 1, 1), date(2025, 12, 31), [swap], cfg=CFG)
    meetings = plan_consultations(terms, CFG)
    text = roster_to_ics(a, terms, meetings)
    assert text == roster_to_ics(a, terms, meetings)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    physical = text.split("\r\n")[:-1]
    assert all(len(line.encode("utf-8")) <= 75 for line in physical)
    assert any(line.startswith(" ") for line in physical)  # something was folded
    lines = _unfold(text)[:-1]
    stack = []
    for line in lines:
        if line.startswith("BEGIN:"):
            stack.append(line[6:])
        elif line.startswith("END:"):
            assert stack.pop() == line[4:]
    assert not stack and lines[0] == "BEGIN:VCALENDAR" and "PRODID:-//envgrid//roster//ZH" in lines
    uids = [x for x in lines if x.startswith("UID:")]
    assert len(uids) == len(set(uids)) == len(terms) + len(meetings)
    assert "UID:term-PX-COUNTIES-20250101@envgrid" in uids
    # The first term is all-day Jan 1 - Mar 31 (DTEND exclusive).
    i = lines.index("UID:term-PX-COUNTIES-20250101@envgrid")
    assert "DTSTART;VALUE=DATE:20250101" in lines[i:i + 5]
    assert "DTEND;VALUE=DATE:20250401" in lines[i:i + 5]
    assert any("轮值调换" in x and "湘东区" in x for x in lines)
    for line in lines:
        if line.startswith(("SUMMARY:", "DESCRIPTION:")):
            value = line.split(":", 1)[1]
            assert not re.search(r"(?<!\\)[,;]", value)  # escaped


def test_fold_never_splits_a_character():
    line = "DESCRIPTION:" + "联动执法a" * 40
    folded = fold(line)
    parts = folded.split("\r\n")
    assert len(parts) > 1 and all(len(p.encode("utf-8")) <= 75 for p in parts)
    assert all(p.startswith(" ") for p in parts[1:])
    assert folded.replace("\r\n ", "") == line  # every part decodes: no cut characters


def test_roster_table_html():
    a = DEMO[1]
    terms = generate_roster(a, date(2024, 1, 1), date(2027, 12, 31), cfg=CFG)
    html = roster_table_html(a, terms)
    assert html.count("<tr>") == len(terms) + 1 == 5
    assert "2024-01-01 至 2024-12-31" in html and "萍乡市（360300）" in html
    assert "@page" in html and "@media print" in html and CFG["host"]["duties"][0]["zh"] in html
    evil = replace(a, name="<script>x</script>")
    assert "<script>x" not in roster_table_html(evil, terms)
