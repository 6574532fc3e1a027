"""Read side of the complaints service: case lookups and lists, scoped to the caller."""
from __future__ import annotations

from sqlalchemy import select, text

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
    return [case_view(c, principal) for c in uow.session.scalars(query.limit(limit))]


def health(uow) -> dict:
    uow.session.execute(text("SELECT 1"))
    return {"ok": True}
