"""Read side of ranking: figures by region and period."""
from __future__ import annotations

import re

from sqlalchemy import select, text

from services.common.errors import ValidationError
from services.ranking import metrics
from services.ranking.models import CounterSet

_PERIOD = re.compile(r"\d{4}-(\d{2}(-\d{2})?|W\d{2})")


def _period(filters: dict) -> str:
    period = filters.get("period")
    if not period or not _PERIOD.fullmatch(str(period)):
        raise ValidationError("period must be YYYY-MM-DD, YYYY-Www or YYYY-MM",
                              code="invalid_value", field="period")
    return str(period)


def _rows(uow, period: str, grids: bool = False) -> list[CounterSet]:
    query = select(CounterSet).where(CounterSet.period == period)
    query = query.where(CounterSet.scope.startswith("grid:") if grids
                        else ~CounterSet.scope.startswith("grid:"))
    return uow.session.scalars(query.order_by(CounterSet.scope)).all()


def region_counters(uow, filters: dict) -> list[dict]:
    return [{"scope": r.scope, "period": r.period, "counters": r.data,
             "figures": metrics.figures(r.data)}
            for r in _rows(uow, _period(filters), grids=filters.get("level") == "grid")]


def health(uow) -> dict:
    uow.session.execute(text("SELECT 1"))
    return {"ok": True}
