"""Command and event handlers of the complaints service. Each takes a unit of work and plain data,
applies the domain rules, writes the case and its history, and emits events through the outbox."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select, text
from sqlalchemy.orm import joinedload

from services.common import events, rivers
from services.common.authz import Principal, may_see_complainant, require_scope
from services.common.config import Policy
from services.common.errors import NotFound, ValidationError
from services.common.phones import parse_phone
from services.common.unit_of_work import add_to
from services.common.workdays import as_utc
from services.complaints import domain
from services.complaints.models import Case, CaseHistory, Complainant, MonitoringReading

DEFAULT_REGION = "360300"


def _history(uow, case: Case, action: str, when: datetime | None = None, **detail) -> None:
    """Record a step of the case; ``when`` it happened, if not now (a step another service
    took, mirrored here perhaps long after: complaints may have been down meanwhile)."""
    actor = uow.actor or {}
    entry = CaseHistory(case_id=case.id, at=when or uow.now, action=action,
                        actor_id=actor.get("id"), actor_role=actor.get("role"), detail=detail)
    add_to(uow.session, case, "history", entry)
    case.updated_at = uow.now


def _case_fields(case: Case) -> dict:
    return {"case_no": case.case_no, "region_code": case.region_code, "grid_code": case.grid_code,
            "channel": case.channel, "category": case.category, "priority": case.priority}


def _take_turns(uow, *keys: str) -> None:
    """Hold locks on ``keys`` until the transaction ends, so that concurrent intakes that could
    land on the same case (a repeat, a burst of exceedance readings) take turns instead of each
    opening one. Taken in one order (of their numbers), so two intakes never deadlock.
    SQLite has a single writer anyway."""
    if keys and uow.session.bind.dialect.name == "postgresql":
        numbers = sorted({int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(),
                                         "big", signed=True) for k in keys})
        uow.session.execute(text("SELECT pg_advisory_xact_lock(k) "
                                 "FROM unnest(CAST(:keys AS bigint[])) AS k"), {"keys": numbers})


def _for_update(uow, query):
    """``query`` locking its rows until commit, and reading them afresh once locked."""
    if uow.session.bind.dialect.name != "postgresql":
        return query
    return query.with_for_update().execution_options(populate_existing=True)


def _get(uow, case_no: str, lock: bool = False) -> Case:
    query = select(Case).where(Case.case_no == case_no)
    case = uow.session.scalars(_for_update(uow, query) if lock else query).first()
    if case is None:
        raise NotFound(f"no case {case_no}", code="case_not_found", field="case_no")
    return case


def _start_acceptance(case: Case, rules: dict, start: datetime) -> None:
    """Start the acceptance clock (受理时限) of a case received, or referred in, at ``start``."""
    window = domain.acceptance_window(rules, start)
    case.accept_due, case.accept_deadline = window.due, window.deadline
    case.accept_warn_at = case.accept_check_at = window.warn_at
    case.accept_warned_at = case.accept_overdue_at = None


def _stop_acceptance(case: Case) -> None:
    """Intake decided (or the case left intake): the acceptance clock has nothing left to say."""
    case.accept_check_at = None


# --- intake -----------------------------------------------------------------------------------
def submit(uow, cmd: dict, policy: Policy, idempotency_key: str | None = None) -> Case:
    """Receive a report or complaint (登记): a new case, or a repeat merged into an open one."""
    existing = _by_idempotency_key(uow, idempotency_key)
    if existing is not None:
        return existing
    default_region = policy.data.get("intake", {}).get("default_region", DEFAULT_REGION)
    sub = domain.validate_submission(cmd, policy.for_region(cmd.get("region_code") if isinstance(
        cmd, dict) and isinstance(cmd.get("region_code"), str) else None), uow.now, default_region)
    rules = policy.for_region(sub.region_code)
    # Intakes that could be repeats of each other take turns, and so do a request and its
    # retry sent before the first answer came; the rest run side by side.
    keys = domain.intake_locks(sub) + ([f"idempotency:{idempotency_key}"] if idempotency_key
                                       else [])
    _take_turns(uow, *keys)
    existing = _by_idempotency_key(uow, idempotency_key)  # the twin that held the lock
    if existing is not None:
        return existing
    # Looked for before this intake is written: nothing to flush first, nothing to leave out.
    original = _find_repeat(uow, sub, rules)
    case = Case(channel=sub.channel, category=sub.category, categories=list(sub.categories),
                priority=sub.priority, status="received", region_code=sub.region_code,
                grid_code=sub.grid_code, description=sub.description, address=sub.address,
                lat=sub.lat, lon=sub.lon, enterprise=sub.enterprise, incident=sub.incident,
                river=sub.river or rivers.name_at(sub.lon, sub.lat),
                media=list(sub.media), submitted_by=(uow.actor or {}).get("id"),
                received_at=sub.received_at, idempotency_key=idempotency_key,
                updated_at=uow.now, repeat_count=1,
                history=[], complainant=None)  # new: nothing to lazy-load
    if sub.complainant is not None:
        phone = parse_phone(sub.complainant["phone"]) if sub.complainant.get("phone") else None
        case.complainant = Complainant(
            name=sub.complainant.get("name"), email=sub.complainant.get("email"),
            language=sub.complainant.get("language", "zh-CN"),
            phone_raw=phone.raw if phone else None, phone_e164=phone.e164 if phone else None,
            phone_kind=phone.kind if phone else None, phone_flag=phone.flag if phone else None)
    _start_acceptance(case, rules, sub.received_at)
    uow.session.add(case)
    uow.session.flush()  # its id numbers it; the rest of its writes go in at the commit
    case.case_no = domain.case_number(case.region_code, case.received_at, case.id)
    _history(uow, case, "received", channel=case.channel)
    has_contact = _has_contact(case)
    if original is not None:
        original.repeat_count += 1
        _history(uow, original, "repeat_merged", repeat_case_no=case.case_no,
                 repeat_count=original.repeat_count)
        case.status = "merged"
        case.merged_into = original.case_no
        _stop_acceptance(case)
        _history(uow, case, "merged", merged_into=original.case_no)
        uow.emit(events.CASE_MERGED, dict(_case_fields(case), merged_into=original.case_no,
                                          repeat_count=original.repeat_count,
                                          has_complainant=has_contact))
        return case

    uow.emit(events.CASE_RECEIVED, dict(
        _case_fields(case), description=case.description, address=case.address, lat=case.lat,
        lon=case.lon, enterprise=case.enterprise, received_at=case.received_at.isoformat(),
        river=case.river, has_complainant=has_contact, anonymous=sub.anonymous,
        accept_due=case.accept_due.isoformat()))
    if case.incident or case.channel in rules["intake"].get("auto_accept_channels", []):
        # Sudden and mass incidents are escalated at once, never left in the intake queue.
        _accept(uow, case, auto=True)
    return case


# Core statements, built once: every intake runs them, and the ORM's work on each (building
# the query, its cache key, entity loading) was a tenth of the intake's time for a lookup that
# mostly finds nothing.
_CASES = Case.__table__
_BY_IDEMPOTENCY_KEY = select(_CASES.c.id).where(_CASES.c.idempotency_key == bindparam("key"))


def _by_idempotency_key(uow, key: str | None) -> Case | None:
    if not key:
        return None
    found = uow.session.connection().execute(_BY_IDEMPOTENCY_KEY, {"key": key}).scalar()
    return uow.session.get(Case, found) if found is not None else None


def _has_contact(case: Case) -> bool:
    c = case.complainant
    return bool(c and (c.phone_e164 or c.phone_raw or c.email))


def _reporter(case: Case) -> str | None:
    """The grid worker who filed a patrol report (a staff account, never a complainant)."""
    return case.submitted_by if case.channel == "patrol" else None


def _find_repeat(uow, sub: domain.Submission, rules: dict) -> Case | None:
    """The open case this submission repeats, if any. SQL narrows the candidates to those that
    could match (same enterprise name, a nearby point, the same address); the domain decides."""
    c = _CASES.c
    same_place = []
    if sub.enterprise:
        same_place.append(c.enterprise.is_not(None))
    if sub.lat is not None:
        dlat, dlon = domain.repeat_box(sub.lat)
        same_place.append(c.lat.between(sub.lat - dlat, sub.lat + dlat)
                          & c.lon.between(sub.lon - dlon, sub.lon + dlon))
    if sub.address:
        same_place.append(c.address == sub.address)
    if not same_place:
        return None  # nothing to compare a place by: never merge on category alone
    window = int(rules["intake"].get("repeat_window_days", 60))
    rows = uow.session.connection().execute(
        select(c.id, c.case_no, c.status, c.category, c.received_at, c.enterprise, c.lat, c.lon,
               c.address)
        .where(c.category == sub.category, c.status.in_(domain.OPEN_STATUSES),
               c.region_code.startswith(sub.region_code[:4]),
               c.received_at >= sub.received_at - timedelta(days=window), or_(*same_place))
        .order_by(c.id).limit(200)).all()
    for row in rows:
        if domain.is_repeat(sub, row._asdict(), window):
            return _get(uow, row.case_no, lock=True)  # its count changes now
    return None


def accept(uow, case_no: str, principal: Principal) -> Case:
    case = _get(uow, case_no, lock=True)
    require_scope(principal, case.region_code)
    domain.require_status("accept", case.status)
    _accept(uow, case, auto=False)
    return case


def _accept(uow, case: Case, auto: bool) -> None:
    case.status = "accepted"
    case.accepted_at = uow.now
    _stop_acceptance(case)
    _history(uow, case, "accepted", auto=auto)
    uow.emit(events.CASE_ACCEPTED, dict(
        _case_fields(case), description=case.description, address=case.address, lat=case.lat,
        lon=case.lon, enterprise=case.enterprise, accepted_at=uow.now.isoformat(), river=case.river,
        has_complainant=_has_contact(case), incident=case.incident,
        reported_by=_reporter(case)))


def decline(uow, case_no: str, reason_code: str, note: str | None, principal: Principal,
            policy: Policy) -> Case:
    """Decline (不予受理) with one of the defined reasons, each telling the complainant what next."""
    case = _get(uow, case_no, lock=True)
    require_scope(principal, case.region_code)
    domain.require_status("decline", case.status)
    reasons = policy.for_region(case.region_code)["decline_reasons"]
    if reason_code not in reasons:
        raise ValidationError("reason must be one of " + ", ".join(reasons),
                              code="unknown_reason", field="reason")
    reason = reasons[reason_code]
    case.status = "declined"
    case.decline_reason = reason_code
    _stop_acceptance(case)
    _history(uow, case, "declined", reason=reason_code, note=note)
    uow.emit(events.CASE_DECLINED, dict(_case_fields(case), reason_code=reason_code,
                                        reason_text=reason["zh"],
                                        next_step=reason["next_step"]["zh"],
                                        has_complainant=_has_contact(case),
                                        reported_by=_reporter(case)))
    return case


def rate(uow, case_no: str, score, comment: str | None, token: str | None,
         principal: Principal, policy: Policy) -> Case:
    """The reporter rates the result (满意度); a poor rating reopens the work."""
    case = _get(uow, case_no, lock=True)
    if token is not None:
        if not case.rating_token or not secrets.compare_digest(token, case.rating_token):
            raise NotFound(f"no case {case_no}", code="case_not_found", field="case_no")
    else:
        require_scope(principal, case.region_code)
        if principal.role not in ("grid_chief", "supervisor", "admin"):
            raise ValidationError("rating needs the rating token or a grid chief",
                                  code="rating_token_required", field="token")
    domain.require_status("rate", case.status)
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise ValidationError("score must be an integer from 1 to 5", code="invalid_value",
                              field="score")
    if comment is not None and (not isinstance(comment, str) or len(comment) > 1000):
        raise ValidationError("comment must be text of at most 1000 characters",
                              code="invalid_value", field="comment")
    threshold = int(policy.for_region(case.region_code)["feedback"]["reopen_at_or_below"])
    reopen = score <= threshold
    case.rating_score = score
    case.rating_comment = comment
    case.rating_token = None
    _history(uow, case, "rated", score=score, reopen=reopen)
    uow.emit(events.CASE_RATED, dict(_case_fields(case), score=score, satisfied=not reopen,
                                     reopen=reopen, comment=comment))
    if reopen:
        case.status = "in_progress"
    else:
        case.status = "closed"
        _history(uow, case, "closed")
        uow.emit(events.CASE_CLOSED, dict(_case_fields(case), founded=case.founded,
                                          satisfied=True))
    return case


# --- what dispatch tells us ---------------------------------------------------------------------
def _case_for_task(uow, payload: dict) -> Case | None:
    # With its complainant: the events that follow say whether there is someone to tell, and a
    # lazy load then would cost a round trip (and an autoflush) of its own.
    return uow.session.scalars(select(Case).options(joinedload(Case.complainant))
                               .where(Case.case_no == payload["case_no"])).first()


def on_task_event(uow, payload: dict) -> None:
    """Mirror the task's progress onto the case and its history."""
    case = _case_for_task(uow, payload)
    if case is None:
        return
    kind = payload["event_type"]
    when = as_utc(datetime.fromisoformat(payload["occurred_at"]))
    if kind in (events.TASK_ASSIGNED, events.TASK_REASSIGNED, events.TASK_REOPENED):
        assignee = payload.get("assignee") or {}
        first = case.task_id is None
        case.task_id = payload["task_id"]
        case.assignee_name = assignee.get("name")
        case.agency = payload.get("unit") or case.agency
        case.deadline = datetime.fromisoformat(payload["deadline"])
        # A rebound (反弹) found on re-check reopens signed-off work: resolved or closed.
        if case.status in ("accepted", "in_progress", "assigned", "resolved", "closed"):
            case.status = "assigned"
        if payload.get("region_code"):
            case.region_code = payload["region_code"]
        case.grid_code = payload.get("grid_code") or case.grid_code
        _history(uow, case, kind.removeprefix("task_"), when, task_id=payload["task_id"],
                 assignee=assignee.get("name"), deadline=payload["deadline"],
                 reason=payload.get("reason"))
        if first and kind == events.TASK_ASSIGNED:
            # The receipt waits for this: only now is the expected closing date known.
            uow.emit(events.CASE_SCHEDULED, dict(
                _case_fields(case), description=case.description, address=case.address,
                enterprise=case.enterprise, accepted_at=_iso(case.accepted_at),
                expected_by=payload["deadline"], has_complainant=_has_contact(case),
                reported_by=_reporter(case)))
    elif kind == events.TASK_EXTENDED:
        case.deadline = datetime.fromisoformat(payload["deadline"])
        _history(uow, case, "extended", when, deadline=payload["deadline"],
                 reason=payload["reason"])
    elif kind == events.TASK_VERIFIED:
        case.status = "resolved"
        case.result = payload["result"]
        case.founded = payload["founded"]
        case.rating_token = secrets.token_urlsafe(12)
        _history(uow, case, "verified", when, result=payload["result"],
                 founded=payload["founded"])
        # The reported enterprise (never the complainant) lets ranking count violations.
        uow.emit(events.CASE_FEEDBACK, dict(_case_fields(case), result=case.result,
                                            founded=case.founded,
                                            has_complainant=_has_contact(case),
                                            rating_token=case.rating_token,
                                            reported_by=_reporter(case),
                                            enterprise=case.enterprise,
                                            enterprise_key=domain.normalise_enterprise(
                                                case.enterprise),
                                            incident=case.incident,
                                            verified_at=payload.get("verified_at")))
        _history(uow, case, "feedback_sent")
    else:
        if kind == events.TASK_CLOSED and case.status == "assigned":
            case.status = "in_progress"
        detail = {k: payload.get(k) for k in ("result", "founded", "note", "reason", "rung",
                                              "rung_name", "to_grid_code", "days", "outcome")
                  if k in payload}
        _history(uow, case, kind.removeprefix("task_"), when, **detail)


# --- the acceptance sweep (受理时限) ---------------------------------------------------------------
SWEEP_BATCH = 500


def sweep_acceptance(uow, limit: int = SWEEP_BATCH) -> int:
    """Warn the handling region's intake of undecided cases whose acceptance limit is running
    out, and raise the overdue alert when it has lapsed. Rows are locked (SKIP LOCKED) and their
    flags change in the same transaction as the outbox events, so however many instances sweep,
    each alert fires once."""
    query = (select(Case).where(Case.accept_check_at <= uow.now, Case.status == "received")
             .order_by(Case.accept_check_at).limit(limit))
    if uow.session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    cases = uow.session.scalars(query).all()
    for case in cases:
        check = domain.acceptance_check(case.accept_warn_at, case.accept_deadline,
                                        case.accept_warned_at is not None,
                                        case.accept_overdue_at is not None, uow.now)
        for alert in check.alerts:
            event, action = _ACCEPTANCE_ALERTS[alert]
            _history(uow, case, action, accept_due=case.accept_due.isoformat(),
                     accept_deadline=case.accept_deadline.isoformat())
            uow.emit(event, dict(_case_fields(case), received_at=case.received_at.isoformat(),
                                 accept_due=case.accept_due.isoformat(),
                                 accept_deadline=case.accept_deadline.isoformat()))
        if check.warned and case.accept_warned_at is None:
            case.accept_warned_at = uow.now
        if check.overdue and case.accept_overdue_at is None:
            case.accept_overdue_at = uow.now
        case.accept_check_at = check.next_check_at
    return len(cases)


_ACCEPTANCE_ALERTS = {"warning": (events.CASE_ACCEPT_WARNING, "accept_warning"),
                      "overdue": (events.CASE_ACCEPT_OVERDUE, "accept_overdue")}


# --- views ------------------------------------------------------------------------------------
def case_view(case: Case, principal: Principal) -> dict:
    """The case as ``principal`` may see it; the complainant only for intake staff in scope."""
    view = {
        "case_no": case.case_no, "status": case.status, "channel": case.channel,
        "category": case.category, "categories": case.categories, "priority": case.priority,
        "region_code": case.region_code, "grid_code": case.grid_code,
        "received_at": _iso(case.received_at), "accept_due": _iso(case.accept_due),
        "deadline": _iso(case.deadline), "agency": case.agency, "result": case.result,
        "founded": case.founded, "repeat_count": case.repeat_count,
        "merged_into": case.merged_into, "decline_reason": case.decline_reason,
        "rating": case.rating_score, "updated_at": _iso(case.updated_at),
    }
    if principal.role == "public":
        view["history"] = [{"at": _iso(h.at), "action": h.action} for h in case.history]
        return view
    view.update(description=case.description, address=case.address, lat=case.lat, lon=case.lon,
                enterprise=case.enterprise, river=case.river, incident=case.incident,
                media=case.media, task_id=case.task_id, assignee=case.assignee_name,
                accept_deadline=_iso(case.accept_deadline), accept_warn_at=_iso(
                    case.accept_warn_at), accept_warned_at=_iso(case.accept_warned_at),
                accept_overdue_at=_iso(case.accept_overdue_at),
                history=[{"at": _iso(h.at), "action": h.action, "actor_id": h.actor_id,
                          "actor_role": h.actor_role, "detail": h.detail} for h in case.history])
    if may_see_complainant(principal, case.region_code):
        c = case.complainant
        view["complainant"] = None if c is None else {
            "name": c.name, "phone": c.phone_raw, "phone_e164": c.phone_e164,
            "phone_kind": c.phone_kind, "phone_flag": c.phone_flag, "email": c.email}
    return view


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def contact_for_notification(uow, case_no: str) -> dict | None:
    """The complainant's contact, for notify to reach this complainant and nobody else; not
    the name, which notify does not need."""
    case = uow.session.scalars(select(Case).where(Case.case_no == case_no)).first()
    if case is None or case.complainant is None:
        return None
    c = case.complainant
    return {"phone_e164": c.phone_e164, "phone_raw": c.phone_raw,
            "phone_kind": c.phone_kind, "email": c.email, "language": c.language}


# --- referral (转办) ---------------------------------------------------------------------------
def refer(uow, case_no: str, to_region, reason, principal: Principal, policy: Policy) -> Case:
    """Hand a case received here over to the region where it happened. It arrives there as a
    received case for that region's intake to accept or decline (the receiving acceptance),
    within that region's own acceptance limit, counted from the referral."""
    case = _get(uow, case_no, lock=True)
    require_scope(principal, case.region_code)
    domain.require_status("refer", case.status)
    if not isinstance(to_region, str) or not domain.is_division_code(to_region):
        raise ValidationError("to_region must be a 6 digit division code", code="invalid_value",
                              field="to_region")
    if to_region == case.region_code[:6]:
        raise ValidationError("the case is already in that region", code="same_region",
                              field="to_region")
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("a reason is required", code="missing_field", field="reason")
    from_region = case.region_code
    case.referred_from, case.region_code, case.grid_code = from_region, to_region, None
    _start_acceptance(case, policy.for_region(to_region), uow.now)
    _history(uow, case, "referred", from_region=from_region, to_region=to_region,
             reason=reason.strip(), accept_due=case.accept_due.isoformat())
    uow.emit(events.CASE_REFERRED, dict(_case_fields(case), from_region=from_region,
                                        to_region=to_region, reason=reason.strip(),
                                        has_complainant=_has_contact(case),
                                        accept_due=case.accept_due.isoformat()))
    return case


# --- online monitoring (小时均值超标) -------------------------------------------------------------
def record_reading(uow, reading: dict, policy: Policy, principal: Principal) -> dict:
    """Record an hourly reading; an exceedance opens a case, or adds to the open one for the
    same enterprise, outlet and pollutant. A resent reading changes nothing."""
    r = domain.validate_reading(reading)
    require_scope(principal, r["region_code"])
    marker = f"{r['enterprise']} / {r['outlet']} / {r['pollutant']}"
    _take_turns(uow, f"monitoring:{marker}")
    exists = uow.session.scalars(select(MonitoringReading).where(
        MonitoringReading.enterprise == r["enterprise"], MonitoringReading.outlet == r["outlet"],
        MonitoringReading.pollutant == r["pollutant"], MonitoringReading.hour == r["hour"])
    ).first()
    if exists is not None:
        return {"exceedance": exists.value > exists.limit, "case_no": exists.case_no,
                "duplicate": True}
    row = MonitoringReading(**{k: r[k] for k in ("enterprise", "outlet", "pollutant", "hour",
                                                 "value", "limit")})
    uow.session.add(row)
    if r["value"] <= r["limit"]:
        return {"exceedance": False, "case_no": None, "duplicate": False}
    open_case = uow.session.scalars(_for_update(uow, select(Case).where(
        Case.channel == "monitoring", Case.enterprise == r["enterprise"],
        Case.address == marker, Case.status.in_(domain.OPEN_STATUSES)))).first()
    if open_case is not None:
        open_case.repeat_count += 1
        _history(uow, open_case, "exceedance", hour=r["hour"].isoformat(), value=r["value"],
                 limit=r["limit"])
        row.case_no = open_case.case_no
        return {"exceedance": True, "case_no": open_case.case_no, "duplicate": False}
    rules = policy.data.get("monitoring") or {}
    category = (rules.get("categories") or {}).get(r["pollutant"]) or rules.get(
        "default_category", "air.industrial")
    description = (f"{r['hour'].isoformat()} {r['pollutant']} 小时均值 {r['value']:g} "
                   f"超过限值 {r['limit']:g} {r.get('unit') or ''}").strip()
    case = submit(uow, {"channel": "monitoring", "category": category,
                        "description": description, "enterprise": r["enterprise"],
                        "address": marker, "region_code": r["region_code"],
                        "lat": r.get("lat"), "lon": r.get("lon")}, policy)
    row.case_no = case.case_no
    return {"exceedance": True, "case_no": case.case_no, "duplicate": False}
