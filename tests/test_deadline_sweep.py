"""Warnings and escalations on a controllable clock, each exactly once, with two dispatch
instances sweeping at the same time, and with one of them killed in the middle of a sweep."""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta

import eventlet
import pytest
from nameko.containers import ServiceContainer
from sqlalchemy import create_engine, event, text
from sqlalchemy.orm import sessionmaker

from services.common.config import Policy, policy
from services.common.unit_of_work import Database, UnitOfWork
from services.common.workdays import as_utc
from services.dispatch import deadlines, handlers
from services.dispatch.synthetic import synthetic_registry
from tests.fixtures import another_instance, create_databases, drop_databases, wait_for

VILLAGE = "360323101002"  # 马岭村, 宣风镇


@pytest.fixture
def second_dispatch(system):
    with another_instance(system, "dispatch") as container:
        yield container


def _task(system, tid):
    return system.call("GET", f"/api/v1/tasks/{tid}", "admin").json()


def test_warning_then_each_rung_once(system, second_dispatch, clock):
    r = system.call("POST", "/api/v1/complaints", json={
        "category": "air.cooking", "description": "餐饮油烟 " + uuid.uuid4().hex,
        "grid_code": VILLAGE, "priority": "high"})
    case_no = r.json()["case_no"]
    system.call("POST", f"/api/v1/cases/{case_no}/accept", "intake-360323", json={})
    case = wait_for(lambda: (c := system.call("GET", f"/api/v1/cases/{case_no}",
                                              "admin").json()).get("task_id") and c,
                    message="task")
    task = _task(system, case["task_id"])
    warn_at = datetime.fromisoformat(task["warn_at"])
    due = datetime.fromisoformat(task["deadline"])

    def actions():
        return [h["action"] for h in _task(system, task["task_id"])["history"]]

    clock.set(warn_at + timedelta(minutes=1))
    wait_for(lambda: "warning" in actions(), message="warning")
    clock.set(due + timedelta(minutes=1))
    wait_for(lambda: "escalated" in actions(), message="first rung")
    clock.set(due + timedelta(days=40))  # past every rung of the ladder
    wait_for(lambda: _task(system, task["task_id"])["rung"] == 3, message="third rung")
    final = _task(system, task["task_id"])
    assert actions().count("warning") == 1
    rungs = [h["detail"]["rung"] for h in final["history"] if h["action"] == "escalated"]
    assert rungs == [1, 2, 3]
    # Each rung goes one level further up the grid tree: township, county, city.
    targets = [h["detail"]["to_grid_code"] for h in final["history"]
               if h["action"] == "escalated"]
    assert targets == ["360323101", "360323", "360300"]
    # The case's own history shows the escalations the complainant's case went through.
    history = system.call("GET", f"/api/v1/cases/{case_no}", "admin").json()["history"]
    wait_for(lambda: [h["action"] for h in system.call(
        "GET", f"/api/v1/cases/{case_no}", "admin").json()["history"]].count("escalated") == 3,
        message="escalations mirrored on the case")
    assert history


# --- a restart in the middle of a sweep -------------------------------------------------------
MANY = 40
SLOW_CHECK_SECONDS = 0.05  # per task: a sweep of MANY tasks takes ~2 s, long enough to kill


def _accepted_tasks(system, n, category):
    numbers = []
    for i in range(n):
        r = system.call("POST", "/api/v1/intake", "intake-360323", json={
            "channel": "hotline", "category": category, "grid_code": VILLAGE,
            "priority": "high", "description": f"施工扬尘 {i} {uuid.uuid4().hex}"})
        assert r.status_code == 201, r.text
        numbers.append(r.json()["case_no"])
    for case_no in numbers:
        r = system.call("POST", f"/api/v1/cases/{case_no}/accept", "intake-360323", json={})
        assert r.status_code == 200, r.text
    engine = create_engine(system.databases["dispatch"])
    try:
        return wait_for(lambda: (rows := _rows(engine, "SELECT id, deadline, warn_at FROM task "
                                                       "WHERE case_no = ANY(:n)", n=numbers))
                        and len(rows) == n and rows, timeout=60, message="every task")
    finally:
        engine.dispose()


def _rows(engine, sql, **params):
    with engine.connect() as conn:
        return conn.execute(text(sql), params).all()


def _engine_of(container):
    return next(d.engine for d in container.dependencies if isinstance(d, Database))


def test_restart_in_the_middle_of_a_sweep_fires_each_step_once_on_time(system, clock,
                                                                     monkeypatch):
    """Two instances sweep; at each step of the ladder the one that has started on the due
    tasks is killed half way and restarted. Its transaction dies with it, the other instance
    does the whole batch, and every warning and every rung is emitted once per task, with the
    clock at the step's instant (not before, not at a later step)."""
    rows = _accepted_tasks(system, MANY, "construction.dust")
    ours = {r.id for r in rows}
    due = {r.deadline for r in rows}
    warn = {r.warn_at for r in rows}
    assert len(due) == len(warn) == 1, "all due at once"
    due, warn_at = as_utc(due.pop()), as_utc(warn.pop())
    ladder = deadlines.escalation_schedule(policy().for_region("360323"), due)
    steps = [("task_warning", 0, warn_at)] + [("task_escalated", r.rung, r.at) for r in ladder]

    seen = []  # the engine (so the instance) of every check of one of our tasks

    def slow_check(uow, task, *rest):
        if task.id in ours:
            seen.append(uow.session.bind)
            eventlet.sleep(SLOW_CHECK_SECONDS)
        return real_check(uow, task, *rest)
    real_check = handlers._check
    monkeypatch.setattr(handlers, "_check", slow_check)

    dispatch_cls = system.containers["dispatch"].service_cls
    second = ServiceContainer(dispatch_cls, system.config)
    second.start()
    engine = create_engine(system.databases["dispatch"])

    def emitted(event_type, rung):
        found = [json.loads(p) if isinstance(p, str) else p for (p,) in _rows(
            engine, "SELECT payload FROM outbox WHERE event_type = :t", t=event_type)]
        return [p for p in found if p["task_id"] in ours and p.get("rung", 0) == rung]

    try:
        for event_type, rung, at in steps:
            # Not early: a second before the instant nothing fires.
            clock.set(at - timedelta(seconds=1))
            time.sleep(1.0)
            assert emitted(event_type, rung) == [], (event_type, rung)

            seen.clear()
            clock.set(at)
            wait_for(lambda: len(seen) >= 8, message="a sweep under way")
            sweeping = seen[-1]
            if sweeping is _engine_of(system.containers["dispatch"]):
                system.restart("dispatch")
            else:
                assert sweeping is _engine_of(second)
                second.kill()
                second = ServiceContainer(dispatch_cls, system.config)
                second.start()
            assert len(emitted(event_type, rung)) < MANY  # the killed batch left nothing

            wait_for(lambda: len(emitted(event_type, rung)) >= MANY, timeout=60,
                     message=f"{event_type} {rung} for every task")
            time.sleep(1.0)  # more sweeps: nothing more may come
            events = emitted(event_type, rung)
            assert sorted(p["task_id"] for p in events) == sorted(ours), "once per task"
            assert {p["occurred_at"] for p in events} == {at.isoformat()}, "on time"
        # Each task's own history: one warning, rungs 1, 2, 3, each at its instant.
        for task_id in list(ours)[:5]:
            history = _task(system, task_id)["history"]
            got = [(h["action"], h["detail"].get("rung"), as_utc(datetime.fromisoformat(h["at"])))
                   for h in history if h["action"] in ("warning", "escalated")]
            assert got == [("warning", None, warn_at)] + [
                ("escalated", r.rung, r.at) for r in ladder]
    finally:
        second.kill()
        engine.dispose()


@pytest.fixture
def fresh_dispatch():
    """An engine on a dispatch database of its own: a sweep there sees only this test's tasks."""
    dbs = create_databases("sw" + uuid.uuid4().hex[:6], ("dispatch",))
    engine = create_engine(dbs["dispatch"])
    yield engine
    engine.dispose()
    drop_databases(dbs)


def _add_task(conn, task_id: str, status: str, due: datetime, check: datetime) -> None:
    """An open task due at ``due``, unwarned, whose warning (and next check) is at ``check``."""
    conn.execute(text("""
        INSERT INTO task (id, case_no, region_code, grid_code, category, priority, status,
          assignee, unit, routed_by, has_complainant, started_at, deadline, warn_at,
          deadline_estimated, warned, rung, next_check_at, extensions, evidence, updated_at)
        VALUES (:id, :id, '360323', '360323101001', 'air.dust', 'normal', :status,
          '{"id": "gz-360323101001", "role": "grid_chief"}', 'x', 'grid_code', false,
          :due - interval '20 days', :due, :check, false, false, 0, :check, 0, '[]',
          :due - interval '20 days')"""),
                 {"id": task_id, "status": status, "due": due, "check": check})


def _sweep_once(engine, now: datetime) -> int:
    uow = UnitOfWork(sessionmaker(engine, expire_on_commit=False)(), "dispatch", now,
                     {"id": "sweep", "role": "system"})
    with uow:
        swept = handlers.sweep(uow, Policy.load(), synthetic_registry(4))
        uow.commit()
    return swept


def _statements_to_warn(engine, n: int, now: datetime) -> tuple[int, int, int]:
    """Warn ``n`` due tasks in one sweep; return (statements sent, warnings in the outbox,
    warning entries in the tasks' histories)."""
    tag = uuid.uuid4().hex[:6]
    with engine.begin() as conn:
        for i in range(n):
            _add_task(conn, f"{tag}{i}", "assigned", now + timedelta(days=4),
                      now - timedelta(minutes=1))
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        swept = _sweep_once(engine, now)
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert swept == n
    with engine.connect() as conn:
        warned = conn.execute(text("SELECT count(*) FROM outbox WHERE event_type = "
                                   "'task_warning' AND payload->>'task_id' LIKE :t"),
                              {"t": tag + "%"}).scalar()
        history = conn.execute(text("SELECT count(*) FROM task_history WHERE action = "
                                    "'warning' AND task_id LIKE :t"), {"t": tag + "%"}).scalar()
    return len(statements), warned, history


def test_a_sweep_costs_the_same_few_statements_however_many_tasks_are_due(fresh_dispatch):
    """Warning a task adds its history entry without loading its history: the statements of a
    sweep do not grow with the tasks it warns (they did, one load and one flush per task)."""
    now = as_utc(datetime(2026, 11, 23, 1, 0))
    few = _statements_to_warn(fresh_dispatch, 5, now)
    many = _statements_to_warn(fresh_dispatch, 60, now + timedelta(minutes=1))
    assert few[1:] == (5, 5) and many[1:] == (60, 60)
    assert many[0] == few[0], (few, many)


def test_the_sweep_rules_for_closed_far_overdue_and_not_yet_due_tasks(fresh_dispatch):
    """A closed task awaiting verification gets no ladder; a task far past its deadline gets
    every missed rung at once, in order; one not yet due is left alone."""
    now = as_utc(datetime(2026, 11, 23, 1, 0))
    rules = Policy.load().for_region("360323")
    far = now - timedelta(days=60)  # past every rung of the ladder
    with fresh_dispatch.begin() as conn:
        _add_task(conn, "closed", "closed", far, far)
        _add_task(conn, "overdue", "assigned", far, far)
        _add_task(conn, "later", "assigned", now + timedelta(days=9), now + timedelta(days=5))
    assert _sweep_once(fresh_dispatch, now) == 2
    with fresh_dispatch.connect() as conn:
        tasks = {r.id: r for r in conn.execute(text("SELECT * FROM task"))}
        steps = conn.execute(text("SELECT task_id, action, detail FROM task_history "
                                  "ORDER BY id")).all()
        sent = conn.execute(text("SELECT event_type, payload FROM outbox ORDER BY id")).all()
    ladder = deadlines.escalation_schedule(rules, far)
    assert (tasks["closed"].warned, tasks["closed"].rung, tasks["closed"].next_check_at) == (
        True, 0, None)
    assert tasks["overdue"].warned and tasks["overdue"].rung == ladder[-1].rung
    assert tasks["overdue"].next_check_at is None and tasks["overdue"].updated_at == now
    assert (tasks["later"].warned, tasks["later"].rung) == (False, 0)
    # Past due when first seen: no warning, only the rungs, for the open task alone.
    assert [(s.task_id, s.action, s.detail["rung"]) for s in steps] == [
        ("overdue", "escalated", r.rung) for r in ladder]
    assert [(e, (p if isinstance(p, dict) else json.loads(p))["rung"]) for e, p in sent] == [
        ("task_escalated", r.rung) for r in ladder]
