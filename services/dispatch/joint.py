"""Cross-region joint enforcement (左右联动): agreements, sharing, rotation, transfers, evaluation.

Neighbouring regions sign an enforcement linkage agreement (环境执法联动协议) with four mechanisms:
rotating host (轮流坐庄), regular consultation (定期会商), joint enforcement (联合执法) and
information sharing (信息共享); the province evaluates each party's linkage work. This module is
the pure domain of it: plain values in, plain values out, no clock, no broker, no database.
Numbers (duties, meeting frequency, answer limits, score weights) come from
``infra/config/joint.yaml`` (``joint_config()``), and every function that needs them takes an
optional ``cfg`` dict for tests.

Dates: ``Agreement.end`` is the last day in force (有效期至, inclusive); ``Party.left`` is the
leaving date, the first day the region is no longer a party; ``Term.period_end`` is the last
day of the term (inclusive).

Geometry is WGS84 lon/lat, projected locally to km (``services.common.geo``: within 0.05 % at
5 km at Pingxiang's latitude, < 3 m on a 5 km buffer). Rivers are matched by any of their names
(``services.common.rivers``).
"""
from __future__ import annotations

import calendar
import functools
import math
import os
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import shapely
import yaml
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from services.common import geo, regions, rivers, workdays
from services.common.errors import Conflict, ValidationError, parse_date
from services.common.workdays import as_utc
from services.dispatch import deadlines

ROOT = Path(__file__).resolve().parents[2]
CONFIG_FILE = ROOT / "infra" / "config" / "joint.yaml"
PERIODS = ("month", "quarter", "year")
PERIOD_MONTHS = {"month": 1, "quarter": 3, "year": 12}
TRANSFER_KINDS = ("transfer", "help_request")  # 案件移交 | 协助调查取证
TRANSFER_STATES = ("requested", "accepted", "refused", "expired")
MEETING_KINDS = ("regular", "requested")  # 定期会商 | 应一方请求的联合会商
SCORE_PARTS = ("transfer_timeliness", "consultation_hosting", "consultation_attendance",
               "joint_operations", "shared_case_closure")


# --- configuration ------------------------------------------------------------------------------
def load_config(path: str | os.PathLike | None = None) -> dict:
    """``joint.yaml`` from ``path``, ``ENVGRID_JOINT_CONFIG`` or ``infra/config``, checked."""
    path = Path(path or os.environ.get("ENVGRID_JOINT_CONFIG", CONFIG_FILE))
    cfg = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    duties = (cfg.get("host") or {}).get("duties")
    if not isinstance(duties, list) or not all(isinstance(d, dict) and d.get("zh") for d in duties):
        raise ValueError(f"{path}: host.duties must be a list of {{code, zh}}")
    weights = (cfg.get("evaluation") or {}).get("weights") or {}
    unknown = set(weights) - set(SCORE_PARTS)
    if unknown or any(not isinstance(w, (int, float)) or w < 0 for w in weights.values()):
        raise ValueError(f"{path}: evaluation.weights: parts {SCORE_PARTS}, non-negative numbers")
    return cfg


@functools.lru_cache(maxsize=1)
def joint_config() -> dict:
    return load_config()


def _cfg(cfg: dict | None) -> dict:
    return cfg if cfg is not None else joint_config()


# --- agreements ---------------------------------------------------------------------------------
@dataclass
class Party:
    """A party to an agreement (协议成员单位): a division, when it joined and left, its liaisons.

    ``liaisons`` are the named liaison officers (联络员) ``{id, name, phone}``.
    """

    region_code: str
    name: str
    joined: date
    left: date | None = None  # first day no longer a party
    liaisons: list[dict] = field(default_factory=list)

    def active_on(self, day: date) -> bool:
        return self.joined <= day and (self.left is None or day < self.left)


@dataclass
class Scope:
    """What an agreement covers (联动范围).

    ``categories``: case category codes or families (``water`` covers ``water.industrial``);
    empty means every category. ``buffer_km``: cases this close to a shared border are shared
    with the neighbour automatically. ``rivers``: cases on these rivers are shared;
    ``river_parties`` optionally names, per river, the parties it flows through (default: all),
    so an upstream case reaches the downstream party and not every signatory.
    """

    categories: list[str] = field(default_factory=list)
    buffer_km: float = 0.0
    rivers: list[str] = field(default_factory=list)
    river_parties: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class Agreement:
    """An enforcement linkage agreement (环境执法联动协议) between neighbouring regions.

    ``period`` is the rotating host's term (轮值期): month, quarter or year, counted from
    ``start``. ``host_order`` optionally fixes the rotation order of the founding parties
    (otherwise by join date, then code); ``end`` is the last day in force, None while open.
    """

    id: str
    name: str
    parties: list[Party]
    scope: Scope
    period: str
    start: date
    end: date | None = None
    host_order: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.id or not str(self.id).strip():
            raise ValidationError("agreement id is empty", code="missing_id", field="id")
        if self.period not in PERIODS:
            raise ValidationError(f"period {self.period!r} not in {PERIODS}", code="bad_period",
                                  field="period")
        if self.end is not None and self.end < self.start:
            raise ValidationError("end is before start", code="bad_validity", field="end")
        if len(self.parties) < 2:
            raise ValidationError("an agreement needs at least two parties", code="too_few_parties",
                                  field="parties")
        codes = [p.region_code for p in self.parties]
        if len(set(codes)) != len(codes):
            raise ValidationError("a region is listed twice", code="duplicate_party",
                                  field="parties")
        for p in self.parties:
            try:
                regions.level_of(p.region_code)
            except ValueError:
                raise ValidationError(f"not a division code: {p.region_code!r}",
                                      code="bad_region", field="parties") from None
            if p.left is not None and p.left <= p.joined:
                raise ValidationError(f"{p.region_code} leaves before it joins",
                                      code="bad_validity", field="parties")
            for person in p.liaisons:
                if not isinstance(person, dict) or not all(person.get(k) for k in
                                                           ("id", "name", "phone")):
                    raise ValidationError(f"{p.region_code}: a liaison needs id, name and phone",
                                          code="bad_liaison", field="parties")
        # Nested parties would make "whose case is this" ambiguous.
        for a in codes:
            for b in codes:
                if a != b and regions.within(a, b):
                    raise ValidationError(f"{a} lies inside {b}", code="nested_parties",
                                          field="parties")
        if set(self.host_order) - set(codes):
            raise ValidationError("host_order names a region that is not a party",
                                  code="bad_host_order", field="host_order")
        if self.scope.buffer_km < 0:
            raise ValidationError("buffer_km is negative", code="bad_buffer", field="scope")
        for river, members in self.scope.river_parties.items():
            if river not in self.scope.rivers or set(members) - set(codes):
                raise ValidationError(f"river_parties.{river}: unknown river or party",
                                      code="bad_river", field="scope")

    def party(self, region_code: str) -> Party | None:
        return next((p for p in self.parties if p.region_code == region_code), None)

    def in_force_on(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)

    @classmethod
    def from_dict(cls, data: Mapping) -> "Agreement":
        """From the YAML/JSON shape of ``infra/demo/joint_pingxiang.yaml``."""
        scope = data.get("scope") or {}
        parties = [Party(region_code=str(p["region_code"]), name=str(p["name"]),
                         joined=parse_date(p.get("joined") or data["start"], "joined",
                                           required=True),
                         left=parse_date(p.get("left"), "left"),
                         liaisons=[dict(x) for x in p.get("liaisons") or []])
                   for p in data.get("parties") or []]
        return cls(
            id=str(data["id"]), name=str(data["name"]), parties=parties,
            scope=Scope(categories=list(scope.get("categories") or []),
                        buffer_km=float(scope.get("buffer_km") or 0),
                        rivers=list(scope.get("rivers") or []),
                        river_parties={str(k): [str(c) for c in v] for k, v in
                                       (scope.get("river_parties") or {}).items()}),
            period=str(data["period"]), start=parse_date(data["start"], "start", required=True),
            end=parse_date(data.get("end"), "end"),
            host_order=[str(c) for c in data.get("host_order") or []])


def load_agreements(path: str | os.PathLike) -> list[Agreement]:
    """The ``agreements:`` list of a YAML file (e.g. ``infra/demo/joint_pingxiang.yaml``)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return [Agreement.from_dict(item) for item in data.get("agreements") or []]


def party_for(agreement: Agreement, region_code: str) -> Party | None:
    """The party whose region contains ``region_code`` (a county inside a city party counts)."""
    if not region_code:
        return None
    return next((p for p in agreement.parties if regions.within(region_code, p.region_code)),
                None)


# --- scope and sharing (信息共享) ---------------------------------------------------------------
def _category_matches(case_category, wanted: Sequence[str]) -> bool:
    if not wanted:
        return True
    cats = [case_category] if isinstance(case_category, str) else list(case_category or [])
    return any(c == w or c.startswith(w + ".") for c in cats for w in wanted)


def _river_key(name) -> str:
    # Every name of a configured river (萍水河, 渌水) gives the same key.
    return rivers.key(name)


def in_scope(agreement: Agreement, case: Mapping, *, on: date | None = None) -> bool:
    """Does the agreement cover this case (``category``, ``region_code``; lat/lon/river unused)?

    The case must lie in one of the parties' regions and carry a covered category. With ``on``,
    the agreement must also be in force that day and the case's party still a member.
    """
    region = case.get("region_code")
    if not region:
        raise ValidationError("the case has no region_code", code="missing_field",
                              field="region_code")
    own = party_for(agreement, region)
    if own is None or not _category_matches(case.get("category"), agreement.scope.categories):
        return False
    if on is not None and not (agreement.in_force_on(on) and own.active_on(on)):
        return False
    return True


_km_per_degree = geo.km_per_degree
_projector = geo.projector


def distance_km(a_lonlat: tuple[float, float], b_lonlat: tuple[float, float]) -> float:
    """Distance between two WGS84 points in km (local projection at their mid-point)."""
    (x1, y1), (x2, y2) = a_lonlat, b_lonlat
    kx, ky = _km_per_degree((y1 + y2) / 2)
    return math.hypot((x2 - x1) * kx, (y2 - y1) * ky)


def _shared_border(a_km: BaseGeometry, b_km: BaseGeometry, tol_km: float) -> BaseGeometry:
    # The part of a's outline within tol of b: boundary data of two neighbours rarely share
    # vertices exactly, so an exact intersection would miss real borders.
    return a_km.boundary.intersection(b_km.buffer(tol_km) if tol_km > 0 else b_km)


def _min_shared_km(tolerance_m: float) -> float:
    # A corner touch yields up to ~2 x tol of outline inside the buffer; twice that is a border.
    return 4 * tolerance_m / 1000


def near_border(point_lonlat: tuple[float, float], own_region_boundary: BaseGeometry,
                partner_boundaries: Mapping[str, BaseGeometry], buffer_km: float, *,
                tolerance_m: float = 50) -> list[str]:
    """Partners whose shared border with the own region lies within ``buffer_km`` of the point.

    A partner that touches the own region only at a corner (no shared edge longer than
    4 x ``tolerance_m``) has no border to be near. The point is not required to lie inside the
    own region (geocoded locations are noisy). Returns codes in sorted order.
    """
    if buffer_km < 0:
        raise ValidationError("buffer_km is negative", code="bad_buffer", field="buffer_km")
    lon, lat = point_lonlat
    project = _projector(lon, lat)
    origin = Point(0, 0)
    tol_km = tolerance_m / 1000
    own = project(own_region_boundary)
    out = []
    for code in sorted(partner_boundaries):
        other = project(partner_boundaries[code])
        # The shared border is within tol of the partner: a far partner cannot qualify.
        if origin.distance(other) > buffer_km + tol_km:
            continue
        shared = _shared_border(own, other, tol_km)
        if shared.length > _min_shared_km(tolerance_m) and origin.distance(shared) <= buffer_km:
            out.append(code)
    return out


def sharing_partners(agreement: Agreement, case: Mapping,
                     boundaries: Mapping[str, BaseGeometry], *, on: date | None = None,
                     tolerance_m: float | None = None, cfg: dict | None = None) -> list[str]:
    """Partners that must see a case automatically (信息共享), in party order.

    A partner sees an in-scope case when the case lies within ``scope.buffer_km`` of the border
    it shares with the case's party, or when the case is on a river of the scope that flows
    through the partner. ``boundaries`` are keyed by party region code; a party that is not
    active ``on`` the given day is left out.
    """
    if not in_scope(agreement, case, on=on):
        return []
    own = party_for(agreement, case["region_code"])
    partners = [p for p in agreement.parties
                if p is not own and (on is None or p.active_on(on))]
    out: set[str] = set()
    river = _river_key(case.get("river"))
    for name in agreement.scope.rivers:
        if river and _river_key(name) == river:
            members = agreement.scope.river_parties.get(name)
            if members is None or own.region_code in members:
                out |= {p.region_code for p in partners
                        if members is None or p.region_code in members}
    lat, lon = case.get("lat"), case.get("lon")
    if agreement.scope.buffer_km > 0 and lat is not None and lon is not None:
        missing = [p.region_code for p in [own, *partners] if p.region_code not in boundaries]
        if missing:
            # Silently not sharing would hide a border case from the neighbour.
            raise ValidationError(f"no boundary for {', '.join(missing)}",
                                  code="missing_boundary", field="boundaries")
        if tolerance_m is None:
            tolerance_m = (_cfg(cfg).get("geometry") or {}).get("border_tolerance_m", 50)
        out |= set(near_border((float(lon), float(lat)), boundaries[own.region_code],
                               {p.region_code: boundaries[p.region_code] for p in partners},
                               agreement.scope.buffer_km, tolerance_m=tolerance_m))
    return [p.region_code for p in partners if p.region_code in out]


def propose_neighbours(boundaries: Mapping[str, BaseGeometry], tolerance_m: float = 50
                       ) -> list[tuple[str, str]]:
    """Pairs of regions sharing an edge, as proposed agreements (``(a, b)`` with a < b, sorted).

    Two regions share an edge when the outline of each, within ``tolerance_m`` of the other,
    is longer than 4 x ``tolerance_m`` (with tolerance 0: longer than zero): a corner touch is
    not a border. A region inside another (a county in its own city) is not a neighbour.
    """
    if tolerance_m < 0:
        raise ValidationError("tolerance_m is negative", code="bad_tolerance", field="tolerance_m")
    codes = sorted(boundaries)
    geoms = [boundaries[c] for c in codes]
    if len(geoms) < 2:
        return []
    max_lat = min(85.0, max(max(abs(g.bounds[1]), abs(g.bounds[3])) for g in geoms))
    # Candidate search in degrees: the longitude degree is the shortest, so it bounds the rest.
    tol_deg = (tolerance_m / 1000) / _km_per_degree(max_lat)[0] * 1.01
    tree = shapely.STRtree(geoms)
    tol_km = tolerance_m / 1000
    out = []
    for i, geom in enumerate(geoms):
        for j in sorted(int(k) for k in tree.query(geom, predicate="dwithin", distance=tol_deg)):
            if j <= i:
                continue
            a, b = codes[i], codes[j]
            if _is_nested_code(a, b):
                continue
            minx, miny, maxx, maxy = shapely.union(geom, geoms[j]).bounds
            project = _projector((minx + maxx) / 2, (miny + maxy) / 2)
            ga, gb = project(geom), project(geoms[j])
            smaller = min(ga.area, gb.area)
            if smaller > 0 and ga.intersection(gb).area >= 0.5 * smaller:
                continue  # one holds the other (custom codes the prefix test cannot see)
            length = min(_shared_border(ga, gb, tol_km).length,
                         _shared_border(gb, ga, tol_km).length)
            if length > _min_shared_km(tolerance_m):
                out.append((a, b))
    return out


def _is_nested_code(a: str, b: str) -> bool:
    try:
        return regions.within(a, b) or regions.within(b, a)
    except ValueError:
        return False  # not division codes


# --- rotating host (轮流坐庄) --------------------------------------------------------------------
@dataclass(frozen=True)
class Swap:
    """A recorded exchange of two host terms (轮值调换), e.g. when a host cannot serve.

    The party hosting the term starting ``period_start`` (``a`` or ``b``) exchanges it with the
    other party's next term.
    """

    period_start: date
    a: str
    b: str
    recorded_by: str
    reason: str


@dataclass(frozen=True)
class Term:
    """One host term (轮值期): first and last day (inclusive), the host, its duties, any swap."""

    period_start: date
    period_end: date
    host_region: str
    duties: tuple[str, ...]
    swap: Swap | None = None


def _add_months(anchor: date, months: int) -> date:
    y, m = divmod(anchor.month - 1 + months, 12)
    year, month = anchor.year + y, m + 1
    return date(year, month, min(anchor.day, calendar.monthrange(year, month)[1]))


def _term_bounds(agreement: Agreement):
    """(start, last day) of each term from the agreement's start, until its end if any."""
    step = PERIOD_MONTHS[agreement.period]
    k = 0
    while True:
        # Always from the anchor, so a 31st start does not drift to the 28th after February.
        first = _add_months(agreement.start, k * step)
        if agreement.end is not None and first > agreement.end:
            return
        last = _add_months(agreement.start, (k + 1) * step) - timedelta(days=1)
        if agreement.end is not None:
            last = min(last, agreement.end)
        yield first, last
        k += 1


def _rotation_key(agreement: Agreement):
    rank = {code: i for i, code in enumerate(agreement.host_order)}
    return lambda p: (rank.get(p.region_code, len(rank)), p.joined, p.region_code)


def generate_roster(agreement: Agreement, start: date, end: date, swaps: Sequence[Swap] = (),
                    *, cfg: dict | None = None) -> list[Term]:
    """The host terms overlapping ``[start, end]`` (轮值表), deterministic.

    Terms are counted from ``agreement.start`` (so a term's host never depends on the window
    asked for). Rotation is a queue: each term the party at the head hosts and goes to the back.
    The founding parties queue in ``host_order``, else by join date then code; a party joining
    later is appended at the back for the first term starting on or after its join date; a
    party is dropped for terms starting on or after its leaving date. Hence any two parties
    active throughout a window host alternately in it and their counts differ by at most one.
    Swaps are then applied in date order (see ``Swap``) and recorded on both terms. A term in
    which no party is active is omitted.
    """
    if end < start:
        raise ValidationError("end is before start", code="bad_window", field="end")
    duties = tuple(d["zh"] for d in (_cfg(cfg).get("host") or {}).get("duties") or [])
    key = _rotation_key(agreement)
    # Past the window (and the last swap) by one full round, so that every swap finds the
    # other party's next term whatever window is asked for.
    horizon = max([end, *(s.period_start for s in swaps)])
    extra = len(agreement.parties) + 1
    queue: list[Party] = []
    seen: set[str] = set()
    terms: list[Term] = []
    for first, last in _term_bounds(agreement):
        if first > horizon:
            if extra == 0:
                break
            extra -= 1
        queue = [p for p in queue if p.active_on(first)]
        newcomers = [p for p in agreement.parties
                     if p.region_code not in seen and p.active_on(first)]
        # Founders queue by host_order, join date, code; later joiners by join date, code.
        queue.extend(sorted(newcomers, key=key if not seen else
                            (lambda p: (p.joined, p.region_code))))
        seen |= {p.region_code for p in newcomers}
        if not queue:
            continue
        host = queue.pop(0)
        queue.append(host)
        terms.append(Term(first, last, host.region_code, duties))
    terms = _apply_swaps(agreement, terms, swaps)
    return [t for t in terms if t.period_end >= start and t.period_start <= end]


def _apply_swaps(agreement: Agreement, terms: list[Term], swaps: Sequence[Swap]) -> list[Term]:
    index = {t.period_start: i for i, t in enumerate(terms)}
    terms = list(terms)
    for swap in sorted(swaps, key=lambda s: (s.period_start, s.a, s.b)):
        if not str(swap.recorded_by or "").strip() or not str(swap.reason or "").strip():
            raise ValidationError("a swap records who and why", code="swap_unrecorded",
                                  field="swaps")
        pa, pb = agreement.party(swap.a), agreement.party(swap.b)
        if pa is None or pb is None or swap.a == swap.b:
            raise ValidationError("a swap names two different parties", code="swap_bad_party",
                                  field="swaps")
        i = index.get(swap.period_start)
        if i is None:
            raise ValidationError(f"no term starts on {swap.period_start}",
                                  code="swap_not_a_term", field="swaps")
        here = terms[i].host_region
        if here not in (swap.a, swap.b):
            raise ValidationError(f"{here} hosts the term of {swap.period_start}, not "
                                  f"{swap.a} or {swap.b}", code="swap_mismatch", field="swaps")
        other = swap.b if here == swap.a else swap.a
        j = next((k for k in range(i + 1, len(terms)) if terms[k].host_region == other), None)
        if j is None:
            raise ValidationError(f"{other} has no later term to exchange",
                                  code="swap_no_term", field="swaps")
        if not (agreement.party(other).active_on(terms[i].period_start)
                and agreement.party(here).active_on(terms[j].period_start)):
            raise ValidationError("a party would host while not a member",
                                  code="swap_party_inactive", field="swaps")
        terms[i] = replace(terms[i], host_region=other, swap=swap)
        terms[j] = replace(terms[j], host_region=here, swap=swap)
    return terms


# --- consultations (定期会商) --------------------------------------------------------------------
@dataclass(frozen=True)
class Meeting:
    """A joint consultation (会商): planned (``held`` False) or held, with who attended.

    ``kind`` is ``regular`` (定期会商, from the roster) or ``requested`` (at a party's request).
    """

    date: date
    host_region: str
    kind: str = "regular"
    held: bool = False
    attendees: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind not in MEETING_KINDS:
            raise ValidationError(f"meeting kind {self.kind!r} not in {MEETING_KINDS}",
                                  code="bad_meeting_kind", field="kind")


def _working_day_in(day: date, first: date, last: date) -> date:
    forward = day
    while forward <= last:
        if workdays.is_working_day(forward):
            return forward
        forward += timedelta(days=1)
    back = day
    while back >= first:
        if workdays.is_working_day(back):
            return back
        back -= timedelta(days=1)
    return day  # a term without a working day (a one-day holiday term): keep the date


def plan_consultations(terms: Sequence[Term], cfg: dict | None = None) -> list[Meeting]:
    """Regular meetings of each term, chaired by its host (轮值方主持), in date order.

    ``consultation.per_term`` meetings split each term evenly (at the middle or start of each
    share, ``consultation.position``), moved onto a working day inside the term. Agreements
    require joint meetings at least yearly: a plan leaving any calendar year fully inside the
    terms with fewer than ``consultation.min_per_year`` meetings is refused.
    """
    c = (_cfg(cfg).get("consultation") or {})
    per_term = c.get("per_term", 1)
    if isinstance(per_term, bool) or not isinstance(per_term, int) or per_term < 0:
        raise ValidationError(f"consultation.per_term {per_term!r}", code="bad_config",
                              field="per_term")
    middle = c.get("position", "middle") == "middle"
    meetings = []
    for term in terms:
        days = (term.period_end - term.period_start).days + 1
        for i in range(per_term):
            offset = int((i + (0.5 if middle else 0)) * days / per_term)
            day = term.period_start + timedelta(days=offset)
            if c.get("working_days_only", True):
                day = _working_day_in(day, term.period_start, term.period_end)
            meetings.append(Meeting(day, term.host_region, "regular"))
    meetings.sort(key=lambda m: (m.date, m.host_region))
    _check_yearly(terms, meetings, int(c.get("min_per_year", 1)))
    return meetings


def _check_yearly(terms: Sequence[Term], meetings: list[Meeting], min_per_year: int) -> None:
    if not terms or min_per_year <= 0:
        return
    first = min(t.period_start for t in terms)
    last = max(t.period_end for t in terms)
    for year in range(first.year, last.year + 1):
        if date(year, 1, 1) < first or date(year, 12, 31) > last:
            continue  # a partial year at either end
        held = sum(1 for m in meetings if m.date.year == year)
        if held < min_per_year:
            raise ValidationError(f"{held} consultations planned in {year}, at least "
                                  f"{min_per_year} required", code="too_few_consultations",
                                  field="consultation")


# Only these keys reach an agenda: it is read by other regions, and a complainant's identity
# never leaves the handling region (EPL art. 57). Free text (description) is left out too, as
# it may quote the complainant.
AGENDA_KEYS = ("case_no", "region_code", "region_name", "category", "enterprise", "address",
               "status", "received_at")


def _categories(categories: Mapping | None) -> Mapping:
    if categories is None:
        from services.common.config import policy
        categories = policy().categories
    return categories


def _agenda_line(r: Mapping, categories: Mapping) -> str:
    cats = [r["category"]] if isinstance(r["category"], str) else list(r["category"] or [])
    label = "、".join((categories.get(c) or {}).get("zh", c) for c in cats) or "未分类"
    where = "，".join(str(x) for x in (r.get("enterprise"), r.get("address")) if x)
    parts = [str(r["case_no"] or "（无编号）"), str(r.get("region_name") or r["region_code"] or ""),
             label, where, f"状态：{r['status'] or '未知'}"]
    return "｜".join(p for p in parts if p)


def agenda(shared_cases: Sequence[Mapping], *, categories: Mapping | None = None,
           cfg: dict | None = None) -> list[str]:
    """Consultation agenda items (会商议题) from shared cases still open, oldest first.

    One line per case: number, region, category, enterprise/address, status. Only
    ``AGENDA_KEYS`` are read; complainant fields (``complainant_*``) and free text are ignored.
    ``categories`` maps codes to ``{zh: ...}`` labels (default: ``policy.yaml``).
    """
    finished = set((_cfg(cfg).get("case_statuses") or {}).get("finished") or ())
    categories = _categories(categories)
    rows = [{k: case.get(k) for k in AGENDA_KEYS} for case in shared_cases]
    rows = [r for r in rows if r["status"] not in finished]
    rows.sort(key=lambda r: (str(r["received_at"] or ""), str(r["case_no"] or "")))
    return [_agenda_line(r, categories) for r in rows]


AGENDA_SECTIONS = ("transfer", "overdue", "open")  # 待答复的移交与协助 | 逾期案件 | 在办共享案件
_SECTION_ZH = {"transfer": "待答复移交", "overdue": "逾期", "open": "在办"}
_KIND_ZH = {"transfer": "案件移交", "help_request": "协助调查取证"}


def consultation_agenda(shared_cases: Sequence[Mapping], open_transfers: Sequence[Mapping],
                        now: datetime, *, categories: Mapping | None = None,
                        cfg: dict | None = None) -> list[dict]:
    """The agenda of a consultation (会商议题), built from the agreement's shared cases.

    Sections, each case once, in its most pressing one: ``transfer`` (a transfer or help
    request still waiting for an answer, the earliest answer deadline first), ``overdue`` (an
    open shared case past its deadline, the most overdue first), ``open`` (other shared cases
    still open, the soonest due first). Finished cases are left out.

    ``shared_cases``: ``AGENDA_KEYS`` plus ``deadline`` (aware datetime) and ``regions`` (the
    handling region and the partners it is shared with: who may read the item); complainant
    fields and free text are never read. ``open_transfers``: ``{case_no, kind, from_region,
    to_region, due}``. Each item: ``{section, case_no, region_code, regions, line}`` (plus
    ``due`` for a transfer, ``deadline`` for a case).
    """
    finished = set((_cfg(cfg).get("case_statuses") or {}).get("finished") or ())
    categories = _categories(categories)
    cases = {c["case_no"]: c for c in shared_cases if c.get("status") not in finished}
    items, placed = [], set()
    for t in sorted(open_transfers, key=lambda t: (t["due"], t["case_no"])):
        case = cases.get(t["case_no"])
        if case is None or t["case_no"] in placed:
            continue
        placed.add(t["case_no"])
        late = "，已逾答复期限" if t["due"] < now else ""
        line = (f"{_SECTION_ZH['transfer']}（{_KIND_ZH.get(t['kind'], t['kind'])}："
                f"{t['from_region']}→{t['to_region']}，答复期限"
                f"{as_utc(t['due']).date().isoformat()}{late}）｜"
                + _agenda_line({k: case.get(k) for k in AGENDA_KEYS + ('region_name',)},
                               categories))
        items.append({"section": "transfer", "case_no": t["case_no"],
                      "region_code": case["region_code"],
                      "regions": sorted({*case.get("regions", ()), t["from_region"],
                                         t["to_region"]}),
                      "due": as_utc(t["due"]).isoformat(), "line": line})
    rest = [c for no, c in cases.items() if no not in placed]
    rest.sort(key=lambda c: (c["deadline"], c["case_no"]))
    for section in ("overdue", "open"):
        for case in rest:
            if (case["deadline"] < now) != (section == "overdue"):
                continue
            row = {k: case.get(k) for k in AGENDA_KEYS + ("region_name",)}
            items.append({"section": section, "case_no": case["case_no"],
                          "region_code": case["region_code"],
                          "regions": sorted({case["region_code"], *case.get("regions", ())}),
                          "deadline": as_utc(case["deadline"]).isoformat(),
                          "line": f"{_SECTION_ZH[section]}｜{_agenda_line(row, categories)}"})
    return items


def unscheduled(terms: Sequence[Term], planned: Sequence[Meeting],
                scheduled: Sequence[Meeting]) -> list[Meeting]:
    """The planned regular meetings no scheduled one stands for.

    A term plans ``per_term`` regular meetings (``plan_consultations``); each regular meeting
    its host scheduled in the term, whatever its date, stands for one of them (the earliest
    first). What is left is still owed: shown on the roster, and counted by the evaluation as
    hosted but not held once its date has passed.
    """
    out = []
    for term in terms:
        mine = [m for m in planned if term.period_start <= m.date <= term.period_end
                and m.host_region == term.host_region]
        done = sum(1 for m in scheduled if m.kind == "regular"
                   and term.period_start <= m.date <= term.period_end
                   and m.host_region == term.host_region)
        out.extend(sorted(mine, key=lambda m: m.date)[done:])
    return out


def term_on(terms: Sequence[Term], day: date) -> Term | None:
    """The term that contains ``day``."""
    return next((t for t in terms if t.period_start <= day <= t.period_end), None)


# --- joint operations (联合执法) -----------------------------------------------------------------
def operation_parties(agreement: Agreement, lead_region: str,
                      officer_regions: Iterable[str]) -> list[str]:
    """The parties taking part in a joint operation: the lead and the parties of its officers
    (an officer of a county counts for its city party), in party order."""
    codes = {lead_region, *officer_regions}
    members = {p.region_code for c in codes if (p := party_for(agreement, c)) is not None}
    return [p.region_code for p in agreement.parties if p.region_code in members]


# --- transfers (案件移交) and help requests (协助调查取证) ------------------------------------------
@dataclass(frozen=True)
class Transfer:
    """A case handed to the party with jurisdiction (案件移交), or a request for help.

    States: ``requested`` → ``accepted`` | ``refused`` (reason required) | ``expired``, all
    final. ``due`` is the answer deadline, ``expires_at`` (default ``due``) when an unanswered
    request lapses; in between it can still be answered, late.
    """

    id: str
    case_no: str
    from_region: str
    to_region: str
    requested_at: datetime
    due: datetime
    kind: str = "transfer"
    expires_at: datetime | None = None
    state: str = "requested"
    answered_at: datetime | None = None
    reason: str | None = None

    def __post_init__(self):
        if self.kind not in TRANSFER_KINDS:
            raise ValidationError(f"kind {self.kind!r} not in {TRANSFER_KINDS}",
                                  code="bad_transfer_kind", field="kind")
        if self.state not in TRANSFER_STATES:
            raise ValidationError(f"state {self.state!r}", code="bad_state", field="state")
        if not self.from_region or self.from_region == self.to_region:
            raise ValidationError("a transfer goes between two regions", code="bad_transfer",
                                  field="to_region")
        for name in ("requested_at", "due", "expires_at", "answered_at"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValidationError(f"{name} must be tz-aware", code="naive_datetime",
                                      field=name)
        if self.due <= self.requested_at:
            raise ValidationError("due is not after the request", code="bad_due", field="due")
        if self.expires_at is not None and self.expires_at < self.due:
            raise ValidationError("expires before it is due", code="bad_expiry",
                                  field="expires_at")


def answer_deadlines(kind: str, requested_at: datetime, cfg: dict | None = None,
                     policy: dict | None = None) -> tuple[datetime, datetime]:
    """(due, expires_at) for a request made at ``requested_at``, from ``joint.yaml``.

    A convenience for the caller, which owns the deadline: limits are counted like task limits
    (``deadlines.add_limit``; ``policy`` gives the time zone and end of day).
    """
    section = (_cfg(cfg).get("transfer" if kind == "transfer" else kind) or {})
    if kind not in TRANSFER_KINDS or "answer_within" not in section:
        raise ValidationError(f"no answer limit for {kind!r}", code="bad_transfer_kind",
                              field="kind")
    due = deadlines.add_limit(policy or {}, requested_at, section["answer_within"])
    expires = deadlines.add_limit(policy or {}, due, section.get("expire_after") or {"hours": 0})
    return due, expires


def answer(transfer: Transfer, accept: bool, reason: str | None, now: datetime) -> Transfer:
    """The receiving party accepts (接收) or refuses (退回, reason required) the transfer."""
    if transfer.state != "requested":
        raise Conflict(f"transfer {transfer.id} is already {transfer.state}",
                       code="transfer_closed", field="state")
    if now.tzinfo is None:
        raise ValidationError("now must be tz-aware", code="naive_datetime", field="now")
    if now < transfer.requested_at:
        raise ValidationError("answered before it was requested", code="bad_time", field="now")
    reason = (reason or "").strip() or None
    if not accept and reason is None:
        raise ValidationError("a refusal needs a reason", code="reason_required", field="reason")
    return replace(transfer, state="accepted" if accept else "refused",
                   answered_at=as_utc(now), reason=reason)


def expire(transfer: Transfer, now: datetime) -> Transfer:
    """An unanswered transfer lapses (逾期未答复) once ``expires_at`` (else ``due``) has passed."""
    if transfer.state != "requested":
        raise Conflict(f"transfer {transfer.id} is already {transfer.state}",
                       code="transfer_closed", field="state")
    if now < (transfer.expires_at or transfer.due):
        raise ValidationError("the transfer has not lapsed yet", code="not_expired", field="now")
    return replace(transfer, state="expired")


def is_answered_on_time(transfer: Transfer) -> bool:
    """Accepted or refused, at or before ``due``."""
    return (transfer.state in ("accepted", "refused") and transfer.answered_at is not None
            and transfer.answered_at <= transfer.due)


# --- cross inspection (交叉执法) -----------------------------------------------------------------
def credit_region(case_location_region: str, officer_regions: Iterable[str]) -> str:
    """The region credited with a case found in cross inspection: where the case is found.

    Officers from elsewhere inspect, but the case counts for the local area (Fujian, ``001``),
    so ``officer_regions`` never change the answer; they are taken for the record only.
    """
    try:
        regions.level_of(case_location_region or "")
    except ValueError:
        raise ValidationError(f"not a division code: {case_location_region!r}",
                              code="bad_region", field="case_location_region") from None
    list(officer_regions)  # may be a one-shot iterator; accepted, deliberately unused
    return case_location_region


# --- linkage evaluation (联动工作评估) ------------------------------------------------------------
def evaluate(agreement: Agreement, transfers: Sequence[Transfer], meetings: Sequence[Meeting],
             joint_operations: Sequence[Mapping], shared_cases: Sequence[Mapping],
             closed_cases: Sequence[Mapping] | None = None, *,
             cfg: dict | None = None) -> dict[str, dict]:
    """Figures and a 0-100 linkage score per party, over whatever period the inputs cover.

    Inputs: transfers between the parties; meetings (planned and held); joint operations as
    ``{lead_region, participants: [codes]}``; shared cases as ``{region_code, status}`` (the
    region handling it); ``closed_cases`` as ``{region_code}``, one per sign-off of a shared
    case in the period (the region signing it off), else the shared cases whose status is
    finished. Regions are mapped to parties by containment (a county counts for its city
    party). Per party:

    * ``transfers_received``, ``answered_on_time``, ``answered_late``, ``unanswered``
      (still requested or expired), ``transfers_sent``;
    * ``consultations_hosted`` (meetings with it as host, planned or not),
      ``consultations_held`` (of those, held), ``consultations_attended`` (held meetings it
      attended; the host attends its own);
    * ``joint_operations`` (led or took part), ``shared_cases``, ``shared_cases_closed``;
    * ``score_parts`` (ratios, see ``joint.yaml``) and ``score``:
      ``100 * sum(w_k * r_k) / sum(w_k)`` over the parts whose denominator is not zero,
      rounded to 0.1; None when no part applies.
    """
    ev = _cfg(cfg).get("evaluation") or {}
    weights = ev.get("weights") or {}
    late_credit = float(ev.get("late_answer_credit", 0.5))
    target = float(ev.get("joint_operations_target", 1))
    finished = set((_cfg(cfg).get("case_statuses") or {}).get("finished") or ())

    def owner(code) -> str | None:
        p = party_for(agreement, code) if code else None
        return p.region_code if p else None

    out = {p.region_code: {
        "transfers_received": 0, "answered_on_time": 0, "answered_late": 0, "unanswered": 0,
        "transfers_sent": 0, "consultations_hosted": 0, "consultations_held": 0,
        "consultations_attended": 0, "joint_operations": 0, "shared_cases": 0,
        "shared_cases_closed": 0} for p in agreement.parties}
    for t in transfers:
        to, frm = owner(t.to_region), owner(t.from_region)
        if frm in out:
            out[frm]["transfers_sent"] += 1
        if to not in out:
            continue
        row = out[to]
        row["transfers_received"] += 1
        if is_answered_on_time(t):
            row["answered_on_time"] += 1
        elif t.state in ("accepted", "refused"):
            row["answered_late"] += 1
        else:
            row["unanswered"] += 1
    held_total = 0
    for m in meetings:
        host = owner(m.host_region)
        if host in out:
            out[host]["consultations_hosted"] += 1
            out[host]["consultations_held"] += int(m.held)
        if m.held:
            held_total += 1
            for code in {owner(c) for c in (*m.attendees, m.host_region)} & set(out):
                out[code]["consultations_attended"] += 1
    for op in joint_operations:
        members = {owner(c) for c in [op.get("lead_region"), *(op.get("participants") or [])]}
        for code in members & set(out):
            out[code]["joint_operations"] += 1
    for case in shared_cases:
        code = owner(case.get("region_code"))
        if code in out:
            out[code]["shared_cases"] += 1
            if closed_cases is None:
                out[code]["shared_cases_closed"] += int(case.get("status") in finished)
    for case in closed_cases or ():
        code = owner(case.get("region_code"))
        if code in out:
            out[code]["shared_cases_closed"] += 1
    for row in out.values():
        parts = {}
        if row["transfers_received"]:
            parts["transfer_timeliness"] = (row["answered_on_time"] + late_credit
                                            * row["answered_late"]) / row["transfers_received"]
        if row["consultations_hosted"]:
            parts["consultation_hosting"] = row["consultations_held"] / row["consultations_hosted"]
        if held_total:
            parts["consultation_attendance"] = row["consultations_attended"] / held_total
        if target > 0:
            parts["joint_operations"] = min(1.0, row["joint_operations"] / target)
        if row["shared_cases"]:
            # Sign-offs in a period may include cases shared before it: capped at 1.
            parts["shared_case_closure"] = min(1.0, row["shared_cases_closed"]
                                               / row["shared_cases"])
        total = sum(weights.get(k, 0) for k in parts)
        row["score_parts"] = {k: round(v, 4) for k, v in parts.items()}
        row["score"] = (round(100 * sum(weights.get(k, 0) * v for k, v in parts.items()) / total,
                              1) if total else None)
    return out
