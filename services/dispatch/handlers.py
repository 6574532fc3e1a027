"""Command and event handlers of the dispatch service: assignment, closure, sign-off, extensions,
reassignment and the deadline sweep. Each takes a unit of work and plain data."""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import bindparam, select, text, update

from services.common import events
from services.common.authz import Principal, in_scope, require_scope
from services.common.config import Policy
from services.common.db import insert_rows
from services.common.errors import Conflict, NotFound, ValidationError
from services.common.unit_of_work import add_to
from services.common.workdays import as_utc
from services.dispatch import deadlines, joint_handlers
from services.dispatch.grids import GridRegistry
from services.dispatch.models import ExtensionRequest, Task, TaskHistory

OPEN = ("assigned", "accepted", "closed", "reopened")
SYSTEM = {"id": "dispatch", "role": "system"}


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _history(uow, task: Task, action: str, **detail) -> None:
    add_to(uow.session, task, "history", TaskHistory(**_entry(uow, task.id, action, detail)))
    task.updated_at = uow.now


def _fields(task: Task) -> dict:
    return {"task_id": task.id, "case_no": task.case_no, "region_code": task.region_code,
            "grid_code": task.grid_code, "category": task.category, "priority": task.priority}


def _get(uow, task_id: str) -> Task:
    query = select(Task).where(Task.id == task_id)
    if uow.session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    task = uow.session.scalars(query).first()
    if task is None:
        raise NotFound(f"no task {task_id}", code="task_not_found", field="task_id")
    return task


def _require_status(task: Task, allowed: tuple, action: str) -> None:
    if task.status not in allowed:
        raise Conflict(f"cannot {action} a task that is {task.status}", code="invalid_state",
                       field="status")


# --- routing ----------------------------------------------------------------------------------
def route(registry: GridRegistry, rules: dict, case: dict) -> dict:
    """Who gets the case: a unit by category, else the grid chief of the lowest grid found."""
    by_category = (rules.get("routing") or {}).get("by_category") or {}
    unit = by_category.get(case["category"])
    if unit:
        return {"assignee": {"id": unit["unit_id"], "name": unit["unit"], "role": "unit"},
                "unit": unit["unit"], "grid_code": case.get("grid_code"),
                "region_code": unit.get("region_code", case["region_code"]),
                "routed_by": "category"}
    grid, how = None, None
    if case.get("grid_code"):
        grid, how = registry.get(case["grid_code"]), "grid_code"
    if grid is None and case.get("lat") is not None:
        grid, how = registry.route_point(case["lon"], case["lat"]), "point"
    if grid is None and case.get("address"):
        grid, how = registry.route_address(case["address"]), "address"
    if grid is None and case.get("region_code"):
        grid, how = registry.get(case["region_code"]), "region"
    if grid is None:
        raise ValidationError("no grid is responsible for this location",
                              code="unroutable", field="location")
    chief = grid.chief or {}
    region = _county(registry, grid) or case["region_code"]
    return {"assignee": {"id": chief.get("id"), "name": chief.get("name"), "role": "grid_chief"},
            "unit": grid.name, "grid_code": grid.code, "region_code": region, "routed_by": how}


def _county(registry: GridRegistry, grid) -> str | None:
    """The six-digit county code of a grid (itself or its nearest such ancestor)."""
    return next((g.code for g in [grid, *registry.ancestors(grid.code)]
                 if g.code.isdigit() and len(g.code) == 6), None)


# --- assignment -------------------------------------------------------------------------------
def assign_case(uow, payload: dict, registry: GridRegistry, policy: Policy) -> Task | None:
    """A case was accepted: create its one task, routed and with a deadline (任务派遣)."""
    existing = _task_for_case(uow, payload["case_no"])
    if existing is not None:
        return existing  # one task per case, whatever happens upstream
    uow.actor = SYSTEM  # routing is the platform's act, not the intake operator's
    rules = policy.for_region(payload["region_code"])
    target = route(registry, rules, payload)
    due = deadlines.compute_deadline(rules, payload["category"], payload["priority"], uow.now)
    task = Task(id="T-" + uuid.uuid4().hex[:12], case_no=payload["case_no"],
                region_code=target["region_code"], grid_code=target["grid_code"],
                category=payload["category"], priority=payload["priority"], status="assigned",
                assignee=target["assignee"], unit=target["unit"], routed_by=target["routed_by"],
                has_complainant=bool(payload.get("has_complainant")),
                description=payload.get("description"), address=payload.get("address"),
                lat=payload.get("lat"), lon=payload.get("lon"), started_at=uow.now,
                deadline=due.due, warn_at=due.warn_at, deadline_estimated=due.estimated,
                next_check_at=due.warn_at, updated_at=uow.now)
    uow.session.add(task)
    _history(uow, task, "assigned", assignee=task.assignee, deadline=due.due.isoformat(),
             routed_by=task.routed_by)
    uow.emit(events.TASK_ASSIGNED, dict(_fields(task), assignee=task.assignee, unit=task.unit,
                                        deadline=due.due.isoformat(),
                                        warn_at=due.warn_at.isoformat(),
                                        routed_by=task.routed_by,
                                        channel=payload.get("channel")))
    # Partners of a linkage agreement see border and river cases at once (信息共享).
    joint_handlers.share_task(uow, task, registry, policy, payload.get("river"))
    return task


def _task_for_case(uow, case_no: str) -> Task | None:
    """The case's task: written, or created earlier in this unit of work (a batch). Without an
    autoflush, so that a batch's tasks and their history go in together at the commit."""
    pending = next((t for t in uow.session.new if isinstance(t, Task) and t.case_no == case_no),
                   None)
    if pending is not None:
        return pending
    with uow.session.no_autoflush:
        return uow.session.scalars(select(Task).where(Task.case_no == case_no)).first()


def reassign(uow, task_id: str, grid_code: str | None, assignee: dict | None, reason: str,
             principal: Principal, registry: GridRegistry) -> Task:
    task = _get(uow, task_id)
    require_scope(principal, task.region_code)
    _require_status(task, ("assigned", "accepted", "returned", "reopened"), "reassign")
    if not reason:
        raise ValidationError("a reason is required", code="missing_field", field="reason")
    previous = task.assignee
    if grid_code:
        grid = registry.get(grid_code)
        if grid is None:
            raise ValidationError(f"unknown grid {grid_code}", code="unknown_grid",
                                  field="grid_code")
        # The task belongs to the county of its grid (scope checks and the case follow it),
        # so only a dispatcher whose region holds that grid may move it there.
        region = _county(registry, grid) or task.region_code
        if not in_scope(principal, region):
            raise ValidationError(f"grid {grid_code} is outside your region",
                                  code="grid_out_of_scope", field="grid_code")
        chief = grid.chief or {}
        task.grid_code, task.unit, task.region_code = grid.code, grid.name, region
        task.assignee = {"id": chief.get("id"), "name": chief.get("name"), "role": "grid_chief"}
    elif assignee and assignee.get("id"):
        task.assignee = {"id": str(assignee["id"]), "name": assignee.get("name"),
                         "role": assignee.get("role", "grid_worker")}
    else:
        raise ValidationError("give grid_code or assignee", code="missing_field",
                              field="grid_code")
    task.status = "assigned"
    _history(uow, task, "reassigned", previous=previous, assignee=task.assignee, reason=reason)
    uow.emit(events.TASK_REASSIGNED, dict(_fields(task), assignee=task.assignee,
                                          previous_assignee=previous, reason=reason,
                                          deadline=task.deadline.isoformat()))
    return task


def _require_assignee(task: Task, principal: Principal) -> None:
    if principal.role in ("dispatcher", "supervisor", "admin"):
        return
    if principal.id != task.assignee.get("id"):
        raise NotFound(f"no task {task.id}", code="task_not_found", field="task_id")


def acknowledge(uow, task_id: str, principal: Principal) -> Task:
    """The assignee signs for the task (签收): it is now being worked on."""
    task = _get(uow, task_id)
    require_scope(principal, task.region_code)
    _require_assignee(task, principal)
    _require_status(task, ("assigned", "reopened"), "acknowledge")
    task.status = "accepted"
    _history(uow, task, "acknowledged")
    uow.emit(events.TASK_ACKNOWLEDGED, dict(_fields(task), assignee=task.assignee,
                                            deadline=_aware(task.deadline).isoformat()))
    return task


def send_back(uow, task_id: str, reason: str, principal: Principal) -> Task:
    """The assignee returns a wrongly routed task (退回) for the dispatcher to reassign."""
    task = _get(uow, task_id)
    require_scope(principal, task.region_code)
    _require_assignee(task, principal)
    _require_status(task, ("assigned", "accepted"), "send back")
    if not reason:
        raise ValidationError("a reason is required", code="missing_field", field="reason")
    task.status = "returned"
    _history(uow, task, "returned", reason=reason)
    uow.emit(events.TASK_RETURNED, dict(_fields(task), reason=reason))
    return task


def close(uow, task_id: str, result: str, founded, evidence: list, principal: Principal) -> Task:
    """The assignee records the result and closes (办结); a supervisor then verifies."""
    task = _get(uow, task_id)
    require_scope(principal, task.region_code)
    _require_assignee(task, principal)
    _require_status(task, ("assigned", "accepted", "reopened"), "close")
    if not isinstance(result, str) or not result.strip():
        raise ValidationError("result is required", code="missing_field", field="result")
    if len(result) > 4000:
        raise ValidationError("result is longer than 4000 characters", code="too_long",
                              field="result")
    if not isinstance(founded, bool):
        raise ValidationError("founded must be true or false", code="invalid_type",
                              field="founded")
    if not isinstance(evidence, list) or len(evidence) > 9 or not all(
            isinstance(e, str) and len(e) <= 500 for e in evidence):
        raise ValidationError("evidence must be a list of at most 9 references",
                              code="invalid_value", field="evidence")
    task.status = "closed"
    task.result, task.founded, task.evidence = result.strip(), founded, evidence
    task.closed_at = uow.now
    on_time = uow.now <= _aware(task.deadline)
    _history(uow, task, "closed", result=task.result, founded=founded, on_time=on_time)
    uow.emit(events.TASK_CLOSED, dict(_fields(task), result=task.result, founded=founded,
                                      closed_at=uow.now.isoformat(), on_time=on_time))
    return task


def verify(uow, task_id: str, approved, note: str | None, principal: Principal) -> Task:
    """A supervisor signs the task off (销号) or sends it back to the assignee."""
    task = _get(uow, task_id)
    require_scope(principal, task.region_code)
    _require_status(task, ("closed",), "verify")
    if not isinstance(approved, bool):
        raise ValidationError("approved must be true or false", code="invalid_type",
                              field="approved")
    if approved:
        task.status = "verified"
        task.verified_at = uow.now
        task.next_check_at = None
        on_time = _aware(task.closed_at) <= _aware(task.deadline)
        _history(uow, task, "verified", note=note)
        uow.emit(events.TASK_VERIFIED, dict(_fields(task), result=task.result,
                                            founded=task.founded,
                                            closed_at=task.closed_at.isoformat(),
                                            on_time=on_time, verified_at=uow.now.isoformat()))
    else:
        if not note:
            raise ValidationError("a note is required when sending back", code="missing_field",
                                  field="note")
        task.status = "assigned"
        _history(uow, task, "sent_back", note=note)
        uow.emit(events.TASK_SENT_BACK, dict(_fields(task), assignee=task.assignee, note=note))
    return task


def reopen(uow, case_no: str, reason: str, policy: Policy) -> Task | None:
    """A poor rating or a rebound (反弹) reopens signed-off work with a fresh time limit."""
    task = uow.session.scalars(select(Task).where(Task.case_no == case_no)).first()
    if task is None or task.status != "verified":
        return None
    rules = policy.for_region(task.region_code)
    due = deadlines.compute_deadline(rules, task.category, task.priority, uow.now)
    task.status, task.started_at = "reopened", uow.now
    task.deadline, task.warn_at, task.deadline_estimated = due.due, due.warn_at, due.estimated
    task.warned, task.rung, task.next_check_at = False, 0, due.warn_at
    task.verified_at = None
    _history(uow, task, "reopened", reason=reason, deadline=due.due.isoformat())
    uow.emit(events.TASK_REOPENED, dict(_fields(task), assignee=task.assignee, reason=reason,
                                        deadline=due.due.isoformat()))
    return task


def recheck(uow, task_id: str, outcome: str, note: str | None, principal: Principal,
            policy: Policy) -> Task:
    """A supervisor re-checks signed-off work (防止反弹) within ``recheck.within`` of the
    sign-off: ``held`` is recorded; ``rebound`` reopens the task with a fresh time limit."""
    task = _get(uow, task_id)
    require_scope(principal, task.region_code)
    _require_status(task, ("verified",), "re-check")
    if outcome not in ("held", "rebound"):
        raise ValidationError("outcome must be held or rebound", code="invalid_value",
                              field="outcome")
    if outcome == "rebound" and not (isinstance(note, str) and note.strip()):
        raise ValidationError("say what came back", code="missing_field", field="note")
    rules = policy.for_region(task.region_code)
    window = (rules.get("recheck") or {}).get("within") or {"days": 90}
    verified_at = _aware(task.verified_at)
    if uow.now > deadlines.add_limit(rules, verified_at, window):
        raise Conflict("the re-check window of this sign-off has passed",
                       code="recheck_window_closed", field="task_id")
    note = note.strip() if isinstance(note, str) and note.strip() else None
    _history(uow, task, "rechecked", outcome=outcome, note=note)
    uow.emit(events.TASK_RECHECKED, dict(_fields(task), outcome=outcome, note=note,
                                         verified_at=verified_at.isoformat()))
    if outcome == "rebound":
        reopen(uow, task.case_no, "rebound", policy)
    return task


# --- extensions (延期) -------------------------------------------------------------------------
def request_extension(uow, task_id: str, days, reason: str, principal: Principal,
                      policy: Policy) -> ExtensionRequest:
    task = _get(uow, task_id)
    require_scope(principal, task.region_code)
    _require_assignee(task, principal)
    _require_status(task, ("assigned", "accepted", "reopened"), "extend")
    rules = policy.for_region(task.region_code)["extension"]
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= rules["max_days"]:
        raise ValidationError(f"days must be 1..{rules['max_days']}", code="out_of_range",
                              field="days")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("a reason is required", code="missing_field", field="reason")
    if task.extensions >= rules["max_count"]:
        raise Conflict("the extension limit is reached", code="extension_limit", field="days")
    pending = uow.session.scalars(select(ExtensionRequest).where(
        ExtensionRequest.task_id == task.id, ExtensionRequest.status == "pending")).first()
    if pending is not None:
        raise Conflict("an extension request is already pending", code="extension_pending",
                       field="days")
    req = ExtensionRequest(task_id=task.id, days=days, reason=reason.strip(),
                           requested_by=principal.id, requested_at=uow.now)
    uow.session.add(req)
    _history(uow, task, "extension_requested", days=days, reason=req.reason)
    uow.emit(events.TASK_EXTENSION_REQUESTED, dict(_fields(task), days=days, reason=req.reason,
                                                   deadline=_aware(task.deadline).isoformat()))
    return req


def decide_extension(uow, task_id: str, approve, note: str | None, principal: Principal,
                     policy: Policy) -> Task:
    task = _get(uow, task_id)
    require_scope(principal, task.region_code)
    req = uow.session.scalars(select(ExtensionRequest).where(
        ExtensionRequest.task_id == task.id, ExtensionRequest.status == "pending")).first()
    if req is None:
        raise Conflict("no pending extension request", code="no_pending_extension",
                       field="task_id")
    if not isinstance(approve, bool):
        raise ValidationError("approve must be true or false", code="invalid_type",
                              field="approve")
    req.decided_by, req.decided_at = principal.id, uow.now
    if not approve:
        req.status = "refused"
        _history(uow, task, "extension_refused", note=note, days=req.days, reason=req.reason)
        uow.emit(events.TASK_EXTENSION_REFUSED, dict(
            _fields(task), assignee=task.assignee, days=req.days, reason=req.reason, note=note,
            deadline=_aware(task.deadline).isoformat()))
        return task
    rules = policy.for_region(task.region_code)
    previous = _aware(task.deadline)
    new_due = deadlines.extend(rules, previous, req.days, req.reason, task.extensions)
    req.status = "approved"
    task.extensions += 1
    task.deadline = new_due
    task.rung = 0
    task.next_check_at = new_due if task.warned else _aware(task.warn_at)
    _history(uow, task, "extended", previous=previous.isoformat(), deadline=new_due.isoformat(),
             reason=req.reason)
    uow.emit(events.TASK_EXTENDED, dict(_fields(task), deadline=new_due.isoformat(),
                                        previous_deadline=previous.isoformat(),
                                        reason=req.reason,
                                        has_complainant=task.has_complainant))
    return task


# --- the deadline sweep -----------------------------------------------------------------------
_SWEPT = ("id", "case_no", "region_code", "grid_code", "category", "priority", "status",
          "assignee", "deadline", "warn_at", "warned", "rung", "updated_at")


def sweep(uow, policy: Policy, registry: GridRegistry, limit: int = 500) -> int:
    """Warn and escalate tasks whose next check is due. Each warning and each rung fires once:
    the rows are locked (SKIP LOCKED) and their state changes in the same transaction as the
    outbox events, so several instances never double up.

    The rules are ``deadlines.next_actions``; this is its adapter, in Core statements (one
    SELECT, one INSERT of history, one UPDATE): a sweep after a long weekend may warn hundreds
    of tasks at once, and ORM objects for each were most of its time."""
    t = Task.__table__
    query = (select(*(t.c[name] for name in _SWEPT))
             .where(t.c.next_check_at <= uow.now, t.c.status.in_(OPEN))
             .order_by(t.c.next_check_at).limit(limit))
    postgres = uow.session.bind.dialect.name == "postgresql"
    if postgres:
        query = query.with_for_update(skip_locked=True)
    rows = uow.session.execute(query).all()
    history: list[dict] = []
    # One ladder per region for the whole sweep: it counts working days once per due date.
    ladders: dict[str, deadlines.Ladder] = {}
    changes = [_check(uow, task, policy.for_region(task.region_code), registry, history,
                      ladders) for task in rows]
    insert_rows(uow.session, TaskHistory.__table__, history)
    if changes:
        _write_sweep(uow.session, changes, postgres)
    return len(rows)


def _check(uow, task, rules: dict, registry: GridRegistry, history: list[dict],
           ladders: dict) -> dict:
    """Emit what one swept task (a row) calls for now, add its history entries to ``history``
    and return the changes to its row. ``ladders`` keeps the sweep's ladder of each region."""
    due = _aware(task.deadline)
    # Closed and awaiting verification: the assignee met the deadline or not, no ladder.
    closed = task.status == "closed"
    if closed:
        schedule = []
    else:
        if task.region_code not in ladders:
            ladders[task.region_code] = deadlines.Ladder(rules)
        schedule = ladders[task.region_code].at(due)
    decision = deadlines.next_actions(deadlines.TaskState(
        due=due, warn_at=_aware(task.warn_at), warned=task.warned, rung=task.rung,
        schedule=schedule), uow.now)
    fields = _fields(task)
    upward = None  # grid codes above the task's, looked up once if a rung fires
    for action in decision.actions:
        if action.kind == "warning":
            detail = {"deadline": due.isoformat()}
            uow.emit(events.TASK_WARNING, dict(fields, assignee=task.assignee, **detail))
            history.append(_entry(uow, task.id, "warning", detail))
        else:
            upward = upward or _upward_chain(registry, task.grid_code, task.region_code)
            detail = {"rung": action.rung, "rung_name": action.name,
                      "to_grid_code": upward[min(action.rung - 1, len(upward) - 1)]}
            uow.emit(events.TASK_ESCALATED, dict(fields, deadline=due.isoformat(), **detail))
            history.append(_entry(uow, task.id, "escalated", detail))
    return {"b_id": task.id, "b_warned": decision.warned, "b_rung": decision.rung,
            "b_next": None if closed else decision.next_check_at,
            "b_updated": uow.now if decision.actions else _aware(task.updated_at)}


def _entry(uow, task_id: str, action: str, detail: dict) -> dict:
    """A task history row: what happened now, by the unit of work's actor."""
    actor = uow.actor or {}
    return {"task_id": task_id, "at": uow.now, "action": action, "actor_id": actor.get("id"),
            "actor_role": actor.get("role"), "detail": detail}


def _write_sweep(session, changes: list[dict], postgres: bool) -> None:
    t = Task.__table__
    if not postgres:
        session.execute(update(t).where(t.c.id == bindparam("b_id")).values(
            warned=bindparam("b_warned"), rung=bindparam("b_rung"),
            next_check_at=bindparam("b_next"), updated_at=bindparam("b_updated")), changes)
        return
    # One UPDATE from arrays, a fixed statement PostgreSQL plans once: a statement per row,
    # even batched, costs a plan each, and a VALUES list compiles anew for every sweep.
    session.execute(text("""
        UPDATE task SET warned = v.warned, rung = v.rung, next_check_at = v.next_check_at,
                        updated_at = v.updated_at
        FROM unnest(CAST(:ids AS text[]), CAST(:warned AS boolean[]), CAST(:rung AS int[]),
                    CAST(:next AS timestamptz[]), CAST(:updated AS timestamptz[]))
             AS v(id, warned, rung, next_check_at, updated_at)
        WHERE task.id = v.id"""), {
        "ids": [c["b_id"] for c in changes], "warned": [c["b_warned"] for c in changes],
        "rung": [c["b_rung"] for c in changes], "next": [c["b_next"] for c in changes],
        "updated": [c["b_updated"] for c in changes]})


def _upward_chain(registry: GridRegistry, grid_code: str | None, region_code: str) -> list[str]:
    """Grid codes one, two, three... levels above the task's grid: each rung goes one up."""
    code = grid_code or region_code
    if registry.get(code) is None:
        return [region_code]
    return [g.code for g in registry.ancestors(code)] or [code]


# --- views ------------------------------------------------------------------------------------
def task_view(task: Task, principal: Principal | None = None) -> dict:
    return {
        "task_id": task.id, "case_no": task.case_no, "status": task.status,
        "region_code": task.region_code, "grid_code": task.grid_code,
        "category": task.category, "priority": task.priority, "assignee": task.assignee,
        "unit": task.unit, "routed_by": task.routed_by, "description": task.description,
        "address": task.address, "lat": task.lat, "lon": task.lon,
        "deadline": _aware(task.deadline).isoformat(), "warn_at": _aware(task.warn_at).isoformat(),
        "deadline_estimated": task.deadline_estimated, "warned": task.warned, "rung": task.rung,
        "extensions": task.extensions, "result": task.result, "founded": task.founded,
        "evidence": task.evidence,
        "closed_at": _aware(task.closed_at).isoformat() if task.closed_at else None,
        "verified_at": _aware(task.verified_at).isoformat() if task.verified_at else None,
        "history": [{"at": _aware(h.at).isoformat(), "action": h.action, "actor_id": h.actor_id,
                     "actor_role": h.actor_role, "detail": h.detail} for h in task.history],
    }


def visible(task: Task, principal: Principal) -> bool:
    if principal.role in ("public", "liaison") or not in_scope(principal, task.region_code):
        return False
    if principal.role == "grid_worker":
        return task.assignee.get("id") == principal.id
    return True
