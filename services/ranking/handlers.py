"""Ranking's handlers: record each event once, then fold recorded events into the read model in
batches (one projector at a time across instances), and rebuild from scratch on request."""
from __future__ import annotations

import copy
from datetime import datetime

from sqlalchemy import delete, select, text

from services.common.db import insert_unless_present
from services.common.workdays import as_utc
from services.ranking import metrics, registry_view
from services.ranking.models import CaseTrack, Checkpoint, CounterSet, RecordedEvent

BATCH = 2000
MAIN = "main"


# Recording is serialised so positions commit in the order they are given out: a projector
# that has read up to position N never meets a position below N committed later.
_RECORD_LOCK = 0x72616e6b  # "rank"


_RECORD_LOCK_STATEMENT = text("SELECT pg_advisory_xact_lock(:k)")


def record(uow, payloads: list[dict]) -> None:
    """Record events once each, in the order given: an event id recorded before (a redelivery,
    or the same event twice in one batch) writes nothing."""
    if not payloads:
        return
    connection = uow.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_RECORD_LOCK_STATEMENT, {"k": _RECORD_LOCK})
    # One statement; positions are given out in the order of the rows.
    connection.execute(insert_unless_present(RecordedEvent.__table__, connection.dialect.name), [{
        "event_id": payload["event_id"], "event_type": payload["event_type"],
        "occurred_at": as_utc(datetime.fromisoformat(payload["occurred_at"])),
        "payload": payload} for payload in payloads])


def lock_checkpoint(session, name: str = MAIN) -> Checkpoint | None:
    """The named projector's checkpoint, locked; None when another instance holds it."""
    query = select(Checkpoint).where(Checkpoint.name == name)
    if session.bind.dialect.name == "postgresql":
        # One projector at a time: the others skip this round instead of waiting.
        query = query.with_for_update(skip_locked=True)
    row = session.scalars(query).first()
    if row is None and session.get(Checkpoint, name) is None:
        row = Checkpoint(name=name, position=0)
        session.add(row)
        session.flush()
    return row


def project_batch(db, tz: str | None = None) -> int:
    """Fold the next batch of recorded events into the read model; return how many.

    The batch is applied to an empty ``metrics.Counters`` holding only the stored tracks of its
    cases, so each bucket comes out as a delta to add to its stored row (metrics' module doc)."""
    with db.unit_of_work() as uow:
        session = uow.session
        checkpoint = lock_checkpoint(session)
        if checkpoint is None:
            return 0
        rows = session.scalars(select(RecordedEvent)
                               .where(RecordedEvent.position > checkpoint.position)
                               .order_by(RecordedEvent.position).limit(BATCH)).all()
        if not rows:
            return 0
        case_nos = {r.payload.get("case_no") for r in rows} - {None}
        tracks = {t.case_no: t for t in session.scalars(
            select(CaseTrack).where(CaseTrack.case_no.in_(case_nos)))} if case_nos else {}
        # Deep copies: apply() edits tracks in place, and a JSON column only notices new values.
        state = metrics.Counters(cases={no: copy.deepcopy(t.data) for no, t in tracks.items()},
                                 tz=tz or metrics.DEFAULT_TZ)
        for row in rows:
            metrics.apply(state, row.payload)
        _merge_buckets(session, state.buckets)
        registry_view.record(session, rows)
        for case_no, track in state.cases.items():
            if case_no in tracks:
                tracks[case_no].data = track
            else:
                session.add(CaseTrack(case_no=case_no, data=track))
        checkpoint.position = rows[-1].position
        uow.commit()
        return len(rows)


def _merge_buckets(session, buckets: dict) -> None:
    keys = list(buckets)
    existing = {}
    for start in range(0, len(keys), 500):
        part = keys[start:start + 500]
        for row in session.scalars(select(CounterSet).where(
                CounterSet.scope.in_({k[0] for k in part}),
                CounterSet.period.in_({k[1] for k in part}))):
            existing[(row.scope, row.period)] = row
    for key, delta in buckets.items():
        row = existing.get(key)
        if row is None:
            session.add(CounterSet(scope=key[0], period=key[1], data=dict(delta), version=1))
        else:
            row.data = metrics.merge_counts(row.data, delta)
            row.version += 1


def rebuild(db) -> int:
    """Throw the read model away and fold the whole recorded history again."""
    with db.unit_of_work() as uow:
        uow.session.execute(delete(CounterSet))
        uow.session.execute(delete(CaseTrack))
        registry_view.clear(uow.session)
        checkpoint = uow.session.get(Checkpoint, MAIN)
        if checkpoint is not None:
            checkpoint.position = 0
        uow.commit()
    total = 0
    while (n := project_batch(db)) > 0:
        total += n
    return total

