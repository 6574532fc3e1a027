"""Joint work under a linkage agreement (左右联动), in the dispatch service: consultations
(会商) and joint operations (联合执法) with the cross-inspection rule (交叉执法), the closing of
shared cases for the evaluation, and the agreements' upkeep (parties joining and leaving,
neighbours proposed from grid boundaries).

The rules are ``joint.py`` (pure); ``joint_handlers.py`` holds the agreements, sharing, views
and roster this module builds on. Who acts for whom: staff act for a party when their region
lies inside it (a county's staff for its city party); the administrator for any.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select

from services.common import events, rivers, workdays
from services.common.authz import Principal
from services.common.errors import Conflict, Forbidden, NotFound, ValidationError, parse_date
from services.common.regions import within
from services.dispatch import handlers, joint
from services.dispatch import joint_handlers as jh
from services.dispatch.grids import GridRegistry
from services.dispatch.models import CrossRegionAccess, JointAgreement, JointCaseClosure, \
    JointFinding, JointMeeting, JointOperation, JointTransfer, SharedCase, Task

MEETING_STATES = {False: "planned", True: "held"}
TASK_FIELDS = ("task_id", "case_no", "region_code", "grid_code", "category", "priority")


# --- who acts for whom --------------------------------------------------------------------------
def acts_for(principal: Principal, region: str) -> bool:
    return principal.scope == "*" or within(principal.scope, region)


def _sees(principal: Principal, regions) -> bool:
    """May the principal read an item about these regions (its own region, one inside it, or
    the party it belongs to)?"""
    return principal.scope == "*" or any(
        within(r, principal.scope) or within(principal.scope, r) for r in regions if r)


def _own_party(agreement: joint.Agreement, principal: Principal, day) -> joint.Party | None:
    """The party, active on ``day``, the principal acts for (None for the administrator)."""
    if principal.scope == "*":
        return None
    party = next((p for p in agreement.parties if within(principal.scope, p.region_code)), None)
    if party is None or not party.active_on(day):
        raise NotFound(f"no agreement {agreement.id}", code="agreement_not_found",
                       field="agreement_id")
    return party


def _term(uow, agreement: joint.Agreement, day) -> joint.Term:
    if not agreement.in_force_on(day):
        raise ValidationError(f"the agreement is not in force on {day}", code="not_in_force",
                              field="date")
    term = joint.term_on(joint.generate_roster(agreement, day, day,
                                               jh._swaps(uow.session, agreement.id)), day)
    if term is None:
        raise ValidationError(f"no host term on {day}", code="no_term", field="date")
    return term


def _day_at(day) -> str:
    """A day as the instant ranking files it under (noon, platform time zone)."""
    return datetime.combine(day, time(12), tzinfo=workdays.zone_of(
        workdays.DEFAULT_TZ)).isoformat()


def _text(cmd: dict, name: str, required: bool = True) -> str | None:
    value = (cmd.get(name) or "").strip() if isinstance(cmd.get(name), str) else None
    if required and not value:
        raise ValidationError(f"{name} is required", code="missing_field", field=name)
    return value or None


def _id(value, name: str, code: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise NotFound(f"no {name} {value}", code=code, field=f"{name}_id") from None


# --- agenda (会商议题) ---------------------------------------------------------------------------
def build_agenda(uow, agreement: joint.Agreement) -> list[dict]:
    """The agenda from the agreement's shared cases now: open transfers, overdue, open."""
    rows = uow.session.scalars(select(SharedCase).where(
        SharedCase.agreement_id == agreement.id)).all()
    partners: dict[str, set] = {}
    for r in rows:
        partners.setdefault(r.case_no, set()).add(r.partner_region)
    if not partners:
        return []
    names = {p.region_code: p.name for p in agreement.parties}
    tasks = uow.session.scalars(select(Task).where(Task.case_no.in_(sorted(partners)))).all()
    cases = [{"case_no": t.case_no, "region_code": t.region_code,
              "region_name": names.get(t.region_code), "category": t.category,
              "address": t.address, "status": jh._FINISHED_AS.get(t.status, t.status),
              "received_at": handlers._aware(t.started_at).isoformat(),
              "deadline": handlers._aware(t.deadline),
              "regions": sorted({t.region_code, *partners[t.case_no]})} for t in tasks]
    transfers = [{"case_no": t.case_no, "kind": t.kind, "from_region": t.from_region,
                  "to_region": t.to_region, "due": handlers._aware(t.due)}
                 for t in uow.session.scalars(select(JointTransfer).where(
                     JointTransfer.agreement_id == agreement.id,
                     JointTransfer.state == "requested"))]
    return joint.consultation_agenda(cases, transfers, uow.now)


def _log_agenda_reads(uow, items: list[dict], principal: Principal) -> list[dict]:
    """The agenda is the parties' common paper: every party reads all of it (cases of the
    agreement only, never the complainant). Items of another region's case are logged."""
    if principal.scope != "*":
        for item in items:
            if not acts_for(principal, item["region_code"]):
                uow.session.add(CrossRegionAccess(
                    at=uow.now, actor_id=principal.id, actor_role=principal.role,
                    actor_region=principal.scope, case_no=item["case_no"],
                    region_code=item["region_code"], action="agenda"))
    return items


# --- consultations (会商) ------------------------------------------------------------------------
def meeting_view(uow, row: JointMeeting, agreement: joint.Agreement,
                 principal: Principal) -> dict:
    """A consultation: the agenda of a planned one is built afresh (as of now), that of a held
    one is the one it was held with."""
    names = {p.region_code: p.name for p in agreement.parties}
    items = row.agenda if row.held else build_agenda(uow, agreement)
    return {
        "meeting_id": row.id, "agreement_id": row.agreement_id, "date": row.date.isoformat(),
        "kind": row.kind, "state": MEETING_STATES[row.held], "host_region": row.host_region,
        "host_name": names.get(row.host_region), "requested_by": row.requested_by,
        "topic": row.topic, "agenda": _log_agenda_reads(uow, items, principal),
        "minutes": row.minutes, "attendees": row.attendees or [],
        "scheduled_by": row.scheduled_by, "held_recorded_by": row.held_recorded_by,
        "held_recorded_at": (handlers._aware(row.held_recorded_at).isoformat()
                             if row.held_recorded_at else None),
    }


def _meeting_event(row: JointMeeting) -> dict:
    return {"agreement_id": row.agreement_id, "meeting_id": row.id, "kind": row.kind,
            "region_code": row.host_region, "host_region": row.host_region,
            "date": row.date.isoformat()}


def schedule_consultation(uow, agreement_id: str, cmd: dict, principal: Principal) -> dict:
    """Schedule a consultation. A regular one (定期会商) only by the host of the term of its
    date, who chairs it; one at a party's request (``kind: requested``, with a topic) by any
    party, chaired by the same host."""
    agreement = jh._agreement(uow.session, agreement_id, principal)
    day = parse_date(cmd.get("date"), "date", required=True)
    if day < jh._today(uow):
        raise ValidationError("a consultation is scheduled for today or later",
                              code="in_the_past", field="date")
    term = _term(uow, agreement, day)
    own = _own_party(agreement, principal, day)
    kind = cmd.get("kind") or "regular"
    joint.Meeting(day, term.host_region, kind)  # the domain's checks (kind)
    topic = _text(cmd, "topic", required=kind == "requested")
    if kind == "regular" and not acts_for(principal, term.host_region):
        raise Forbidden(f"{term.host_region} hosts the term of {day} and schedules its regular "
                        "consultations; ask for one with kind 'requested'", code="not_host",
                        field="kind")
    row = JointMeeting(agreement_id=agreement.id, date=day, host_region=term.host_region,
                       kind=kind, requested_by=own.region_code if own and kind == "requested"
                       else None, topic=topic, agenda=[], held=False, attendees=[],
                       scheduled_by=principal.id, recorded_at=uow.now)
    uow.session.add(row)
    uow.session.flush()
    view = meeting_view(uow, row, agreement, principal)
    uow.emit(events.JOINT_CONSULTATION_SCHEDULED, dict(
        _meeting_event(row), requested_by=row.requested_by, agenda_items=len(view["agenda"]),
        parties=[p.region_code for p in agreement.parties if p.active_on(day)]))
    return view


def _load(uow, model, ident, name: str, principal: Principal, lock: bool = False):
    """A meeting or operation row and its agreement; absent unless the principal is staff of
    a party (so its existence does not leak)."""
    code = f"{name}_not_found"
    query = select(model).where(model.id == _id(ident, name, code))
    if lock and uow.session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    row = uow.session.scalars(query).first()
    try:
        agreement = jh._agreement(uow.session, row.agreement_id, principal) if row else None
    except NotFound:
        agreement = None
    if agreement is None:
        raise NotFound(f"no {name} {ident}", code=code, field=f"{name}_id")
    return row, agreement


def _meeting(uow, meeting_id, principal: Principal, lock: bool = False):
    return _load(uow, JointMeeting, meeting_id, "meeting", principal, lock)


def get_consultation(uow, meeting_id, principal: Principal) -> dict:
    row, agreement = _meeting(uow, meeting_id, principal)
    return meeting_view(uow, row, agreement, principal)


def list_consultations(uow, agreement_id: str, filters: dict, principal: Principal) -> list:
    agreement = jh._agreement(uow.session, agreement_id, principal)
    query = select(JointMeeting).where(JointMeeting.agreement_id == agreement.id)
    if filters.get("start"):
        query = query.where(JointMeeting.date >= parse_date(filters["start"], "start"))
    if filters.get("end"):
        query = query.where(JointMeeting.date <= parse_date(filters["end"], "end"))
    rows = uow.session.scalars(query.order_by(JointMeeting.date, JointMeeting.id)
                               .limit(500)).all()
    return [meeting_view(uow, r, agreement, principal) for r in rows]


def record_consultation_held(uow, meeting_id, cmd: dict, principal: Principal) -> dict:
    """The host records that the consultation was held: minutes and attendees by party
    (``[{region_code, names}]``; the host attends its own). The agenda is kept as it stood."""
    row, agreement = _meeting(uow, meeting_id, principal, lock=True)
    if not acts_for(principal, row.host_region):
        raise Forbidden(f"only the host ({row.host_region}) records the consultation",
                        code="not_host", field="meeting_id")
    if row.held:
        raise Conflict("the consultation is already recorded as held", code="already_held",
                       field="meeting_id")
    if row.date > jh._today(uow):
        raise ValidationError("the consultation has not taken place yet", code="not_yet",
                              field="date")
    minutes = _text(cmd, "minutes")
    present: dict[str, set] = {row.host_region: set()}
    for entry in cmd.get("attendees") or []:
        party = joint.party_for(agreement, str(entry.get("region_code") or ""))
        if party is None or not party.active_on(row.date):
            raise ValidationError(f"{entry.get('region_code')} is not a party on {row.date}",
                                  code="not_a_party", field="attendees")
        present.setdefault(party.region_code, set()).update(
            n.strip() for n in entry.get("names") or [] if n and n.strip())
    least = int((joint.joint_config().get("consultation") or {})
                .get("min_attending_parties", 2))
    if len(present) < least:
        raise ValidationError(f"a consultation is attended by at least {least} parties",
                              code="too_few_parties", field="attendees")
    order = [p.region_code for p in agreement.parties]
    row.attendees = [{"region_code": code, "names": sorted(present[code])}
                     for code in order if code in present]
    row.agenda = build_agenda(uow, agreement)
    row.held, row.minutes = True, minutes
    row.held_recorded_by, row.held_recorded_at = principal.id, uow.now
    uow.emit(events.JOINT_CONSULTATION_HELD, dict(
        _meeting_event(row), held_at=_day_at(row.date),
        attendees=[a["region_code"] for a in row.attendees]))
    return meeting_view(uow, row, agreement, principal)


# --- joint operations (联合执法) and cross inspection (交叉执法) ------------------------------------
def _operation_event(row: JointOperation, agreement: joint.Agreement) -> dict:
    return {"agreement_id": row.agreement_id, "operation_id": row.id,
            "region_code": row.host_region, "lead_region": row.host_region,
            "date": row.date.isoformat(),
            "parties": joint.operation_parties(agreement, row.host_region,
                                               [o["region_code"] for o in row.officers])}


def plan_operation(uow, agreement_id: str, cmd: dict, principal: Principal) -> dict:
    """The host of the term plans a joint operation with officers of several parties.

    ``officers``: ``[{id, name, role, region_code}]``, each officer's own region (the gateway
    fills them in from the accounts). The lead is the host of the term of ``date``.
    """
    agreement = jh._agreement(uow.session, agreement_id, principal)
    day = parse_date(cmd.get("date"), "date", required=True)
    term = _term(uow, agreement, day)
    _own_party(agreement, principal, day)
    if not acts_for(principal, term.host_region):
        raise Forbidden(f"{term.host_region} hosts the term of {day} and leads its joint "
                        "operations", code="not_host", field="date")
    title = _text(cmd, "title")
    officers, seen = [], set()
    for o in cmd.get("officers") or []:
        party = joint.party_for(agreement, str(o.get("region_code") or ""))
        if party is None or not party.active_on(day):
            raise ValidationError(f"officer {o.get('id')} is not of a party on {day}",
                                  code="not_a_party", field="officers")
        if o["id"] in seen:
            raise ValidationError(f"officer {o['id']} is listed twice",
                                  code="duplicate_officer", field="officers")
        seen.add(o["id"])
        officers.append({"id": o["id"], "name": o.get("name"), "role": o.get("role"),
                         "region_code": o["region_code"], "party": party.region_code})
    least = int((joint.joint_config().get("operation") or {}).get("min_parties", 2))
    if len({o["party"] for o in officers}) < least:
        raise ValidationError(f"a joint operation has officers of at least {least} parties",
                              code="too_few_parties", field="officers")
    row = JointOperation(agreement_id=agreement.id, date=day, host_region=term.host_region,
                         title=title, officers=officers, state="planned",
                         planned_by=principal.id, recorded_at=uow.now)
    uow.session.add(row)
    uow.session.flush()
    uow.emit(events.JOINT_OPERATION_PLANNED, dict(
        _operation_event(row, agreement),
        officers=[{"id": o["id"], "region_code": o["region_code"]} for o in officers]))
    return operation_view(uow, row, agreement, principal)


def _operation(uow, operation_id, principal: Principal, lock: bool = False):
    return _load(uow, JointOperation, operation_id, "operation", principal, lock)


def operation_view(uow, row: JointOperation, agreement: joint.Agreement,
                   principal: Principal) -> dict:
    """An operation with its team; the cases found are listed to the readers of the region
    where each was found, of the finding officer's region and of the lead; others get the
    count only."""
    findings = uow.session.scalars(select(JointFinding).where(
        JointFinding.operation_id == row.id).order_by(JointFinding.id)).all()
    names = {p.region_code: p.name for p in agreement.parties}
    return {
        "operation_id": row.id, "agreement_id": row.agreement_id, "date": row.date.isoformat(),
        "title": row.title, "state": row.state, "lead_region": row.host_region,
        "lead_name": names.get(row.host_region), "officers": row.officers,
        "parties": joint.operation_parties(agreement, row.host_region,
                                           [o["region_code"] for o in row.officers]),
        "planned_by": row.planned_by, "summary": row.summary,
        "done_at": handlers._aware(row.done_at).isoformat() if row.done_at else None,
        "findings_count": len(findings),
        "findings": [finding_view(f) for f in findings
                     if _sees(principal, (f.region_code, f.officer_region, row.host_region))],
    }


def finding_view(f: JointFinding) -> dict:
    return {"case_no": f.case_no, "region_code": f.region_code,
            "credited_region": f.region_code, "officer_id": f.officer_id,
            "officer_region": f.officer_region,
            "found_at": handlers._aware(f.found_at).isoformat()}


def get_operation(uow, operation_id, principal: Principal) -> dict:
    row, agreement = _operation(uow, operation_id, principal)
    return operation_view(uow, row, agreement, principal)


def list_operations(uow, agreement_id: str, principal: Principal) -> list[dict]:
    agreement = jh._agreement(uow.session, agreement_id, principal)
    rows = uow.session.scalars(select(JointOperation).where(
        JointOperation.agreement_id == agreement.id).order_by(
        JointOperation.date, JointOperation.id).limit(500)).all()
    return [operation_view(uow, r, agreement, principal) for r in rows]


def operation_officer(uow, operation_id, principal: Principal) -> dict:
    """The operation as its officer (the caller) files findings in it: the parties' regions,
    where a finding may lie, and the officer's own region. Only officers of its team file."""
    row, agreement = _operation(uow, operation_id, principal)
    officer = next((o for o in row.officers if o["id"] == principal.id), None)
    if officer is None:
        raise NotFound(f"no joint operation {operation_id} with you in its team",
                       code="operation_not_found", field="operation_id")
    if row.date > jh._today(uow):
        raise ValidationError("the operation has not started", code="not_yet", field="date")
    return {"operation_id": row.id, "agreement_id": agreement.id,
            "parties": [p.region_code for p in agreement.parties if p.active_on(row.date)],
            "officer_region": officer["region_code"]}


def record_finding(uow, operation_id, case_no: str, case_region: str,
                   principal: Principal) -> dict:
    """A case an officer found in the operation (交叉执法): credited to the region where it
    was found, whatever the officer's own region; the officer's party follows it as a shared
    case. Recording the same case again changes nothing."""
    mine = operation_officer(uow, operation_id, principal)
    row, agreement = _operation(uow, operation_id, principal, lock=True)
    if not any(within(case_region or "", p) for p in mine["parties"]):
        raise ValidationError("the case lies outside the agreement's parties",
                              code="outside_agreement", field="case_no")
    found = uow.session.scalars(select(JointFinding).where(
        JointFinding.operation_id == row.id, JointFinding.case_no == case_no)).first()
    if found is not None:
        return finding_view(found)
    found = JointFinding(operation_id=row.id, agreement_id=agreement.id, case_no=case_no,
                         region_code=joint.credit_region(case_region,
                                                         [mine["officer_region"]]),
                         officer_id=principal.id, officer_region=mine["officer_region"],
                         found_at=uow.now)
    uow.session.add(found)
    uow.session.flush()
    task = uow.session.scalars(select(Task).where(Task.case_no == case_no)).first()
    if task is not None:  # otherwise shared when it is assigned (joint_handlers.share_task)
        jh.share_finding(uow, found, task)
    uow.emit(events.JOINT_CASE_FOUND, {
        "agreement_id": agreement.id, "operation_id": row.id, "case_no": case_no,
        "region_code": found.region_code, "officer_id": principal.id,
        "officer_region": found.officer_region})
    return finding_view(found)


def report_operation(uow, operation_id, cmd: dict, principal: Principal) -> dict:
    """The lead reports the operation carried out (with a summary); it then counts."""
    row, agreement = _operation(uow, operation_id, principal, lock=True)
    if not acts_for(principal, row.host_region):
        raise Forbidden(f"only the lead ({row.host_region}) reports the operation",
                        code="not_host", field="operation_id")
    if row.state != "planned":
        raise Conflict(f"the operation is already {row.state}", code="already_done",
                       field="operation_id")
    if row.date > jh._today(uow):
        raise ValidationError("the operation has not taken place yet", code="not_yet",
                              field="date")
    row.summary, row.state, row.done_at = _text(cmd, "summary"), "done", uow.now
    findings = uow.session.scalars(select(JointFinding).where(
        JointFinding.operation_id == row.id)).all()
    uow.emit(events.JOINT_OPERATION_DONE, dict(
        _operation_event(row, agreement), held_at=_day_at(row.date), findings=len(findings)))
    return operation_view(uow, row, agreement, principal)


# --- shared cases closed (for the evaluation) ---------------------------------------------------
def on_task_verified(uow, payload: dict) -> int:
    """A task was signed off (销号): if its case is shared, record it and tell ranking, once
    per agreement it is shared under."""
    rows = uow.session.scalars(select(SharedCase).where(
        SharedCase.case_no == payload["case_no"])).all()
    by_agreement: dict[str, set] = {}
    for r in rows:
        by_agreement.setdefault(r.agreement_id, set()).add(r.partner_region)
    closed_at = payload.get("verified_at") or payload["occurred_at"]
    for agreement_id, partners in sorted(by_agreement.items()):
        uow.session.add(JointCaseClosure(
            agreement_id=agreement_id, case_no=payload["case_no"], task_id=payload["task_id"],
            region_code=payload["region_code"], closed_at=datetime.fromisoformat(closed_at)))
        uow.emit(events.JOINT_CASE_CLOSED, dict(
            {k: payload.get(k) for k in TASK_FIELDS},
            agreement_id=agreement_id, partners=sorted(partners), closed_at=closed_at))
    return len(by_agreement)


# --- agreements: proposals, creation, parties joining and leaving -------------------------------
def proposals(uow, filters: dict, principal: Principal, registry: GridRegistry) -> list[dict]:
    """Neighbours from the grid boundaries (shared edges, not corners) that are not both
    parties to one agreement on the day ``on`` (default today; signed agreements to come count),
    as draft agreements starting that day or the next month, with the rivers crossing both
    proposed as shared. Staff see the pairs of their region; the administrator all."""
    cfg = joint.joint_config()
    defaults = cfg.get("proposal") or {}
    level = str(filters.get("level") or defaults.get("level", "county"))
    grids = {g.code: g for g in registry if g.level == level and g.boundary is not None}
    tolerance = (cfg.get("geometry") or {}).get("border_tolerance_m", 50)
    today = jh._today(uow)
    on = parse_date(filters.get("on"), "on", today)
    agreements = [a for a in jh._agreements(uow.session) if a.end is None or a.end >= on]
    start = on if filters.get("on") else (on.replace(day=1) + timedelta(days=32)).replace(day=1)
    out = []
    for a, b in joint.propose_neighbours({c: g.boundary for c, g in grids.items()}, tolerance):
        if principal.scope != "*" and not (within(a, principal.scope)
                                           or within(b, principal.scope)):
            continue
        if any(_both_parties(ag, a, b, on) for ag in agreements):
            continue
        shared_rivers = [r.name for r in rivers.configured() if r.line is not None
                         and r.line.intersects(grids[a].boundary)
                         and r.line.intersects(grids[b].boundary)]
        out.append({"regions": [a, b], "names": [grids[a].name, grids[b].name], "draft": {
            "id": f"{a}-{b}", "name": f"{grids[a].name}{grids[b].name}环境执法联动协议",
            "period": defaults.get("period", "quarter"), "start": start.isoformat(),
            "end": None, "host_order": [],
            "scope": {"categories": [], "buffer_km": float(defaults.get("buffer_km", 5)),
                      "rivers": shared_rivers, "river_parties": {}},
            "parties": [{"region_code": c, "name": grids[c].name, "joined": start.isoformat(),
                         "left": None, "liaisons": []} for c in (a, b)]}})
    return out


def _both_parties(agreement: joint.Agreement, a: str, b: str, day) -> bool:
    pa, pb = joint.party_for(agreement, a), joint.party_for(agreement, b)
    return (pa is not None and pb is not None and pa is not pb
            and all(p.left is None or p.left > day for p in (pa, pb)))


def _checked(uow, agreement: joint.Agreement, registry: GridRegistry) -> None:
    """Every recorded swap still applies, and border sharing has every party's boundary."""
    swaps = jh._swaps(uow.session, agreement.id)
    if swaps:
        horizon = max(s.period_start for s in swaps) + timedelta(days=400)
        try:
            joint.generate_roster(agreement, agreement.start, horizon, swaps)
        except ValidationError as err:
            raise Conflict(f"a recorded swap no longer fits: {err.message}",
                           code="swap_conflict", field="parties") from None
    if agreement.scope.buffer_km > 0:
        missing = [p.region_code for p in agreement.parties
                   if getattr(registry.get(p.region_code), "boundary", None) is None]
        if missing:
            raise ValidationError(f"no grid boundary for {', '.join(missing)}: border "
                                  "sharing needs one", code="unknown_region", field="parties")


def _save(uow, agreement: joint.Agreement) -> dict:
    jh.save_agreements(uow.session, [agreement], uow.now)
    return jh.agreement_to_dict(agreement)


def create_agreement(uow, data: dict, principal: Principal, registry: GridRegistry) -> dict:
    """Record a signed agreement (e.g. a proposal's draft, completed)."""
    try:
        agreement = joint.Agreement.from_dict(data)
    except (KeyError, TypeError, ValueError) as err:
        raise ValidationError(f"not an agreement: {err}", code="invalid_value",
                              field="agreement") from None
    if uow.session.get(JointAgreement, agreement.id) is not None:
        raise Conflict(f"agreement {agreement.id} exists", code="agreement_exists", field="id")
    _checked(uow, agreement, registry)
    return _save(uow, agreement)


def join_party(uow, agreement_id: str, data: dict, principal: Principal,
               registry: GridRegistry) -> dict:
    """A region joins an agreement from ``joined`` (mid-term is fine: it enters the host
    rotation at the back, from the first term starting on or after that day)."""
    agreement = jh._agreement(uow.session, agreement_id, principal)
    joined = parse_date(data.get("joined"), "joined", required=True)
    if joined < jh._today(uow) or joined < agreement.start:
        raise ValidationError("a party joins from today or later, within the agreement",
                              code="bad_date", field="joined")
    if agreement.party(str(data.get("region_code"))) is not None:
        raise Conflict(f"{data.get('region_code')} is already a party", code="party_exists",
                       field="region_code")
    party = joint.Party(region_code=str(data.get("region_code")), name=_text(data, "name"),
                        joined=joined, liaisons=[dict(x) for x in data.get("liaisons") or []])
    changed = joint.Agreement(**{**vars(agreement), "parties": [*agreement.parties, party]})
    _checked(uow, changed, registry)
    return _save(uow, changed)


def leave_party(uow, agreement_id: str, region_code: str, data: dict,
                principal: Principal, registry: GridRegistry) -> dict:
    """A party leaves from ``left`` (the first day it is no longer a party): later terms are
    hosted by the others in turn; a swap it recorded for later must be undone first."""
    agreement = jh._agreement(uow.session, agreement_id, principal)
    party = agreement.party(region_code)
    if party is None or not acts_for(principal, region_code):
        raise NotFound(f"{region_code} is not a party you act for", code="party_not_found",
                       field="region_code")
    left = parse_date(data.get("left"), "left", required=True)
    if left < jh._today(uow) or left <= party.joined:
        raise ValidationError("a party leaves from today or later, after it joined",
                              code="bad_date", field="left")
    if party.left is not None:
        raise Conflict(f"{region_code} already leaves on {party.left}", code="already_left",
                       field="region_code")
    staying = [p for p in agreement.parties if p is not party and (p.left is None
                                                                   or p.left > left)]
    if len(staying) < 2:
        raise Conflict("an agreement needs at least two parties: end it instead",
                       code="too_few_parties", field="region_code")
    parties = [joint.Party(**{**vars(p), "left": left}) if p is party else p
               for p in agreement.parties]
    changed = joint.Agreement(**{**vars(agreement), "parties": parties})
    _checked(uow, changed, registry)
    return _save(uow, changed)
