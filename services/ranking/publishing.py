"""Publishing bulletins on a schedule (日汇总 / 周调度 / 月通报) and keeping them in an archive.

Schedule (``ranking.yaml`` → ``bulletins``, local time of ``bulletins.timezone``):

* daily ``2026-11-23`` at ``daily.at`` on the next day;
* weekly ``2026-W48`` on ISO weekday ``weekly.weekday`` of the next week at ``weekly.at``;
* monthly ``2026-11`` on the ``monthly.working_day``-th Chinese working day of the next month.

Every tick (``publish_due``) looks, by the injected clock, for the periods whose time has come
(at most ``catch_up`` back, none that ended before ranking's first recorded event), and for
each issuing region renders the bulletin from the read model, stores the HTML and the data it
was built from, and emits ``bulletin_published`` in the same transaction. The archive's unique
key (kind, period, scope) makes each publication happen once across instances: a second
instance waits on the key, then finds it taken and moves on.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from services.common import events
from services.common.config import policy
from services.common.regions import level_of, prefix, within
from services.common.workdays import add_working_days, as_utc, nth_working_day_of_month, \
    working_days_between
from services.ranking import books, bulletins, handlers, league, metrics, registry_view
from services.ranking.models import (Bulletin, CardChange, Checkpoint, CounterSet, EnterpriseCard,
                                     EnterpriseCase, OpenTask, RecordedEvent)

log = logging.getLogger(__name__)

KINDS = ("daily", "weekly", "monthly")
TITLES = {"daily": "网格化环境监管日汇总", "weekly": "网格化环境监管周调度",
          "monthly": "网格化环境监管工作月通报"}
SYSTEM = {"id": "ranking", "role": "system"}


def _section(cfg: dict) -> dict:
    return cfg.get("bulletins") or {}


def _zone(cfg: dict) -> ZoneInfo:
    return ZoneInfo(_section(cfg).get("timezone") or cfg.get("timezone") or "Asia/Shanghai")


# --- periods and the schedule (pure) ----------------------------------------------------------

def period_of(kind: str, day: date) -> str:
    if kind == "daily":
        return day.isoformat()
    if kind == "weekly":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return f"{day.year:04d}-{day.month:02d}"


def first_day(kind: str, period: str) -> date:
    if kind == "daily":
        return date.fromisoformat(period)
    if kind == "weekly":
        year, week = period.split("-W")
        return date.fromisocalendar(int(year), int(week), 1)
    year, month = period.split("-")
    return date(int(year), int(month), 1)


def next_first_day(kind: str, period: str) -> date:
    start = first_day(kind, period)
    if kind == "daily":
        return start + timedelta(days=1)
    if kind == "weekly":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def bounds(kind: str, period: str, cfg: dict) -> tuple[datetime, datetime]:
    """UTC start and end (exclusive) of a period cut in local time."""
    zone = _zone(cfg)
    return (as_utc(datetime.combine(first_day(kind, period), time(0), tzinfo=zone)),
            as_utc(datetime.combine(next_first_day(kind, period), time(0), tzinfo=zone)))


def publish_at(kind: str, period: str, cfg: dict) -> datetime:
    """When the bulletin of ``period`` falls due (UTC)."""
    spec = _section(cfg).get(kind) or {}
    after = next_first_day(kind, period)
    if kind == "weekly":
        on = after + timedelta(days=int(spec.get("weekday", 1)) - 1)
    elif kind == "monthly":
        on = nth_working_day_of_month(after.year, after.month, int(spec.get("working_day", 2)))
    else:
        on = after
    at = time.fromisoformat(str(spec.get("at", "08:00")))
    return as_utc(datetime.combine(on, at, tzinfo=_zone(cfg)))


def due_periods(kind: str, now: datetime, cfg: dict, not_before: datetime | None) -> list[str]:
    """Periods of ``kind`` whose bulletin is due at ``now``, oldest first (see module doc)."""
    limit = int((_section(cfg).get("catch_up") or {}).get(kind, 3))
    period = period_of(kind, as_utc(now).astimezone(_zone(cfg)).date())
    found: list[str] = []
    for _ in range(limit + 2):  # the current period and the one before are never both due
        if publish_at(kind, period, cfg) <= now:
            if not_before is not None and bounds(kind, period, cfg)[1] <= not_before:
                break
            found.append(period)
            if len(found) >= limit:
                break
        period = period_of(kind, first_day(kind, period) - timedelta(days=1))
    return list(reversed(found))


def bulletin_id(kind: str, period: str, scope: str) -> str:
    return f"{kind}-{period}-{scope}"


# --- the data of one bulletin ------------------------------------------------------------------

def _counties(uow, period: str, issuer: str) -> dict[str, dict]:
    rows = uow.session.scalars(select(CounterSet).where(CounterSet.period == period))
    return {r.scope: metrics.figures(r.data) for r in rows
            if r.scope.isdigit() and len(r.scope) == 6 and r.scope != issuer
            and level_of(r.scope) == "county" and within(r.scope, issuer)}


def _totals(uow, period: str, issuer: str) -> dict:
    row = uow.session.get(CounterSet, (issuer, period))
    return metrics.figures(row.data if row else {})


def _local_text(value: datetime | None, cfg: dict, fmt: str = "%Y-%m-%d %H:%M") -> str | None:
    return None if value is None else as_utc(value).astimezone(_zone(cfg)).strftime(fmt)


def league_rows(uow, period: str, issuer: str, sizes: dict, cfg: dict) -> list[league.Row]:
    """The issuer's counties ranked for ``period``, with the change against the period before."""
    previous = league.league_table(
        _counties(uow, _previous(period), issuer), sizes, cfg)
    return league.league_table(_counties(uow, period, issuer), sizes, cfg, previous=previous)


def _previous(period: str) -> str:
    kind = "daily" if len(period) == 10 else ("weekly" if "W" in period else "monthly")
    return period_of(kind, first_day(kind, period) - timedelta(days=1))


def _open_work(uow, issuer: str, end: datetime, cfg: dict) -> tuple[list[dict], list[dict]]:
    spec = _section(cfg).get("weekly") or {}
    slow_after = int((spec.get("slow_after") or {}).get("working_days", 10))
    cap = int(spec.get("max_rows", 200))
    overdue, slow = [], []
    rows = uow.session.scalars(select(OpenTask).where(OpenTask.state == "open",
                                                      OpenTask.started_at < end))
    for t in rows:
        if not t.region_code or not within(t.region_code, issuer):
            continue
        line = {"task_id": t.task_id, "case_no": t.case_no, "scope": t.region_code[:6],
                "grid_code": t.grid_code, "category": t.category, "unit": t.unit}
        if t.deadline is not None and as_utc(t.deadline) < end:
            overdue.append(dict(line, deadline=_local_text(t.deadline, cfg), rung=t.rung,
                                days_overdue=round(working_days_between(t.deadline, end), 1)))
        else:
            days_open = round(working_days_between(t.started_at, end), 1)
            if days_open >= slow_after:
                slow.append(dict(line, assigned_at=_local_text(t.started_at, cfg),
                                 days_open=days_open))
    overdue.sort(key=lambda x: (-x["days_overdue"], x["case_no"]))
    slow.sort(key=lambda x: (-x["days_open"], x["case_no"]))
    return overdue[:cap], slow[:cap]


def _cards(uow, issuer: str, start: datetime, end: datetime) -> tuple[list[dict], list[dict]]:
    """Current red and yellow cards of enterprises with a case in the issuer's region, and the
    changes of their cards within the period."""
    keys = set(uow.session.scalars(select(EnterpriseCase.enterprise_key).where(
        EnterpriseCase.region_code.startswith(prefix(issuer))).distinct()))
    rows = {c.enterprise_key: c for c in uow.session.scalars(
        select(EnterpriseCard).where(EnterpriseCard.enterprise_key.in_(keys)))} if keys else {}
    carded = [{"enterprise": c.enterprise, "enterprise_key": c.enterprise_key,
               "level": c.level, "cases": [x["case_no"] for x in c.cases]}
              for c in rows.values() if c.level]
    carded.sort(key=lambda c: (c["level"] != "red", c["enterprise_key"]))
    changes = [{"enterprise": rows[ch.enterprise_key].enterprise, "from_level": ch.from_level,
                "to_level": ch.to_level, "at": as_utc(ch.at).isoformat(), "cases": ch.cases}
               for ch in uow.session.scalars(select(CardChange).where(
                   CardChange.at >= start, CardChange.at < end).order_by(CardChange.at,
                                                                          CardChange.seq))
               if ch.enterprise_key in rows]
    return carded, changes


def build(uow, kind: str, period: str, issuer: str, cfg: dict, sizes: dict) -> dict:
    """The data a bulletin is rendered from (``bulletins`` module doc), JSON-ready."""
    names = dict((_section(cfg).get("names") or {}))
    names = {str(k): v for k, v in names.items()}
    name = str((_section(cfg).get("issuers") or {}).get(issuer) or names.get(issuer, issuer))
    start, end = bounds(kind, period, cfg)
    counties = _counties(uow, period, issuer)
    data = {"region": {"code": issuer, "name": name}, "period": period,
            "generated_at": _local_text(uow.now, cfg), "names": names,
            "categories": _category_labels(),
            "totals": _totals(uow, period, issuer),
            "by_region": [{"scope": s, "figures": f} for s, f in sorted(counties.items())]}
    if kind == "weekly":
        data["overdue"], data["slow"] = _open_work(uow, issuer, end, cfg)
    if kind == "monthly":
        # Sized by the registry as it stood when the month ended (dispatch's announcements).
        sizes = sizes or registry_view.sizes(registry_view.load(uow.session, end))
        rows = league_rows(uow, period, issuer, sizes, cfg)
        within_days = int(((_section(cfg).get("laggards") or {}).get("rectify_within") or {})
                          .get("working_days", 10))
        deadline = add_working_days(uow.now, within_days).astimezone(_zone(cfg)).date()
        lag = bulletins.laggards(rows, cfg)
        for item in lag:
            item["deadline"] = deadline.isoformat()
        data["league"] = [r.as_dict() for r in rows]
        data["laggards"] = lag
        data["components"] = dict(_section(cfg).get("component_labels") or {})
        data["cards"], data["card_changes"] = _cards(uow, issuer, start, end)
    return data


def _category_labels() -> dict:
    return {code: c.get("zh", code) for code, c in policy().categories.items()}


def render(kind: str, data: dict) -> str:
    return {"daily": bulletins.render_daily, "weekly": bulletins.render_weekly,
            "monthly": bulletins.render_monthly}[kind](data)


def summary(kind: str, data: dict) -> dict:
    """The few figures a ``bulletin_published`` event carries."""
    t = data["totals"]
    out = {"received": t["received"], "accepted": t["accepted"], "closed": t["closed"],
           "overdue": t["overdue"]}
    if kind == "weekly":
        out.update(overdue_open=len(data["overdue"]), slow_open=len(data["slow"]))
    if kind == "monthly":
        out.update(ranked=sum(1 for r in data["league"] if r["ranked"]),
                   laggards=[x["scope"] for x in data["laggards"]],
                   red_cards=sum(1 for c in data["cards"] if c["level"] == "red"),
                   yellow_cards=sum(1 for c in data["cards"] if c["level"] == "yellow"))
    return out


# --- publishing ---------------------------------------------------------------------------------

def _first_event_at(session) -> datetime | None:
    return session.scalar(select(func.min(RecordedEvent.occurred_at)))


def _caught_up(session) -> bool:
    top = session.scalar(select(func.max(RecordedEvent.position))) or 0
    marks = dict(session.execute(select(Checkpoint.name, Checkpoint.position)).all())
    return all(marks.get(name, 0) >= top for name in (handlers.MAIN, books.NAME))


def publish_due(db, cfg: dict | None = None, sizes: dict | None = None) -> list[str]:
    """Publish every bulletin that is due and not yet in the archive; return their ids."""
    cfg = cfg or metrics.load_config()
    with db.unit_of_work() as uow:
        not_before = _first_event_at(uow.session)
        if not_before is None or not _caught_up(uow.session):
            return []  # no history yet, or a model still folding: try again next tick
        wanted = [(kind, period, str(issuer)) for kind in KINDS
                  for period in due_periods(kind, uow.now, cfg, not_before)
                  for issuer in (_section(cfg).get("issuers") or {})]
        ids = [bulletin_id(*w) for w in wanted]
        have = set(uow.session.scalars(select(Bulletin.id).where(Bulletin.id.in_(ids))))
    published = []
    for kind, period, issuer in wanted:
        if bulletin_id(kind, period, issuer) in have:
            continue
        if publish_one(db, kind, period, issuer, cfg, sizes or {}):
            published.append(bulletin_id(kind, period, issuer))
    return published


def publish_one(db, kind: str, period: str, issuer: str, cfg: dict, sizes: dict) -> bool:
    """Render, archive and announce one bulletin; False when it is already published."""
    with db.unit_of_work(actor=SYSTEM) as uow:
        row = Bulletin(id=bulletin_id(kind, period, issuer), kind=kind, period=period,
                       scope=issuer, title="", published_at=uow.now, html="", data={})
        uow.session.add(row)
        try:
            uow.session.flush()  # takes the unique key: a twin instance waits here
        except IntegrityError:
            return False
        data = build(uow, kind, period, issuer, cfg, sizes)
        row.title = f"{data['region']['name']}{TITLES[kind]} {period}"
        row.html = render(kind, data)
        row.data = data
        uow.emit(events.BULLETIN_PUBLISHED, {
            "bulletin_id": row.id, "kind": kind, "period": period, "scope": issuer,
            "title": row.title, "published_at": uow.now.isoformat(),
            "figures": summary(kind, data)})
        try:
            uow.commit()
        except IntegrityError:
            return False
        log.info("published %s", row.id)
        return True
