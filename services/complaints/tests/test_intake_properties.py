"""Properties of the intake rules (受理规则), pure functions only: phone numbers are kept and never
a reason to refuse; the acceptance limit (受理时限) counts calendar or Chinese working days from
receipt and never moves backwards; repeats (重复举报) merge while the case is open and only then."""
from __future__ import annotations

import dataclasses
import math
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.common import workdays
from services.common.config import Policy
from services.common.phones import FLAGS, KINDS, parse_phone, service_numbers
from services.complaints import domain

BEIJING = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
FAST = settings(max_examples=150, deadline=None)


@pytest.fixture(scope="module")
def rules() -> dict:
    return Policy.load().for_region("360323")


def _submit(rules, **fields) -> domain.Submission:
    cmd = {"channel": "hotline", "category": "air.odour", "description": "异味",
           "region_code": "360323", **fields}
    return domain.validate_submission(cmd, rules, NOW, "360300")


# --- phone numbers (电话号码) -------------------------------------------------------------------
# Mobile prefixes libphonenumber knows as CN mobiles; landline area codes with their
# subscriber-number length (Foshan 0757 has eight digits, Pingxiang 0799 seven).
MOBILE_PREFIXES = [str(p) for p in (*range(130, 140), 147, 150, 151, 152, 153, 155, 156, 157,
                                    158, 159, 166, 170, 171, 173, 175, 176, 177, 178,
                                    *range(180, 190), 198, 199)]
AREA_CODES = {"10": 8, "20": 8, "21": 8, "23": 8, "25": 8, "755": 8, "757": 8, "571": 8,
              "591": 8, "731": 8, "799": 7, "931": 7, "991": 7}


@st.composite
def mobiles(draw) -> tuple[str, str]:
    """(digits, as typed) for a valid CN mobile, typed in one of the ways people type it."""
    digits = draw(st.sampled_from(MOBILE_PREFIXES)) + draw(st.from_regex(r"[0-9]{8}",
                                                                          fullmatch=True))
    a, b, c = digits[:3], digits[3:7], digits[7:]
    typed = draw(st.sampled_from([digits, f"{a}-{b}-{c}", f"{a} {b} {c}", f"+86{digits}",
                                  f"+86 {a} {b} {c}", f"0086{digits}", f"+86-{a}-{b}-{c}"]))
    return digits, typed


@st.composite
def landlines(draw) -> tuple[str, str]:
    """(national digits without the trunk 0, as typed) for a landline with its area code, in a
    block the numbering plan allocates (Beijing's and Shanghai's 8000 xxxx are not)."""
    area = draw(st.sampled_from(sorted(AREA_CODES)))
    subscriber = draw(st.from_regex(rf"[2-8][0-9]{{{AREA_CODES[area] - 1}}}", fullmatch=True)
                      .filter(lambda s: phonenumbers.is_valid_number(
                          phonenumbers.parse(f"+86{area}{s}"))))
    typed = draw(st.sampled_from([f"0{area}-{subscriber}", f"(0{area}){subscriber}",
                                  f"0{area} {subscriber}", f"0{area}{subscriber}",
                                  f"+86 {area} {subscriber}", f"0086-{area}-{subscriber}"]))
    return area + subscriber, typed


@FAST
@given(st.text(max_size=40))
def test_any_phone_text_is_kept_and_never_refuses_the_complaint(rules, text):
    sub = _submit(rules, complainant={"name": "王女士", "phone": text})
    assert sub.complainant is not None  # the complaint stands, with its complainant
    kept = sub.complainant["phone"]
    assert kept == (text.strip() or None)
    if kept is not None:
        number = parse_phone(kept)
        assert number.raw == kept
        assert number.kind in KINDS and number.flag in (None, *FLAGS)


@FAST
@given(st.one_of(st.text(), st.integers(), st.floats(), st.none(), st.binary()))
def test_parsing_never_raises_and_keeps_what_was_given(raw):
    number = parse_phone(raw)
    assert number.raw == ("" if raw is None else str(raw)).strip()[:40]
    # A number it cannot make sense of is flagged, never dropped.
    assert number.valid == (number.flag is None)


@FAST
@given(st.one_of(mobiles().map(lambda m: ("mobile", *m)),
                 landlines().map(lambda m: ("fixed_line", *m))))
def test_valid_cn_numbers_in_any_format_get_their_e164(number):
    kind, national, typed = number
    parsed = parse_phone(typed)
    assert (parsed.e164, parsed.kind, parsed.flag, parsed.raw) == (
        "+86" + national, kind, None, typed)


@FAST
@given(st.integers(12300, 12399), st.sampled_from(["{}", " {} ", "+86 {}", "0086{}"]))
def test_123xx_are_service_numbers_not_errors(n, form):
    number = parse_phone(form.format(n))
    assert (number.kind, number.valid, number.flag, number.e164) == (
        "service_short_number", True, None, None)
    assert number.service == service_numbers().get(str(n))


# --- acceptance limit (受理时限) -----------------------------------------------------------------
received_times = st.datetimes(datetime(2024, 1, 1), datetime(2026, 12, 31),
                              timezones=st.just(timezone.utc))
limits = st.one_of(st.builds(lambda n: {"days": n}, st.integers(1, 60)),
                   st.builds(lambda n: {"working_days": n}, st.integers(1, 30)))


def _with_limit(rules: dict, limit: dict, fraction=0.8) -> dict:
    return dict(rules, intake=dict(rules["intake"], accept_within=limit,
                                   accept_warn_at_fraction=fraction))


@FAST
@given(received_times, limits)
def test_limit_counts_calendar_or_working_days_from_the_local_date(rules, received, limit):
    window = domain.acceptance_window(_with_limit(rules, limit), received)
    first = received.astimezone(BEIJING).date()
    assert window.deadline > received  # never earlier than receipt
    assert window.due == window.deadline.astimezone(BEIJING).date()
    assert window.deadline.astimezone(BEIJING).time() == time(17, 30)
    assert received <= window.warn_at <= window.deadline
    if "days" in limit:
        assert window.due == first + timedelta(days=limit["days"])
    else:
        # Due on a working day, with exactly n working days after the day of receipt.
        assert workdays.is_working_day(window.due)
        counted = sum(workdays.is_working_day(first + timedelta(days=i))
                      for i in range(1, (window.due - first).days + 1))
        assert counted == limit["working_days"]


@FAST
@given(received_times, st.timedeltas(timedelta(0), timedelta(days=40)), limits)
def test_limit_never_moves_backwards_when_received_later(rules, received, later, limit):
    policy = _with_limit(rules, limit)
    first = domain.acceptance_window(policy, received)
    second = domain.acceptance_window(policy, received + later)
    assert second.deadline >= first.deadline and second.warn_at >= first.warn_at


@FAST
@given(received_times, st.integers(1, 29), st.sampled_from(["days", "working_days"]))
def test_a_stricter_limit_is_never_later(rules, received, n, unit):
    stricter = domain.acceptance_window(_with_limit(rules, {unit: n}), received)
    looser = domain.acceptance_window(_with_limit(rules, {unit: n + 1}), received)
    assert stricter.deadline < looser.deadline


@FAST
@given(received_times, st.floats(0.05, 1.0))
def test_warning_point_is_the_configured_fraction(rules, received, fraction):
    window = domain.acceptance_window(_with_limit(rules, {"working_days": 15}, fraction),
                                      received)
    span = (window.deadline - received).total_seconds()
    assert abs((window.warn_at - received).total_seconds() - fraction * span) <= 1


@pytest.mark.parametrize("limit, fraction", [({"hours": 24}, 0.8), ({"days": 0}, 0.8),
                                             ({"working_days": 15}, 0), ({"days": 15}, 1.5),
                                             ({"days": 1, "working_days": 1}, 0.8)])
def test_malformed_acceptance_policy_is_a_config_error(rules, limit, fraction):
    with pytest.raises(ValueError):
        domain.acceptance_window(_with_limit(rules, limit, fraction), NOW)


@FAST
@given(st.lists(st.timedeltas(timedelta(0), timedelta(days=30)), max_size=12))
def test_each_alert_fires_once_whatever_the_sweeps(offsets):
    """Sweeps at arbitrary times, in order: at most one warning, then at most one overdue
    alert; the warning only before the limit, the overdue alert exactly when a sweep came after
    it; and the sweep never asks to look again before it has something to say."""
    warn_at, deadline = NOW + timedelta(days=12), NOW + timedelta(days=15)
    warned = overdue = False
    fired = []
    for now in sorted(NOW + o for o in offsets):
        check = domain.acceptance_check(warn_at, deadline, warned, overdue, now)
        fired += [(alert, now) for alert in check.alerts]
        warned, overdue = check.warned, check.overdue
        assert check.next_check_at is None or check.next_check_at > now
    kinds = [alert for alert, _ in fired]
    assert kinds in ([], ["warning"], ["overdue"], ["warning", "overdue"])
    assert all(now < deadline for alert, now in fired if alert == "warning")
    assert ("overdue" in kinds) == any(NOW + o >= deadline for o in offsets)
    first_late = min((NOW + o for o in offsets if NOW + o >= warn_at), default=None)
    assert ("warning" in kinds) == (first_late is not None and first_late < deadline)


# --- repeats (重复举报) -------------------------------------------------------------------------
names = st.text(st.characters(categories=("Lo", "Lu", "Ll", "Nd")), min_size=2, max_size=20)
SEPARATORS = [" ", "  ", "（", "）", "(", ")", "·", "，", "."]


@st.composite
def spelt_differently(draw, name: str) -> str:
    """The same enterprise as another person types it: spaces, brackets, case."""
    out = []
    for ch in name:
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(SEPARATORS)))
        out.append(ch.swapcase() if draw(st.booleans()) and ch.swapcase().lower() ==
                   ch.lower() else ch)
    return "".join(out).strip() or name


def _open_case(sub: domain.Submission, **changes) -> dict:
    case = {"status": "received", "category": sub.category, "received_at": sub.received_at,
            "enterprise": sub.enterprise, "lat": sub.lat, "lon": sub.lon, "address": sub.address}
    case.update(changes)
    return case


@FAST
@given(names.flatmap(lambda n: st.tuples(st.just(n), spelt_differently(n))),
       st.sampled_from(domain.OPEN_STATUSES), st.integers(0, 60))
def test_same_enterprise_same_problem_while_open_merges(rules, spellings, status, age):
    name, other = spellings
    new = _submit(rules, enterprise=other)
    open_case = _open_case(new, enterprise=name, status=status,
                           received_at=new.received_at - timedelta(days=age))
    assert domain.is_repeat(new, open_case, 60)


@FAST
@given(names, st.sampled_from(domain.CLOSED_STATUSES))
def test_closed_cases_never_take_repeats(rules, name, status):
    new = _submit(rules, enterprise=name, lat=27.6, lon=114.1, address="芦溪县宣风镇")
    assert not domain.is_repeat(new, _open_case(new, status=status), 60)


@FAST
@given(names, st.sampled_from(sorted(Policy.load().categories)))
def test_another_problem_at_the_same_place_is_a_case_of_its_own(rules, name, category):
    new = _submit(rules, enterprise=name, lat=27.6, lon=114.1)
    same = _open_case(new, category=category)
    assert domain.is_repeat(new, same, 60) == (category == new.category)


@FAST
@given(names, st.integers(61, 400))
def test_nothing_merges_after_the_window(rules, name, age):
    new = _submit(rules, enterprise=name)
    old = _open_case(new, received_at=new.received_at - timedelta(days=age))
    assert not domain.is_repeat(new, old, 60)


@FAST
@given(st.text(" ()（）·,，.。", min_size=1, max_size=6),
       st.text(" ()（）·,，.。", min_size=1, max_size=6))
def test_names_of_punctuation_only_are_not_the_same_enterprise(rules, one, two):
    new = dataclasses.replace(_submit(rules), enterprise=one)
    assert not domain.is_repeat(new, _open_case(new, enterprise=two), 60)


def _moved(lat: float, lon: float, bearing: float, metres: float) -> tuple[float, float]:
    """The point ``metres`` from (lat, lon) in direction ``bearing`` (degrees), on the sphere."""
    d, b = metres / domain.EARTH_RADIUS_M, math.radians(bearing)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1),
                         math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), math.degrees(l2)


# China from 曾母暗沙 (3.9°N) to 漠河 (53.6°N), 73°E to 135°E.
china_lat, china_lon = st.floats(3.9, 53.6), st.floats(73.5, 134.8)
bearings = st.floats(0, 360)


@FAST
@given(china_lat, china_lon, bearings, st.floats(0, domain.REPEAT_RADIUS_M - 5),
       st.floats(domain.REPEAT_RADIUS_M + 5, 5000))
def test_near_point_merges_far_point_does_not(rules, lat, lon, bearing, near, far):
    new = _submit(rules, lat=lat, lon=lon)
    near_case = _open_case(new, lat=_moved(lat, lon, bearing, near)[0],
                           lon=_moved(lat, lon, bearing, near)[1])
    far_case = _open_case(new, lat=_moved(lat, lon, bearing, far)[0],
                          lon=_moved(lat, lon, bearing, far)[1])
    assert domain.is_repeat(new, near_case, 60)
    assert not domain.is_repeat(new, far_case, 60)


@FAST
@given(china_lat, china_lon, bearings, st.floats(0, domain.REPEAT_RADIUS_M))
@example(lat=53.5, lon=122.3, bearing=90.0, metres=199.0)  # 漠河: 0.003° of longitude is 198 m
def test_the_database_box_holds_every_point_within_the_radius(lat, lon, bearing, metres):
    other_lat, other_lon = _moved(lat, lon, bearing, metres)
    dlat, dlon = domain.repeat_box(lat)
    assert abs(other_lat - lat) <= dlat and abs(other_lon - lon) <= dlon


# --- intake locks: repeats take turns ----------------------------------------------------------
def _on_the_globe(lat: float, lon: float) -> tuple[float, float]:
    """A moved point as a client would send it: latitude within ±90°, longitude within ±180°."""
    return max(-90.0, min(90.0, lat)), (lon + 180) % 360 - 180


def _place(draw, near=None):
    """Fields of a submission's place: maybe an enterprise, an address, a point (near another)."""
    fields = {}
    if draw(st.booleans()):
        fields["enterprise"] = draw(spelt_differently(draw(st.sampled_from(["萍乡某陶瓷厂",
                                                                            "Acme Paper"]))))
    if draw(st.booleans()):
        fields["address"] = draw(st.sampled_from(["芦溪县宣风镇", "芦溪县银河镇"]))
    if draw(st.booleans()):
        if near is None:
            lat, lon = draw(st.floats(-89.9, 89.9)), draw(st.floats(-180, 180))
        else:
            lat, lon = _on_the_globe(*_moved(near[0], near[1], draw(bearings),
                                             draw(st.floats(0, domain.REPEAT_RADIUS_M * 1.3))))
        fields["lat"], fields["lon"] = lat, lon
    return fields


@st.composite
def two_places(draw):
    first = _place(draw)
    return first, _place(draw, near=(first["lat"], first["lon"]) if "lat" in first else None)


@settings(max_examples=600, deadline=None)
@given(two_places())
@example(({"lat": 27.6, "lon": 114.1}, {"lat": 27.6 + 0.0018, "lon": 114.1}))
@example(({"lat": 59.9995, "lon": 114.1}, {"lat": 60.0005, "lon": 114.1}))  # the band's edge
@example(({"lat": 40.0, "lon": 179.9999}, {"lat": 40.0, "lon": -179.9999}))  # the antimeridian
@example(({"address": "芦溪县宣风镇", "lat": 27.6, "lon": 114.1}, {"address": "芦溪县宣风镇"}))
def test_submissions_that_could_be_repeats_share_a_lock(rules, places):
    """Any two submissions of which one could repeat the other lock a name in common, so the
    second waits for the first's case before it looks for one to merge into."""
    one, other = (_submit(rules, **fields) for fields in places)
    if domain.is_repeat(one, _open_case(other), 60) or domain.is_repeat(other, _open_case(one), 60):
        assert set(domain.intake_locks(one)) & set(domain.intake_locks(other))


@settings(max_examples=1000, deadline=None)
@given(st.floats(-89.9, 89.9), st.floats(-180, 180), bearings,
       st.floats(0, domain.REPEAT_RADIUS_M - 0.01))
@example(lat=27.6, lon=114.1, bearing=0.0, metres=199.0)
@example(lat=53.5, lon=122.3, bearing=90.0, metres=199.0)  # 漠河
def test_points_within_the_radius_share_a_lock(rules, lat, lon, bearing, metres):
    """Points alone: across cell corners and edges, at any latitude, on both sides of 180°."""
    other_lat, other_lon = _on_the_globe(*_moved(lat, lon, bearing, metres))
    one = _submit(rules, lat=lat, lon=lon)
    other = _submit(rules, lat=other_lat, lon=other_lon)
    assert domain.is_repeat(one, _open_case(other), 60)
    assert set(domain.intake_locks(one)) & set(domain.intake_locks(other))


@pytest.mark.parametrize("lat", [0.0, 27.6, 45.0, 53.5, 59.99])
def test_points_just_inside_the_radius_share_a_lock_wherever_the_cells_fall(rules, lat):
    """Every phase of a pair against the cells, north-south and east-west, at 199.9 m."""
    for step in range(400):
        here = (lat + step * 0.00001, 114.0 + step * 0.00003)
        for bearing in (0, 45, 90):
            there = _moved(*here, bearing, domain.REPEAT_RADIUS_M - 0.1)
            one, other = _submit(rules, lat=here[0], lon=here[1]), _submit(
                rules, lat=there[0], lon=there[1])
            assert set(domain.intake_locks(one)) & set(domain.intake_locks(other)), (here, there)


def test_intakes_at_different_places_lock_different_names(rules):
    """A burst of complaints across a county does not queue behind one lock: submissions 2 km
    apart, at other addresses and enterprises, or with nowhere to compare, share none."""
    here = _submit(rules, lat=27.6, lon=114.1, address="芦溪县宣风镇", enterprise="甲厂")
    there = _submit(rules, lat=27.62, lon=114.1, address="芦溪县银河镇", enterprise="乙厂")
    assert not set(domain.intake_locks(here)) & set(domain.intake_locks(there))
    assert domain.intake_locks(_submit(rules, grid_code="360323101001")) == []
    assert not set(domain.intake_locks(here)) & set(domain.intake_locks(_submit(
        rules, category="noise.industrial", lat=27.6, lon=114.1, address="芦溪县宣风镇",
        enterprise="甲厂")))
