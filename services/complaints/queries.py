"""Read side of the complaints service: case lookups and lists, scoped to the caller."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import selectinload

from services.common.authz import Principal, in_scope
from services.common.errors import NotFound, ValidationError
from services.common.regions import prefix
from services.complaints.handlers import case_view
from services.complaints.models import Case


def get_case(uow, case_no: str, principal: Principal) -> dict:
    case = uow.session.scalars(select(Case).where(Case.case_no == case_no)).first()
    if case is None or principal.role == "liaison" or not in_scope(principal, case.region_code):
        raise NotFound(f"no case {case_no}", code="case_not_found", field="case_no")
    return case_view(case, principal)


def list_cases(uow, filters: dict, principal: Principal) -> list[dict]:
    query = select(Case).order_by(Case.id.desc())
    if principal.scope != "*":
        query = query.where(Case.region_code.startswith(prefix(principal.scope)))
    status = filters.get("status")
    if status:
        query = query.where(Case.status == status)
    try:
        limit = min(max(int(filters.get("limit", 50)), 1), 500)
    except (TypeError, ValueError):
        raise ValidationError("limit must be an integer", code="invalid_value", field="limit")
    # Each view shows the history (and, to intake, the complainant): load them for the whole
    # page in two more statements instead of two per case.
    query = query.options(selectinload(Case.history), selectinload(Case.complainant))
    return [case_view(c, principal) for c in uow.session.scalars(query.limit(limit))]


def health(uow) -> dict:
    uow.session.execute(text("SELECT 1"))
    return {"ok": True}


OPEN311_CLOSED = ("declined", "closed", "merged", "referred")


def public_requests(uow, filters: dict) -> list[dict]:
    """Cases as Open311 shows them to anyone: what and where, never who reported it.
    Defaults follow GeoReport v2: the last 90 days, at most 1,000."""
    query = select(Case).order_by(Case.id.desc()).limit(1000)
    if filters.get("case_nos"):
        query = query.where(Case.case_no.in_(filters["case_nos"]))
    else:
        end = datetime.fromisoformat(filters["end_date"]) if filters.get("end_date") else uow.now
        start = (datetime.fromisoformat(filters["start_date"]) if filters.get("start_date")
                 else end - timedelta(days=90))
        query = query.where(Case.received_at >= start, Case.received_at <= end)
    if filters.get("categories"):
        query = query.where(Case.category.in_(filters["categories"]))
    if filters.get("status") == "closed":
        query = query.where(Case.status.in_(OPEN311_CLOSED))
    elif filters.get("status") == "open":
        query = query.where(Case.status.not_in(OPEN311_CLOSED))
    cases = uow.session.scalars(query).all()
    if filters.get("case_nos") and not cases:
        raise NotFound("no such service request", code="case_not_found",
                       field="service_request_id")
    return [{"case_no": c.case_no, "status": c.status, "category": c.category,
             "description": c.description, "address": c.address, "lat": c.lat, "lon": c.lon,
             "media": c.media, "agency": c.agency, "result": c.result,
             "decline_reason": c.decline_reason, "merged_into": c.merged_into,
             "received_at": c.received_at.isoformat(), "updated_at": c.updated_at.isoformat(),
             "deadline": c.deadline.isoformat() if c.deadline else None} for c in cases]
