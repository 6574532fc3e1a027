"""Read side of ranking: counters by region for the public."""
from __future__ import annotations

import re

from sqlalchemy import select, text

from services.common.errors import ValidationError
from services.ranking.models import CounterSet


def region_counters(uow, filters: dict) -> list[dict]:
    period = filters.get("period")
    if not period or not re.fullmatch(r"\d{4}-(\d{2}(-\d{2})?|W\d{2})", str(period)):
        raise ValidationError("period must be YYYY-MM-DD, YYYY-Www or YYYY-MM",
                              code="invalid_value", field="period")
    rows = uow.session.scalars(select(CounterSet).where(CounterSet.period == period,
                                                        ~CounterSet.scope.startswith("grid:"))
                               .order_by(CounterSet.scope)).all()
    return [{"scope": r.scope, "period": r.period, "counters": r.data} for r in rows]


def health(uow) -> dict:
    uow.session.execute(text("SELECT 1"))
    return {"ok": True}
