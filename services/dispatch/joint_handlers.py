"""Cross-region joint enforcement (左右联动) in the dispatch service: automatic sharing of cases
with the partners of a linkage agreement, the partners' read-only views (logged), transfers and
help requests between parties, the rotating-host roster and the linkage evaluation.

The rules are ``joint.py`` (pure); this module loads and stores. A partner sees the task's
progress only: never the complainant (dispatch never holds one) nor the free-text description,
which may quote the complainant (the same rule as ``joint.AGENDA_KEYS``).
"""
from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, time, timedelta

from sqlalchemy import or_, select

from services.common import events, rivers, workdays
from services.common.authz import Principal, in_scope, require_scope
from services.common.config import Policy
from services.common.errors import Conflict, NotFound, ValidationError, parse_date
from services.common.regions import prefix, within
from services.dispatch import handlers, ical, joint
from services.dispatch.grids import GridRegistry
from services.dispatch.models import CrossRegionAccess, JointAgreement, JointCaseClosure, \
    JointFinding, JointMeeting, JointOperation, JointSwap, JointTransfer, SharedCase, Task

log = logging.getLogger(__name__)

# Task statuses the evaluation counts as finished (joint.yaml ``case_statuses.finished``).
_FINISHED_AS = {"verified": "signed_off", "closed": "closed"}
MAX_ROSTER_YEARS = 20
ASSIGNABLE = ("assigned", "accepted", "returned", "reopened")


# --- agreements -------------------------------------------------------------------------------
def agreement_to_dict(a: joint.Agreement) -> dict:
    """The YAML/JSON shape ``joint.Agreement.from_dict`` reads."""
    return {
        "id": a.id, "name": a.name, "period": a.period, "start": a.start.isoformat(),
        "end": a.end.isoformat() if a.end else None, "host_order": list(a.host_order),
        "scope": {"categories": list(a.scope.categories), "buffer_km": a.scope.buffer_km,
                  "rivers": list(a.scope.rivers),
                  "river_parties": {k: list(v) for k, v in a.scope.river_parties.items()}},
        "parties": [{"region_code": p.region_code, "name": p.name,
                     "joined": p.joined.isoformat(),
                     "left": p.left.isoformat() if p.left else None,
                     "liaisons": [dict(x) for x in p.liaisons]} for p in a.parties],
    }


def save_agreements(session, agreements: list[joint.Agreement], now: datetime) -> int:
    """Insert or replace agreements (the seed and any later import)."""
    for a in agreements:
        row = session.get(JointAgreement, a.id) or JointAgreement(id=a.id)
        row.name, row.data, row.updated_at = a.name, agreement_to_dict(a), now
        session.add(row)
    return len(agreements)


def _agreements(session) -> list[joint.Agreement]:
    return [joint.Agreement.from_dict(r.data)
            for r in session.scalars(select(JointAgreement).order_by(JointAgreement.id))]


def _party_of_scope(agreement: joint.Agreement, principal: Principal) -> bool:
    """Is the principal staff of a party (its scope inside a party, or a party inside it)?"""
    if principal.scope == "*":
        return True
    return any(within(principal.scope, p.region_code) or within(p.region_code, principal.scope)
               for p in agreement.parties)


def _agreement(session, agreement_id: str, principal: Principal) -> joint.Agreement:
    row = session.get(JointAgreement, agreement_id)
    agreement = joint.Agreement.from_dict(row.data) if row is not None else None
    if agreement is None or not _party_of_scope(agreement, principal):
        raise NotFound(f"no agreement {agreement_id}", code="agreement_not_found",
                       field="agreement_id")
    return agreement


def _today(uow, rules: dict | None = None) -> date:
    tz = (rules or {}).get("timezone") or workdays.DEFAULT_TZ
    return uow.now.astimezone(workdays.zone_of(tz)).date()


# --- automatic sharing (信息共享) ---------------------------------------------------------------
def _boundaries(registry: GridRegistry, agreement: joint.Agreement) -> dict:
    out = {}
    for p in agreement.parties:
        grid = registry.get(p.region_code)
        if grid is not None and grid.boundary is not None:
            out[p.region_code] = grid.boundary
    return out


def _reason(agreement: joint.Agreement, case: dict, own: str, partner: str) -> str:
    river = joint._river_key(case.get("river"))
    for name in agreement.scope.rivers:
        members = agreement.scope.river_parties.get(name)
        if river and joint._river_key(name) == river and (
                members is None or (own in members and partner in members)):
            return "river"
    return "border"


def share_task(uow, task: Task, registry: GridRegistry, policy: Policy,
               river: str | None = None) -> list[SharedCase]:
    """Share a newly assigned task with every partner that must see it, in the same unit of
    work as the assignment (so the ``case_shared`` events leave through the same outbox).
    A case that names no river is placed on one by its location (``rivers.name_at``)."""
    # Its reads (agreements, findings, earlier shares of this case) cannot see anything this
    # unit of work has yet to write: no autoflush, so a batch's tasks are written together.
    with uow.session.no_autoflush:
        return _share_task(uow, task, registry, policy, river)


def _share_task(uow, task: Task, registry: GridRegistry, policy: Policy,
                river: str | None) -> list[SharedCase]:
    river = river or rivers.name_at(task.lon, task.lat)
    case = {"region_code": task.region_code, "category": task.category, "lat": task.lat,
            "lon": task.lon, "river": river}
    on = _today(uow, policy.for_region(task.region_code))
    shared = []
    for agreement in _agreements(uow.session):
        own = joint.party_for(agreement, task.region_code)
        if own is None:
            continue
        try:
            partners = joint.sharing_partners(agreement, case, _boundaries(registry, agreement),
                                              on=on)
        except ValidationError:
            # A missing boundary must not stop the assignment itself; say so loudly.
            log.error("cannot share %s under %s: boundaries missing", task.case_no,
                      agreement.id, exc_info=True)
            continue
        for partner in partners:
            shared.append(_share(uow, agreement.id, task, partner,
                                 _reason(agreement, case, own.region_code, partner)))
    # A case found in a joint operation is followed by the finding officer's party too.
    for finding in uow.session.scalars(select(JointFinding).where(
            JointFinding.case_no == task.case_no)):
        shared.append(share_finding(uow, finding, task))
    return [s for s in shared if s is not None]


def share_finding(uow, finding: JointFinding, task: Task) -> SharedCase | None:
    """Share a case found in a joint operation with the party of the officer who found it."""
    row = uow.session.get(JointAgreement, finding.agreement_id)
    if row is None:
        return None
    agreement = joint.Agreement.from_dict(row.data)
    officer, own = (joint.party_for(agreement, finding.officer_region),
                    joint.party_for(agreement, task.region_code))
    if officer is None or officer is own:
        return None
    return _share(uow, agreement.id, task, officer.region_code, "operation")


def _share(uow, agreement_id: str, task: Task, partner: str, reason: str) -> SharedCase | None:
    key = (agreement_id, task.case_no, partner)
    if any(isinstance(s, SharedCase) and (s.agreement_id, s.case_no, s.partner_region) == key
           for s in uow.session.new):
        return None  # shared already in this unit of work (by the agreement and a finding)
    exists = uow.session.scalars(select(SharedCase).where(
        SharedCase.agreement_id == agreement_id, SharedCase.case_no == task.case_no,
        SharedCase.partner_region == partner)).first()
    if exists is not None:
        return None
    row = SharedCase(agreement_id=agreement_id, case_no=task.case_no, task_id=task.id,
                     region_code=task.region_code, partner_region=partner, reason=reason,
                     shared_at=uow.now)
    uow.session.add(row)
    uow.emit(events.CASE_SHARED, dict(handlers._fields(task), partner_region=partner,
                                      agreement_id=agreement_id, reason=reason))
    return row


# --- the partners' views ----------------------------------------------------------------------
def shared_view(task: Task, rows: list[SharedCase]) -> dict:
    """What a partner sees of a shared case: progress only. No description (it may quote the
    complainant), no assignee contact, never anything of the complainant."""
    aware = handlers._aware
    return {
        "case_no": task.case_no, "task_id": task.id, "region_code": task.region_code,
        "grid_code": task.grid_code, "unit": task.unit, "category": task.category,
        "priority": task.priority, "status": task.status, "address": task.address,
        "lat": task.lat, "lon": task.lon, "deadline": aware(task.deadline).isoformat(),
        "result": task.result, "founded": task.founded,
        "closed_at": aware(task.closed_at).isoformat() if task.closed_at else None,
        "verified_at": aware(task.verified_at).isoformat() if task.verified_at else None,
        "shared": [{"agreement_id": r.agreement_id, "partner_region": r.partner_region,
                    "reason": r.reason, "shared_at": aware(r.shared_at).isoformat()}
                   for r in rows],
    }


def _shared_with(principal: Principal):
    """SharedCase rows visible to the principal: shared with a region inside its scope."""
    query = select(SharedCase)
    if principal.scope != "*":
        query = query.where(or_(SharedCase.partner_region.startswith(prefix(principal.scope)),
                                # a county officer sees what was shared with its city party
                                SharedCase.partner_region.in_(_enclosing(principal.scope))))
    return query


def _enclosing(code: str) -> list[str]:
    """The province, city (and county) codes that contain ``code``: a county's staff see what
    was shared with its city's party (e.g. 湘赣边, where 萍乡市 is the party)."""
    digits = prefix(code)
    out = []
    for n in (2, 4, 6):
        if len(digits) > n:
            out.append(digits[:n].ljust(6, "0"))
    return out


def _log_access(uow, principal: Principal, task: Task, action: str) -> None:
    if in_scope(principal, task.region_code):
        return  # not a cross-region read
    uow.session.add(CrossRegionAccess(at=uow.now, actor_id=principal.id,
                                      actor_role=principal.role, actor_region=principal.scope,
                                      case_no=task.case_no, region_code=task.region_code,
                                      action=action))


def list_shared(uow, filters: dict, principal: Principal) -> list[dict]:
    """Cases shared with the caller's region, the soonest due first; each read is logged."""
    rows = uow.session.scalars(_shared_with(principal).order_by(SharedCase.id)).all()
    by_case: dict[str, list[SharedCase]] = {}
    for r in rows:
        by_case.setdefault(r.case_no, []).append(r)
    if not by_case:
        return []
    tasks = uow.session.scalars(select(Task).where(Task.case_no.in_(list(by_case)))).all()
    status = filters.get("status")
    tasks = [t for t in tasks if not status or status == "all" or t.status == status]
    tasks.sort(key=lambda t: (handlers._aware(t.deadline), t.case_no))
    try:
        limit = min(max(int(filters.get("limit", 100)), 1), 1000)
    except (TypeError, ValueError):
        raise ValidationError("limit must be an integer", code="invalid_value", field="limit")
    out = []
    for task in tasks[:limit]:
        _log_access(uow, principal, task, "list")
        out.append(shared_view(task, by_case[task.case_no]))
    uow.commit()
    return out


def get_shared(uow, case_no: str, principal: Principal) -> dict:
    rows = uow.session.scalars(_shared_with(principal).where(
        SharedCase.case_no == case_no)).all()
    task = uow.session.scalars(select(Task).where(Task.case_no == case_no)).first()
    if not rows or task is None:
        raise NotFound(f"no shared case {case_no}", code="case_not_found", field="case_no")
    _log_access(uow, principal, task, "read")
    view = shared_view(task, rows)
    uow.commit()
    return view


def access_log(uow, filters: dict, principal: Principal) -> list[dict]:
    """Cross-region reads of records of the caller's region (admin: all), newest first."""
    query = select(CrossRegionAccess)
    if principal.scope != "*":
        query = query.where(CrossRegionAccess.region_code.startswith(prefix(principal.scope)))
    if filters.get("case_no"):
        query = query.where(CrossRegionAccess.case_no == str(filters["case_no"]))
    try:
        limit = min(max(int(filters.get("limit", 200)), 1), 1000)
    except (TypeError, ValueError):
        raise ValidationError("limit must be an integer", code="invalid_value", field="limit")
    rows = uow.session.scalars(query.order_by(CrossRegionAccess.id.desc()).limit(limit)).all()
    return [{"at": handlers._aware(r.at).isoformat(), "actor_id": r.actor_id,
             "actor_role": r.actor_role, "actor_region": r.actor_region, "case_no": r.case_no,
             "region_code": r.region_code, "action": r.action} for r in rows]


# --- transfers (案件移交) and help requests (协助调查取证) ----------------------------------------
def _domain_transfer(row: JointTransfer) -> joint.Transfer:
    a = handlers._aware
    return joint.Transfer(id=row.id, case_no=row.case_no, from_region=row.from_region,
                          to_region=row.to_region, requested_at=a(row.requested_at),
                          due=a(row.due), kind=row.kind, expires_at=a(row.expires_at),
                          state=row.state, answered_at=a(row.answered_at),
                          reason=row.answer_reason)


def transfer_view(row: JointTransfer) -> dict:
    a = handlers._aware
    iso = (lambda v: a(v).isoformat() if v else None)
    return {"transfer_id": row.id, "agreement_id": row.agreement_id, "case_no": row.case_no,
            "task_id": row.task_id, "kind": row.kind, "from_region": row.from_region,
            "to_region": row.to_region, "reason": row.reason, "state": row.state,
            "requested_by": row.requested_by, "requested_at": iso(row.requested_at),
            "due": iso(row.due), "expires_at": iso(row.expires_at),
            "answered_by": row.answered_by, "answered_at": iso(row.answered_at),
            "answer_reason": row.answer_reason,
            "on_time": joint.is_answered_on_time(_domain_transfer(row))}


def _transfer_event(row: JointTransfer, task: Task) -> dict:
    return dict(handlers._fields(task), transfer_id=row.id, agreement_id=row.agreement_id,
                kind=row.kind, from_region=row.from_region, to_region=row.to_region)


def request_transfer(uow, cmd: dict, principal: Principal, registry: GridRegistry,
                     policy: Policy) -> dict:
    """The handling county hands a case to a partner (移交) or asks it for help (协助)."""
    task = uow.session.scalars(select(Task).where(Task.case_no == cmd["case_no"])).first()
    if task is None:
        raise NotFound(f"no case {cmd['case_no']}", code="case_not_found", field="case_no")
    require_scope(principal, task.region_code)
    kind, to_region = cmd.get("kind") or "transfer", cmd["to_region"]
    reason = (cmd.get("reason") or "").strip()
    if not reason:
        raise ValidationError("a reason is required", code="missing_field", field="reason")
    if to_region == task.region_code:
        raise ValidationError("the case is already handled there", code="bad_transfer",
                              field="to_region")
    rules = policy.for_region(task.region_code)
    on = _today(uow, rules)
    case = {"region_code": task.region_code, "category": task.category}
    agreement = next((a for a in _agreements(uow.session)
                      if joint.in_scope(a, case, on=on)
                      and (p := joint.party_for(a, to_region)) is not None and p.active_on(on)
                      and p is not joint.party_for(a, task.region_code)), None)
    if agreement is None:
        raise ValidationError(f"no agreement in force covers this case and {to_region}",
                              code="no_agreement", field="to_region")
    grid = registry.get(to_region)
    if kind == "transfer" and (grid is None or handlers._county(registry, grid) != to_region):
        raise ValidationError(f"{to_region} is not a county with a grid to take the case",
                              code="unknown_grid", field="to_region")
    if kind == "transfer":
        handlers._require_status(task, ASSIGNABLE, "transfer")
    pending = uow.session.scalars(select(JointTransfer).where(
        JointTransfer.case_no == task.case_no, JointTransfer.state == "requested",
        JointTransfer.kind == kind)).first()
    if pending is not None:
        raise Conflict(f"a {kind} of this case is already waiting for an answer",
                       code="transfer_pending", field="case_no")
    due, expires = joint.answer_deadlines(kind, uow.now, policy=rules)
    row = JointTransfer(id="X-" + uuid.uuid4().hex[:12], agreement_id=agreement.id,
                        case_no=task.case_no, task_id=task.id, kind=kind,
                        from_region=task.region_code, to_region=to_region, reason=reason,
                        state="requested", requested_by=principal.id, requested_at=uow.now,
                        due=due, expires_at=expires)
    _domain_transfer(row)  # the domain's own checks (kinds, regions, deadlines)
    uow.session.add(row)
    # The receiver must see what it is asked to take or help with.
    _share(uow, agreement.id, task, to_region, "transfer")
    handlers._history(uow, task, f"joint_{kind}_requested", transfer_id=row.id,
                      to_region=to_region, reason=reason, due=due.isoformat())
    uow.emit(events.JOINT_TRANSFER_REQUESTED, dict(_transfer_event(row, task), reason=reason,
                                                   due=due.isoformat()))
    return transfer_view(row)


def answer_transfer(uow, transfer_id: str, accept, reason: str | None, principal: Principal,
                    registry: GridRegistry) -> dict:
    """The receiving party accepts (接收) or refuses (退回, with a reason). An accepted
    transfer moves the task to the grid of the receiving county; the sender is told either way
    (``joint_transfer_answered``)."""
    query = select(JointTransfer).where(JointTransfer.id == transfer_id)
    if uow.session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    row = uow.session.scalars(query).first()
    if row is None or principal.role == "public" or not in_scope(principal, row.to_region):
        raise NotFound(f"no transfer {transfer_id}", code="transfer_not_found",
                       field="transfer_id")
    if not isinstance(accept, bool):
        raise ValidationError("accept must be true or false", code="invalid_type",
                              field="accept")
    answered = joint.answer(_domain_transfer(row), accept, reason, uow.now)
    task = handlers._get(uow, row.task_id)
    if accept and row.kind == "transfer":
        handlers._require_status(task, ASSIGNABLE, "transfer")
        grid = registry.get(row.to_region)
        if grid is None:
            raise Conflict(f"no grid for {row.to_region}", code="unknown_grid",
                           field="to_region")
        previous = task.assignee
        chief = grid.chief or {}
        task.grid_code, task.unit, task.region_code = grid.code, grid.name, row.to_region
        task.assignee = {"id": chief.get("id"), "name": chief.get("name"), "role": "grid_chief"}
        task.status = "assigned"
        note = f"移交至{grid.name}：{row.reason}"
        handlers._history(uow, task, "reassigned", previous=previous, assignee=task.assignee,
                          reason=note, transfer_id=row.id)
        uow.emit(events.TASK_REASSIGNED, dict(handlers._fields(task), assignee=task.assignee,
                                              previous_assignee=previous, reason=note,
                                              deadline=handlers._aware(
                                                  task.deadline).isoformat()))
        # The sender keeps following the case it handed over, as a partner now.
        _share(uow, row.agreement_id, task, row.from_region, "transfer")
    else:
        handlers._history(uow, task, f"joint_{row.kind}_{answered.state}", transfer_id=row.id,
                          reason=answered.reason)
    row.state, row.answered_at = answered.state, answered.answered_at
    row.answer_reason, row.answered_by = answered.reason, principal.id
    uow.emit(events.JOINT_TRANSFER_ANSWERED, dict(
        _transfer_event(row, task), state=row.state, reason=row.answer_reason,
        on_time=joint.is_answered_on_time(answered),
        requested_at=handlers._aware(row.requested_at).isoformat()))
    return transfer_view(row)


def list_transfers(uow, filters: dict, principal: Principal) -> list[dict]:
    """Transfers sent or received by the caller's region, newest first."""
    query = select(JointTransfer)
    if principal.scope != "*":
        p = prefix(principal.scope)
        query = query.where(or_(JointTransfer.from_region.startswith(p),
                                JointTransfer.to_region.startswith(p)))
    if filters.get("state"):
        query = query.where(JointTransfer.state == str(filters["state"]))
    rows = uow.session.scalars(query.order_by(JointTransfer.requested_at.desc())
                               .limit(500)).all()
    return [transfer_view(r) for r in rows]


def expire_transfers(uow) -> int:
    """Requests unanswered past ``expires_at`` lapse; the case stays with the sender."""
    rows = uow.session.scalars(select(JointTransfer).where(
        JointTransfer.state == "requested", JointTransfer.expires_at <= uow.now)
        .limit(200)).all()
    for row in rows:
        row.state = joint.expire(_domain_transfer(row), uow.now).state
        task = uow.session.get(Task, row.task_id)
        if task is not None:
            handlers._history(uow, task, f"joint_{row.kind}_expired", transfer_id=row.id)
            uow.emit(events.JOINT_TRANSFER_EXPIRED, _transfer_event(row, task))
    return len(rows)


# --- rotating host roster (轮流坐庄) ------------------------------------------------------------
def list_agreements(uow, principal: Principal) -> list[dict]:
    return [dict(agreement_to_dict(a), parties_active=[p.region_code for p in a.parties
                                                       if p.active_on(_today(uow))])
            for a in _agreements(uow.session) if _party_of_scope(a, principal)]


def _swaps(session, agreement_id: str) -> list[joint.Swap]:
    rows = session.scalars(select(JointSwap).where(JointSwap.agreement_id == agreement_id)
                           .order_by(JointSwap.id)).all()
    return [joint.Swap(r.period_start, r.a, r.b, r.recorded_by, r.reason) for r in rows]


def _window(agreement: joint.Agreement, filters: dict, today: date) -> tuple[date, date]:
    start = parse_date(filters.get("start"), "start", date(today.year, 1, 1))
    end = parse_date(filters.get("end"), "end", date(today.year, 12, 31))
    if end < start:
        raise ValidationError("end is before start", code="bad_window", field="end")
    if (end - start).days > MAX_ROSTER_YEARS * 366:
        raise ValidationError(f"at most {MAX_ROSTER_YEARS} years at once", code="bad_window",
                              field="end")
    return start, end


def _roster(uow, agreement_id: str, filters: dict, principal: Principal):
    agreement = _agreement(uow.session, agreement_id, principal)
    start, end = _window(agreement, filters, _today(uow))
    terms = joint.generate_roster(agreement, start, end, _swaps(uow.session, agreement.id))
    stored = stored_meetings(uow.session, agreement.id, terms)
    owed = joint.unscheduled(terms, joint.plan_consultations(terms), stored)
    meetings = sorted((m for m in [*stored, *owed] if start <= m.date <= end),
                      key=lambda m: (m.date, m.host_region))
    return agreement, start, end, terms, meetings


def domain_meeting(row: JointMeeting) -> joint.Meeting:
    return joint.Meeting(row.date, row.host_region, row.kind, row.held,
                         tuple(a["region_code"] for a in row.attendees or ()))


def stored_meetings(session, agreement_id: str, terms: list[joint.Term]) -> list[joint.Meeting]:
    """The consultations scheduled in the given terms (held or not)."""
    if not terms:
        return []
    rows = session.scalars(select(JointMeeting).where(
        JointMeeting.agreement_id == agreement_id,
        JointMeeting.date >= min(t.period_start for t in terms),
        JointMeeting.date <= max(t.period_end for t in terms)).order_by(JointMeeting.id))
    return [domain_meeting(r) for r in rows]


def roster(uow, agreement_id: str, filters: dict, principal: Principal) -> dict:
    agreement, start, end, terms, meetings = _roster(uow, agreement_id, filters, principal)
    names = {p.region_code: p.name for p in agreement.parties}
    return {
        "agreement_id": agreement.id, "name": agreement.name, "period": agreement.period,
        "start": start.isoformat(), "end": end.isoformat(),
        "terms": [{"period_start": t.period_start.isoformat(),
                   "period_end": t.period_end.isoformat(), "host_region": t.host_region,
                   "host_name": names.get(t.host_region), "duties": list(t.duties),
                   "swap": None if t.swap is None else {
                       "period_start": t.swap.period_start.isoformat(), "a": t.swap.a,
                       "b": t.swap.b, "reason": t.swap.reason,
                       "recorded_by": t.swap.recorded_by}} for t in terms],
        "meetings": [{"date": m.date.isoformat(), "host_region": m.host_region,
                      "kind": m.kind, "held": m.held} for m in meetings],
    }


def roster_ics(uow, agreement_id: str, filters: dict, principal: Principal) -> str:
    agreement, _s, _e, terms, meetings = _roster(uow, agreement_id, filters, principal)
    return ical.roster_to_ics(agreement, terms, meetings)


def roster_html(uow, agreement_id: str, filters: dict, principal: Principal) -> str:
    agreement, _s, _e, terms, _m = _roster(uow, agreement_id, filters, principal)
    return ical.roster_table_html(agreement, terms)


def record_swap(uow, agreement_id: str, cmd: dict, principal: Principal) -> dict:
    """Record an exchange of two host terms; the whole roster is re-checked with it."""
    agreement = _agreement(uow.session, agreement_id, principal)
    period_start = parse_date(cmd.get("period_start"), "period_start", required=True)
    if principal.scope != "*" and not any(
            within(c, principal.scope) or within(principal.scope, c) for c in (cmd["a"], cmd["b"])):
        raise NotFound(f"no agreement {agreement_id}", code="agreement_not_found",
                       field="agreement_id")
    swap = joint.Swap(period_start, cmd["a"], cmd["b"], principal.id or "?",
                      (cmd.get("reason") or "").strip())
    swaps = _swaps(uow.session, agreement.id)
    if any(s.period_start == period_start for s in swaps):
        raise Conflict("that term was already swapped", code="swap_exists",
                       field="period_start")
    horizon = period_start + timedelta(days=400 * len(agreement.parties))
    terms = joint.generate_roster(agreement, period_start, horizon, [*swaps, swap])
    uow.session.add(JointSwap(agreement_id=agreement.id, period_start=period_start, a=swap.a,
                              b=swap.b, recorded_by=swap.recorded_by, reason=swap.reason,
                              recorded_at=uow.now))
    changed = [t for t in terms if t.swap == swap]
    return {"agreement_id": agreement.id, "period_start": period_start.isoformat(),
            "a": swap.a, "b": swap.b, "reason": swap.reason, "recorded_by": swap.recorded_by,
            "terms": [{"period_start": t.period_start.isoformat(),
                       "period_end": t.period_end.isoformat(),
                       "host_region": t.host_region} for t in changed]}


# --- evaluation (联动工作评估) ------------------------------------------------------------------
def local_day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end + 1 day 00:00) in the platform's time zone, where ranking cuts its
    periods too, so the two count the same events in the same days."""
    zone = workdays.zone_of(workdays.DEFAULT_TZ)
    return (datetime.combine(start, time.min, tzinfo=zone),
            datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone))


def evaluation(uow, agreement_id: str, filters: dict, principal: Principal) -> dict:
    """``joint.evaluate`` per party over a window (default: this year so far).

    Counted in the window: transfers requested in it (answered on time, late, or not);
    consultations held in it, and regular ones owed by the roster and not held by their date;
    joint operations carried out in it; cases shared in it; sign-offs of shared cases
    in it. Ranking counts the same from the events (``joint_*``), so its figures of a period
    agree with these for a window of the same days.
    """
    agreement = _agreement(uow.session, agreement_id, principal)
    today = _today(uow)
    start, end = _window(agreement, {"start": filters.get("start"),
                                     "end": filters.get("end") or today.isoformat()}, today)
    lo, hi = local_day_bounds(start, end)
    transfers = [_domain_transfer(r) for r in uow.session.scalars(select(JointTransfer).where(
        JointTransfer.agreement_id == agreement.id, JointTransfer.requested_at >= lo,
        JointTransfer.requested_at < hi))]
    terms = joint.generate_roster(agreement, start, end, _swaps(uow.session, agreement.id))
    stored = stored_meetings(uow.session, agreement.id, terms)
    try:
        planned = joint.plan_consultations(terms)
    except ValidationError:
        planned = []  # a configuration below the yearly minimum plans nothing to count
    # A meeting not held counts against its host once its day has passed.
    due = [m for m in [*stored, *joint.unscheduled(terms, planned, stored)]
           if start <= m.date <= end and (m.held or m.date <= today)]
    operations = [{"lead_region": r.host_region,
                   "participants": joint.operation_parties(
                       agreement, r.host_region, [o["region_code"] for o in r.officers or []])}
                  for r in uow.session.scalars(select(JointOperation).where(
                      JointOperation.agreement_id == agreement.id,
                      JointOperation.state == "done",
                      JointOperation.date >= start, JointOperation.date <= end))]
    shared_rows = uow.session.scalars(select(SharedCase).where(
        SharedCase.agreement_id == agreement.id, SharedCase.shared_at >= lo,
        SharedCase.shared_at < hi)).all()
    case_nos = sorted({r.case_no for r in shared_rows})
    tasks = {t.case_no: t for t in uow.session.scalars(
        select(Task).where(Task.case_no.in_(case_nos)))} if case_nos else {}
    shared = [{"region_code": tasks[c].region_code,
               "status": _FINISHED_AS.get(tasks[c].status, tasks[c].status)}
              for c in case_nos if c in tasks]
    closed = [{"region_code": r.region_code} for r in uow.session.scalars(
        select(JointCaseClosure).where(JointCaseClosure.agreement_id == agreement.id,
                                       JointCaseClosure.closed_at >= lo,
                                       JointCaseClosure.closed_at < hi))]
    figures = joint.evaluate(agreement, transfers, due, operations, shared, closed)
    names = {p.region_code: p.name for p in agreement.parties}
    return {"agreement_id": agreement.id, "start": start.isoformat(), "end": end.isoformat(),
            "parties": [dict(figures[code], region_code=code, name=names[code])
                        for code in figures]}
