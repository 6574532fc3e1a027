"""A deterministic synthetic year of events with a plan the tests count independently."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

CHANNELS = ("patrol", "hotline", "web", "app", "letter", "monitoring")
CATEGORIES = ("air.odour", "air.dust", "noise.construction", "water.industrial", "waste.solid")
BEIJING = timezone(timedelta(hours=8))

# county -> (cases per day, late-closure modulus (every n-th case late), patrols per day)
COUNTIES = {
    "360321": (2, 10, 3),   # 莲花县: few cases, rarely late
    "360322": (3, 5, 2),    # 上栗县
    "360323": (2, 2, 2),    # 芦溪县: often late
    "360203": (1, 3, 1),    # 景德镇 珠山区 (another city, same province)
}


@dataclass
class PlannedCase:
    case_no: str
    county: str
    grid: str
    channel: str
    category: str
    fate: str                       # merged | declined | closed
    received_at: datetime
    accepted_at: datetime | None = None
    verified_at: datetime | None = None
    on_time: bool | None = None
    rating: bool | None = None      # None: not rated; else satisfied
    rungs: list[int] = field(default_factory=list)
    escalated_at: datetime | None = None


@dataclass
class PlannedPatrol:
    county: str
    grid: str
    started_at: datetime
    ended_at: datetime


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).isoformat()


def plan(year: int = 2026, days: int = 365, step: int = 1):
    """The cases and patrols of every ``step``-th day of ``days`` (a thinner year, same rules)."""
    cases, patrols = [], []
    first = date(year, 1, 1)
    for ci, (county, (per_day, late_mod, patrols_per_day)) in enumerate(sorted(COUNTIES.items())):
        for d in range(0, days, step):
            day = first + timedelta(days=d)
            for p in range(patrols_per_day):
                start = datetime(day.year, day.month, day.day, 8 + p, 0, tzinfo=BEIJING)
                patrols.append(PlannedPatrol(county, f"{county}10000{p % 2 + 1}", start,
                                             start + timedelta(minutes=45)))
            for j in range(per_day):
                h = (d * 7 + j * 13 + ci) % 20
                received = datetime(day.year, day.month, day.day, 9 + j, 30, tzinfo=BEIJING)
                c = PlannedCase(
                    case_no=f"{county}-{day:%Y%m%d}-{j:04d}", county=county,
                    grid=f"{county}10000{j % 2 + 1}", channel=CHANNELS[(d + j) % 6],
                    category=CATEGORIES[(d * 3 + j) % 5],
                    fate="merged" if h == 0 else "declined" if h == 1 else "closed",
                    received_at=received)
                if c.fate == "closed":
                    c.accepted_at = received + timedelta(minutes=40)
                    k = 1 + (d + j) % 9                     # calendar days to sign-off
                    c.verified_at = c.accepted_at + timedelta(days=k, hours=(j * 5) % 7)
                    c.on_time = (d + j) % late_mod != 0
                    if not c.on_time:
                        c.rungs = [1] if d % 2 else [1, 2]
                        c.escalated_at = c.verified_at - timedelta(hours=12)
                    if h % 3 != 2:
                        c.rating = h % 4 != 0
                cases.append(c)
    return cases, patrols


def events(cases, patrols) -> list[dict]:
    out = []

    def ev(kind, at, c, **extra):
        base = {"event_type": kind, "occurred_at": iso(at), "case_no": c.case_no,
                "region_code": c.county, "grid_code": c.grid, "channel": c.channel,
                "category": c.category, "priority": "normal"}
        base.update(extra)
        out.append(base)

    for c in cases:
        if c.fate == "merged":
            ev("case_merged", c.received_at, c, merged_into="x", repeat_count=2)
            continue
        ev("case_received", c.received_at, c, received_at=iso(c.received_at))
        if c.fate == "declined":
            ev("case_declined", c.received_at + timedelta(hours=2), c, reason_code="repeat")
            continue
        ev("case_accepted", c.accepted_at, c, accepted_at=iso(c.accepted_at))
        ev("task_assigned", c.accepted_at + timedelta(minutes=5), c, task_id="T-" + c.case_no)
        if c.rungs:
            ev("task_warning", c.escalated_at - timedelta(hours=6), c, task_id="T-" + c.case_no)
        for r in c.rungs:
            ev("task_escalated", c.escalated_at, c, task_id="T-" + c.case_no, rung=r)
        ev("task_verified", c.verified_at, c, task_id="T-" + c.case_no, on_time=c.on_time,
           verified_at=iso(c.verified_at), closed_at=iso(c.verified_at))
        if c.rating is not None:
            ev("case_rated", c.verified_at + timedelta(hours=1), c, satisfied=c.rating,
               score=5 if c.rating else 2)
    for p in patrols:
        out.append({"event_type": "patrol_recorded", "occurred_at": iso(p.ended_at),
                    "region_code": p.county, "grid_code": p.grid, "worker_id": "w-1",
                    "started_at": iso(p.started_at), "ended_at": iso(p.ended_at)})
    return out
