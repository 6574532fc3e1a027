"""The audit log (审计日志): every staff call through the API, written after the answer, and read
by supervisors and administrators.

An entry says who (account, role, region scope), what (method, route, the record in the path),
when, how it ended (status) and, when the answer named it, the region of the record. It never
holds a request body or query string, so no complainant's name or phone can be in it; public
calls are not recorded (there is nobody to name).

A reader sees the entries of their region: those made by accounts within their scope, and those
on records within their scope, whoever made them. So a county's supervisor sees a neighbouring
county's liaison officer reading one of its shared cases, and a city officer acting on one of
its cases; an administrator sees everything.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from sqlalchemy import or_, select

from services.common.errors import ValidationError
from services.common.regions import prefix
from services.gateway.models import AuditEntry

log = logging.getLogger(__name__)

FILTERS = ("actor", "record", "route", "since", "until", "limit")
MAX_LIMIT = 1000


def record(service, principal, route, params: dict, status: int, request,
           region_code: str | None = None) -> None:
    if principal is None or principal.role == "public":
        return
    try:
        with service.db.unit_of_work() as uow:
            uow.session.add(AuditEntry(
                at=uow.now, account_id=principal.id, role=principal.role, scope=principal.scope,
                method=route.method, route=route.name, target=params, status=status,
                client=request.remote_addr,
                record=str(next(iter(params.values())))[:64] if params else None,
                region_code=region_code if isinstance(region_code, str) else None))
            uow.commit()
    except Exception:  # the audit must not turn a served answer into an error
        log.warning("audit write failed", exc_info=True)


def region_of(payload) -> str | None:
    """The region of the record an answer describes, if it names one."""
    value = payload.get("region_code") if isinstance(payload, dict) else None
    return value[:12] if isinstance(value, str) else None


def read(service, principal, args) -> list[dict]:
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if principal.scope != "*":
        mine = prefix(principal.scope)
        query = query.where(or_(AuditEntry.scope.startswith(mine),
                                AuditEntry.region_code.startswith(mine)))
    for name, column in (("actor", AuditEntry.account_id), ("record", AuditEntry.record),
                         ("route", AuditEntry.route)):
        value = args.get(name)
        if value:
            query = query.where(column == _text(name, value))
    if args.get("since"):
        query = query.where(AuditEntry.at >= _when("since", args["since"]))
    if args.get("until"):
        query = query.where(AuditEntry.at < _when("until", args["until"]))
    query = query.limit(_limit(args.get("limit")))
    with service.db.unit_of_work() as uow:
        return [view(e) for e in uow.session.scalars(query)]


def view(entry: AuditEntry) -> dict:
    return {"id": entry.id, "at": entry.at.isoformat(), "account_id": entry.account_id,
            "role": entry.role, "scope": entry.scope, "method": entry.method,
            "route": entry.route, "record": entry.record, "target": entry.target,
            "region_code": entry.region_code, "status": entry.status, "client": entry.client}


def _text(name: str, value: str) -> str:
    if len(value) > 64:
        raise ValidationError(f"{name} is longer than 64 characters", code="too_long",
                              field=name)
    return value


def _when(name: str, value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(
            timezone.utc)
    except (ValueError, OverflowError):
        raise ValidationError(f"{name} must be an ISO 8601 date-time", code="invalid_value",
                              field=name)


def _limit(value) -> int:
    if value is None or value == "":
        return 100
    try:
        number = int(value)
    except ValueError:
        raise ValidationError("limit must be an integer", code="invalid_value", field="limit")
    if not 1 <= number <= MAX_LIMIT:
        raise ValidationError(f"limit must be 1 to {MAX_LIMIT}", code="out_of_range",
                              field="limit")
    return number
