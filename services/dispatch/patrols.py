"""Patrol walks (巡查记录): a grid worker or chief records a walk of a grid they belong to.

Ranking counts them (``patrol_recorded``) for the problem-discovery rate (发现问题率 = cases
found on patrol / patrols). A walk may be entered late (补录); it counts on the day walked.
"""
from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from services.common import events
from services.common.authz import Principal, require_scope
from services.common.config import Policy
from services.common.errors import Forbidden, ValidationError
from services.common.regions import prefix
from services.common.workdays import as_utc
from services.dispatch.grids import GridRegistry
from services.dispatch.models import Patrol
from services.dispatch.queries import county_of

WALKERS = ("grid_worker", "grid_chief")


def record(uow, cmd: dict, principal: Principal, registry: GridRegistry, policy: Policy,
           idempotency_key: str | None = None) -> dict:
    """Record one walk; a retry with the same key returns the walk first recorded."""
    if idempotency_key:
        existing = uow.session.scalars(
            select(Patrol).where(Patrol.idempotency_key == idempotency_key)).first()
        if existing is not None:
            return view(existing)
    grid_code = cmd.get("grid_code") or principal.grid_code
    grid = registry.get(grid_code) if isinstance(grid_code, str) else None
    if grid is None:
        raise ValidationError(f"unknown grid {grid_code}", code="unknown_grid",
                              field="grid_code")
    region = county_of(registry, grid)
    require_scope(principal, region)
    if principal.role not in WALKERS or not _belongs(registry, grid, principal.id):
        raise Forbidden("you may record patrols of your own grid only", code="not_your_grid",
                        field="grid_code")
    rules = (policy.for_region(region).get("patrols") or {})
    started, ended = _walk_times(cmd, uow.now, rules)
    patrol = Patrol(id="P-" + uuid.uuid4().hex[:12], region_code=region, grid_code=grid.code,
                    worker_id=principal.id, worker_role=principal.role, started_at=started,
                    ended_at=ended, note=_note(cmd.get("note")),
                    case_nos=_case_nos(cmd.get("case_nos"), region),
                    idempotency_key=idempotency_key, recorded_at=uow.now)
    uow.session.add(patrol)
    out = view(patrol)
    uow.emit(events.PATROL_RECORDED, {k: out[k] for k in events.CATALOGUE[
        events.PATROL_RECORDED].fields})
    return out


def list_patrols(uow, filters: dict, principal: Principal, policy: Policy) -> list[dict]:
    """Walks in the reader's region, newest first; a grid worker sees their own. ``from`` and
    ``to`` are local days, both included."""
    query = select(Patrol)
    if principal.scope != "*":
        query = query.where(Patrol.region_code.startswith(prefix(principal.scope)))
    if principal.role == "grid_worker":
        query = query.where(Patrol.worker_id == principal.id)
    if filters.get("grid"):
        query = query.where(Patrol.grid_code.startswith(str(filters["grid"])))
    zone = ZoneInfo(policy.data.get("timezone", "Asia/Shanghai"))
    if filters.get("from"):
        start = datetime.combine(_day(filters["from"], "from"), time(), tzinfo=zone)
        query = query.where(Patrol.started_at >= as_utc(start))
    if filters.get("to"):
        end = datetime.combine(_day(filters["to"], "to") + timedelta(days=1), time(), tzinfo=zone)
        query = query.where(Patrol.started_at < as_utc(end))
    try:
        limit = min(max(int(filters.get("limit", 200)), 1), 1000)
    except (TypeError, ValueError):
        raise ValidationError("limit must be an integer", code="invalid_value", field="limit")
    rows = uow.session.scalars(query.order_by(Patrol.started_at.desc()).limit(limit)).all()
    return [view(p) for p in rows]


def view(patrol: Patrol) -> dict:
    started, ended = as_utc(patrol.started_at), as_utc(patrol.ended_at)
    return {"patrol_id": patrol.id, "region_code": patrol.region_code,
            "grid_code": patrol.grid_code, "worker_id": patrol.worker_id,
            "started_at": started.isoformat(), "ended_at": ended.isoformat(),
            "minutes": round((ended - started).total_seconds() / 60),
            "note": patrol.note, "case_nos": list(patrol.case_nos or [])}


# --- checks -------------------------------------------------------------------------------------
def _belongs(registry: GridRegistry, grid, person_id: str | None) -> bool:
    """Named in the grid, or chief or worker of a grid above it (a township chief walks its
    villages)."""
    for g in [grid, *registry.ancestors(grid.code)]:
        people = [g.chief, *(g.workers or [])]
        if any(p and p.get("id") == person_id for p in people):
            return True
    return False


def _walk_times(cmd: dict, now: datetime, rules: dict) -> tuple[datetime, datetime]:
    started = _instant(cmd.get("started_at"), "started_at")
    if cmd.get("ended_at") is not None:
        ended = _instant(cmd["ended_at"], "ended_at")
        field = "ended_at"
    elif cmd.get("minutes") is not None:
        minutes = cmd["minutes"]
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
            raise ValidationError("minutes must be a positive whole number",
                                  code="invalid_value", field="minutes")
        ended, field = started + timedelta(minutes=minutes), "minutes"
    else:
        raise ValidationError("give ended_at or minutes", code="missing_field",
                              field="ended_at")
    if ended <= started:
        raise ValidationError("the walk must end after it starts", code="invalid_value",
                              field=field)
    if ended - started > timedelta(minutes=int(rules.get("max_minutes", 720))):
        raise ValidationError("a walk that long is more than one patrol",
                              code="too_long", field=field)
    if ended > now + timedelta(minutes=int(rules.get("clock_skew_minutes", 10))):
        raise ValidationError("the walk ends in the future", code="in_future", field=field)
    if started < now - timedelta(days=int(rules.get("max_age_days", 31))):
        raise ValidationError("too old to enter late", code="too_old", field="started_at")
    return started, ended


def _instant(value, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValidationError(f"{field} must be a date and time with its offset",
                              code="invalid_value", field=field)
    return as_utc(moment)


def _day(value, field: str):
    try:
        return datetime.strptime(str(value), "%Y-%m-%d").date()
    except ValueError:
        raise ValidationError(f"{field} must be a date (YYYY-MM-DD)", code="invalid_value",
                              field=field)


def _note(value) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _case_nos(value, region: str) -> list[str]:
    """The patrol reports filed on the walk: cases of the walk's own county."""
    out = []
    for case_no in value or []:
        if not (isinstance(case_no, str) and case_no.startswith(region + "-")):
            raise ValidationError(f"{case_no} is not a case of {region}", code="invalid_value",
                                  field="case_nos")
        if case_no not in out:
            out.append(case_no)
    return out
