"""Read side of ranking: figures by region, the league table, the monthly bulletin, CSV."""
from __future__ import annotations

import re
from dataclasses import asdict

from sqlalchemy import select, text

from services.common.errors import ValidationError
from services.ranking import league, metrics
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


def league_table(uow, filters: dict, sizes: dict) -> list[dict]:
    """Counties of one period ranked by the configured composite score (擂台赛)."""
    period = _period(filters)
    figures = {r.scope: metrics.figures(r.data) for r in _rows(uow, period)
               if len(r.scope) == 6 and not r.scope.endswith("00")}
    return [asdict(row) for row in league.league_table(figures, sizes, metrics.load_config())]


def health(uow) -> dict:
    uow.session.execute(text("SELECT 1"))
    return {"ok": True}
