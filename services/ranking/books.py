"""Ranking's registers beside the counters, folded from the same recorded history with their own
checkpoint (``books``): enterprise violations and cards (企业红黄牌), and the state of each task
that the weekly dispatch list (周调度) needs.

Violations: a ``case_feedback`` (the sign-off fed back to the case) of a case that names an
enterprise confirms a violation when ``founded`` and overturns it when a later sign-off of the
same case (after a reopen) finds it unfounded. The card of an enterprise is then
``cards.timeline`` of its cases as of the latest moment seen for it, so the history holds the
moment a card appeared and the moment it left.

Time alone also ends a card (the year window passes). So that the history stays a function of
the recorded events, and a replay gives the same card history as the live fold, the timer
records that moment as an event of ranking's own (``card_window_passed``, never published)
when the clock reaches it, and the fold treats it like any other.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select

from services.common.workdays import as_utc
from services.ranking import cards, handlers, metrics
from services.ranking.models import (CardChange, Checkpoint, EnterpriseCard, EnterpriseCase,
                                     OpenTask, RecordedEvent)

NAME = "books"
WINDOW_PASSED = "card_window_passed"
FEEDBACK = "case_feedback"
TASK_EVENTS = ("task_assigned", "task_reassigned", "task_reopened", "task_extended",
               "task_escalated", "task_closed", "task_sent_back", "task_verified")
FOLDED = (FEEDBACK, WINDOW_PASSED) + TASK_EVENTS
BATCH = 2000


def _when(payload: dict, name: str) -> datetime:
    return as_utc(datetime.fromisoformat(payload.get(name) or payload["occurred_at"]))


def _is_major(payload: dict, cfg: dict) -> bool:
    majors = (cfg.get("cards") or {}).get("major_incidents") or []
    return payload.get("incident") in majors


# --- folding ----------------------------------------------------------------------------------

def _on_feedback(session, payload: dict, cfg: dict, as_of: dict) -> None:
    key = payload.get("enterprise_key")
    if not key or payload.get("founded") is None:
        return
    at = _when(payload, "verified_at").isoformat()
    row = session.get(EnterpriseCase, payload["case_no"])
    if row is None:
        if not payload["founded"]:
            return  # never confirmed: not a violation
        row = EnterpriseCase(case_no=payload["case_no"], enterprise_key=key,
                             enterprise=payload.get("enterprise") or key, spans=[])
        session.add(row)
    spans = [list(s) for s in row.spans]
    open_span = bool(spans) and spans[-1][1] is None
    if payload["founded"] and not open_span:
        spans.append([at, None])
    elif not payload["founded"] and open_span:
        spans[-1][1] = at
    row.spans = spans  # a new list: the JSON column notices only new values
    row.region_code = payload.get("region_code") or row.region_code
    row.category = payload.get("category") or row.category
    row.major = bool(row.major) or _is_major(payload, cfg)
    _seen(as_of, row.enterprise_key, at)


def _seen(as_of: dict, key: str, at: str) -> None:
    when = as_utc(datetime.fromisoformat(at))
    if key not in as_of or as_of[key] < when:
        as_of[key] = when


def _on_task(session, payload: dict, open_tasks: dict[str, OpenTask]) -> None:
    """Fold a task event into its ``open_task`` row; ``open_tasks`` holds the batch's rows,
    loaded together, and takes the new ones."""
    kind = payload["event_type"]
    row = open_tasks.get(payload["task_id"])
    if row is None:
        row = OpenTask(task_id=payload["task_id"], case_no=payload["case_no"], state="open",
                       rung=0, started_at=_when(payload, "occurred_at"))
        session.add(row)
        open_tasks[row.task_id] = row
    for name in ("region_code", "grid_code", "category", "unit"):
        if payload.get(name):
            setattr(row, name, payload[name])
    if payload.get("deadline"):
        row.deadline = as_utc(datetime.fromisoformat(payload["deadline"]))
    if kind in ("task_assigned", "task_reopened"):
        row.state, row.rung, row.started_at = "open", 0, _when(payload, "occurred_at")
    elif kind in ("task_reassigned", "task_sent_back"):
        row.state = "open"
    elif kind == "task_extended":
        row.rung = 0  # the ladder starts again from the new deadline
    elif kind == "task_escalated":
        row.rung = max(row.rung or 0, int(payload.get("rung") or 0))
    elif kind == "task_closed":
        row.state = "closed"
    elif kind == "task_verified":
        row.state = "done"


def _standings(session, key: str) -> tuple[str, list[cards.Standing], list]:
    rows = session.scalars(select(EnterpriseCase).where(EnterpriseCase.enterprise_key == key)
                           .order_by(EnterpriseCase.case_no)).all()
    name = rows[0].enterprise if rows else key
    return name, [cards.Standing(r.case_no, tuple(
        (datetime.fromisoformat(a), datetime.fromisoformat(b) if b else None) for a, b in r.spans),
        bool(r.major)) for r in rows], rows


def _refresh(session, key: str, as_of: datetime, cfg: dict) -> None:
    """Recompute one enterprise's card and history from its standings, as of ``as_of``."""
    card_row = session.get(EnterpriseCard, key)
    if card_row is not None and card_row.as_of is not None and card_row.as_of > as_of:
        as_of = card_row.as_of
    name, standings, rows = _standings(session, key)
    history, card, following = cards.timeline(key, standings, as_of, cfg)
    by_case = {r.case_no: r for r in rows}
    if card_row is None:
        card_row = EnterpriseCard(enterprise_key=key, enterprise=name)
        session.add(card_row)
    card_row.enterprise, card_row.level, card_row.as_of = name, card.level, as_of
    card_row.since = history[-1].at if history and card.level else None
    card_row.cases = [_case_entry(by_case[c], standings) for c in card.cases]
    card_row.next_check_at = following
    session.execute(delete(CardChange).where(CardChange.enterprise_key == key))
    for seq, change in enumerate(history, start=1):
        session.add(CardChange(enterprise_key=key, seq=seq, from_level=change.from_level,
                               to_level=change.to_level, at=change.at, cases=change.cases))


def _case_entry(row: EnterpriseCase, standings) -> dict:
    spans = next(s.spans for s in standings if s.case_no == row.case_no)
    return {"case_no": row.case_no, "confirmed_at": as_utc(spans[-1][0]).isoformat(),
            "region_code": row.region_code, "category": row.category, "major": bool(row.major)}


def project_batch(db, cfg: dict | None = None) -> int:
    """Fold the next batch of recorded events into the registers; return how many were read."""
    cfg = cfg or metrics.load_config()
    with db.unit_of_work() as uow:
        session = uow.session
        checkpoint = handlers.lock_checkpoint(session, NAME)
        if checkpoint is None:
            return 0
        top = session.scalar(select(func.max(RecordedEvent.position))) or 0
        if top <= checkpoint.position:
            return 0
        rows = session.execute(
            select(RecordedEvent.position, RecordedEvent.payload)
            .where(RecordedEvent.position > checkpoint.position, RecordedEvent.position <= top,
                   RecordedEvent.event_type.in_(FOLDED))
            .order_by(RecordedEvent.position).limit(BATCH)).all()
        as_of: dict[str, datetime] = {}
        # The batch's task rows in one query, not one look-up (and a flush) per event.
        task_ids = {p["task_id"] for _, p in rows if p.get("task_id")}
        open_tasks = {r.task_id: r for r in session.scalars(
            select(OpenTask).where(OpenTask.task_id.in_(task_ids)))} if task_ids else {}
        for _, payload in rows:
            kind = payload.get("event_type")
            if kind == FEEDBACK:
                _on_feedback(session, payload, cfg, as_of)
                session.flush()   # a later sign-off of the same case finds this one's row
            elif kind == WINDOW_PASSED:
                _seen(as_of, payload["enterprise_key"], payload["at"])
            elif payload.get("task_id"):
                _on_task(session, payload, open_tasks)
        for key in sorted(as_of):
            _refresh(session, key, as_of[key], cfg)
        checkpoint.position = rows[-1][0] if len(rows) == BATCH else top
        uow.commit()
        return len(rows) or 1


def record_window_passes(db) -> int:
    """Record, as ranking's own events, the moments the clock passed a card's window edge."""
    with db.unit_of_work() as uow:
        due = uow.session.execute(select(EnterpriseCard.enterprise_key,
                                         EnterpriseCard.next_check_at)
                                  .where(EnterpriseCard.next_check_at <= uow.now)).all()
        if not due:
            return 0
        ticks = [(_tick_id(key, at), key, as_utc(at).isoformat()) for key, at in due]
        known = set(uow.session.scalars(select(RecordedEvent.event_id).where(
            RecordedEvent.event_id.in_([event_id for event_id, _, _ in ticks]))))
        handlers.record(uow, [{"event_id": event_id, "event_type": WINDOW_PASSED,
                               "occurred_at": at, "source": "ranking", "enterprise_key": key,
                               "at": at} for event_id, key, at in ticks if event_id not in known])
        uow.commit()   # another instance recording the same moment (same id) adds nothing
        return len(due)


def rebuild(db, cfg: dict | None = None) -> int:
    with db.unit_of_work() as uow:
        reset(uow.session)
        uow.commit()
    return catch_up(db, cfg)


def _tick_id(key: str, at: datetime) -> str:
    # The same moment gets the same id in every instance, so it is recorded once.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"envgrid:{WINDOW_PASSED}:{key}:"
                                              f"{as_utc(at).isoformat()}"))


def catch_up(db, cfg: dict | None = None) -> int:
    total = 0
    while (n := project_batch(db, cfg)) > 0:
        total += n
    return total


def reset(session) -> None:
    """Forget the registers (a rebuild folds them again from position 0)."""
    for table in (CardChange, EnterpriseCard, EnterpriseCase, OpenTask):
        session.execute(delete(table))
    checkpoint = session.get(Checkpoint, NAME)
    if checkpoint is not None:
        checkpoint.position = 0
