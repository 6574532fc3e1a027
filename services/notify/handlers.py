"""Notify's handlers: turn an event into recorded deliveries (planning), then send what is due
(delivery). Planning and sending are separate so that a message is recorded before any attempt,
survives crashes, and is sent at most once per event, recipient and channel."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace

import eventlet
from sqlalchemy import select

from services.common.errors import ValidationError
from services.common.regions import prefix
from services.common.workdays import as_utc
from services.notify import messages, replies
from services.notify.channels import DeliveryResult, Outgoing, mask_recipient
from services.notify.messages import Contact, Subscriptions
from services.notify.models import Delivery, InAppMessage, RecipientPreference, ReplyCode

log = logging.getLogger(__name__)
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")

ROLE_INBOX = "role:{role}:{scope}"
# Roles whose in-app messages go to a shared desk of the region (读取: the role's accounts there).
DESK_ROLES = ("intake", "liaison", "dispatcher")
# Notify reads the linkage agreements' liaison lists as a trusted service, for all regions.
SYSTEM_PRINCIPAL = {"id": "notify", "role": "admin", "scope": "*"}


@dataclass(frozen=True)
class Recipient:
    key: str            # stable identity for "once per event and recipient"
    user_id: str | None  # account id (or role inbox) for in-app; None for a complainant
    contact: Contact | None
    lang: str


class _Bounded:
    """An RPC proxy whose calls give up after ``seconds`` (a reply lost in a broker restart
    must not hang the worker that asked)."""

    def __init__(self, proxy, seconds: float):
        self._proxy, self._seconds = proxy, seconds

    def __getattr__(self, name):
        method = getattr(self._proxy, name)

        def call(*args, **kwargs):
            with eventlet.Timeout(self._seconds):
                return method(*args, **kwargs)
        return call


class _Remembered:
    """Staff look-ups on dispatch kept in ``cache`` (a TTLCache) for its time to live: every
    event and every send asks for the same few grid chiefs and accounts, and each RPC costs
    both services. Complainants' contacts are never kept: they are asked for at send time."""

    METHODS = ("find_person", "get_grid", "list_agreements")

    def __init__(self, proxy, cache):
        self._proxy, self._cache = proxy, cache

    def __getattr__(self, name):
        method = getattr(self._proxy, name)
        if name not in self.METHODS or self._cache is None:
            return method

        def call(*args):
            key = (name, json.dumps(args, sort_keys=True, default=str))
            try:
                return self._cache[key]
            except KeyError:
                value = self._cache[key] = method(*args)
                return value
        return call


class Directory:
    """Finds people: staff from the grid registry (dispatch), complainants from complaints.

    ``dispatch`` and ``complaints`` are RPC proxies (or anything with the same methods);
    ``staff_cache`` keeps dispatch's answers for a while (None: ask every time)."""

    def __init__(self, dispatch, complaints, default_lang: str, rpc_timeout: float = 10,
                 staff_cache=None):
        self.dispatch = _Remembered(_Bounded(dispatch, rpc_timeout), staff_cache)
        self.complaints = _Bounded(complaints, rpc_timeout)
        self.default_lang = default_lang

    def _staff(self, person: dict | None) -> Recipient | None:
        if not person or not person.get("id"):
            return None
        return Recipient(key=f"user:{person['id']}", user_id=person["id"],
                         contact=Contact(phone=person.get("phone"), user_id=person["id"],
                                         lang=self.default_lang), lang=self.default_lang)

    def _chief_of(self, code: str | None) -> Recipient | None:
        grid = self.dispatch.get_grid(code) if code else None
        return self._staff(grid and grid.get("chief"))

    def _desk(self, role: str, scope: str | None) -> Recipient:
        inbox = ROLE_INBOX.format(role=role, scope=(scope or "")[:6])
        return Recipient(key=inbox, user_id=inbox,
                         contact=Contact(user_id=inbox, lang=self.default_lang),
                         lang=self.default_lang)

    def liaisons(self, agreement_id: str | None, region_code: str | None) -> list[dict]:
        """The named liaison officers (联络员) of ``region_code`` in the agreement (every
        agreement when None), ``{id, name, phone}``, from dispatch's linkage agreements."""
        found = []
        for agreement in self.dispatch.list_agreements(SYSTEM_PRINCIPAL):
            if agreement_id and agreement["id"] != agreement_id:
                continue
            for party in agreement["parties"]:
                if region_code is None or party["region_code"] == region_code:
                    found.extend(p for p in party.get("liaisons") or () if p not in found)
        return found

    def _liaison_officer(self, person: dict) -> Recipient:
        # No platform account: reached by phone; the desk gets the in-app copy.
        return Recipient(key=f"liaison:{person['id']}", user_id=person["id"],
                         contact=Contact(phone=person.get("phone"), lang=self.default_lang),
                         lang=self.default_lang)

    def resolve(self, planned: messages.Planned, payload: dict) -> list[Recipient]:
        role = planned.role
        if role == "complainant":
            contact = self.complaints.contact_for_notification(payload["case_no"])
            if contact is None:
                return []
            lang = contact.get("language") or self.default_lang
            return [Recipient(key=f"complainant:{payload['case_no']}", user_id=None,
                              contact=Contact(phone=contact.get("phone_e164")
                                              or contact.get("phone_raw"),
                                              email=contact.get("email"), lang=lang),
                              lang=lang)]
        if role == "assignee":
            person = payload.get("assignee") or {}
            found = self.dispatch.find_person(person.get("id")) if person.get("id") else None
            recipient = self._staff(found or person)
            return [recipient] if recipient else []
        if role == "reporter":
            reporter = payload.get("reported_by")
            found = self.dispatch.find_person(reporter) if reporter else None
            recipient = self._staff(found or ({"id": reporter} if reporter else None))
            return [recipient] if recipient else []
        if role in ("grid_chief", "supervisor"):
            recipient = self._chief_of(planned.scope)
            return [recipient] if recipient else []
        if role == "liaison":
            region = (planned.scope or "")[:6]
            found = [self._desk("liaison", region)]
            if set(planned.channels) & {"sms", "email"}:
                found += [self._liaison_officer(p)
                          for p in self.liaisons(payload.get("agreement_id"), region)]
            return found
        if role in DESK_ROLES:  # the desks whose inbox ``inbox`` shows their staff
            return [self._desk(role, planned.scope)]
        return []


def plan_deliveries(uow, payload: dict, subs: Subscriptions, directory: Directory,
                    policy: dict, available: set[str]) -> int:
    """Record every message an event calls for, on the channels this deployment has (an SMS
    planned where no SMS gateway is configured falls back like an SMS-less number).
    A complainant that no channel reaches is recorded as unreachable and the intake desk is
    told, so someone phones back. Re-planning the same event adds nothing.

    Without autoflush: each look-up would first write the deliveries planned so far, one
    flush per recipient; they go in together at the commit."""
    with uow.session.no_autoflush:
        return _plan(uow, payload, subs, directory, policy, available)


def _plan(uow, payload, subs, directory, policy, available) -> int:
    created = 0
    for planned in subs.plan(payload):
        for recipient in directory.resolve(planned, payload):
            recipient = _with_preferences(uow, recipient, subs.settings.languages)
            channels = messages.choose_channels(planned.channels,
                                                _deployed(recipient.contact, available))
            context = messages.build_context(payload, recipient.lang, subs.settings,
                                             policy=policy)
            if planned.role == "complainant" and payload.get("rating_token"):
                _record_reply_code(uow, payload, context, subs.settings)
            created += _record(uow, payload, planned, recipient, channels, context, subs)
            notice = subs.unreachable_notice(payload, planned) \
                if channels == [messages.UNREACHABLE] else None
            if notice is not None:
                created += _plan_notice(uow, payload, notice, planned, subs, directory, policy,
                                        available)
    return created


def _plan_notice(uow, payload, notice, missed, subs, directory, policy, available) -> int:
    created = 0
    for desk in directory.resolve(notice, payload):
        # Its own key: the desk may get another message for the same event.
        desk = replace(desk, key=f"{desk.key}:unreachable")
        context = dict(messages.build_context(payload, desk.lang, subs.settings, policy=policy),
                       missed_kind=missed.kind)
        channels = messages.choose_channels(notice.channels, _deployed(desk.contact, available))
        created += _record(uow, payload, notice, desk, channels, context, subs)
    return created


def _deployed(contact: Contact | None, available: set[str]) -> Contact | None:
    if contact is None:
        return None
    return Contact(phone=contact.phone if "sms" in available else None,
                   email=contact.email if "email" in available else None,
                   user_id=contact.user_id, lang=contact.lang)


def _record(uow, payload, planned, recipient, channels, context, subs) -> int:
    # Deliveries planned in this unit of work are not written yet (no autoflush), so the query
    # cannot see them: they are the session's new objects (a rollback drops them).
    pending = {(d.recipient_key, d.channel) for d in uow.session.new
               if isinstance(d, Delivery) and d.event_id == payload["event_id"]}
    created = 0
    for channel in channels:
        if (recipient.key, channel) in pending or uow.session.scalars(select(Delivery.id).where(
                Delivery.event_id == payload["event_id"], Delivery.recipient_key == recipient.key,
                Delivery.channel == channel)).first() is not None:
            continue
        uow.session.add(_delivery(uow, payload, planned, recipient, channel, context, subs))
        pending.add((recipient.key, channel))
        created += 1
    return created


def _preference(uow, account_id: str | None) -> RecipientPreference | None:
    if not account_id or account_id.startswith("role:"):
        return None
    return uow.session.get(RecipientPreference, account_id)


def _with_preferences(uow, recipient: Recipient, languages) -> Recipient:
    """A staff account's own language and work e-mail, when it has set them."""
    pref = _preference(uow, recipient.user_id) if recipient.contact else None
    if pref is None:
        return recipient
    lang = pref.language if pref.language in languages else recipient.lang
    contact = replace(recipient.contact, lang=lang, email=pref.email or recipient.contact.email)
    return replace(recipient, lang=lang, contact=contact)


def _record_reply_code(uow, payload: dict, context: dict, settings) -> None:
    """Remember the rating request, so a reply code or a link click finds its case."""
    token = payload["rating_token"]
    if uow.session.scalars(select(ReplyCode.id).where(ReplyCode.rating_token == token)).first():
        return
    replies.supersede(uow, payload["case_no"])
    uow.session.add(ReplyCode(code=context["reply_code"], case_no=payload["case_no"],
                              rating_token=token, created_at=uow.now,
                              expires_at=uow.now + settings.reply_code_valid))
    uow.session.flush()


def _delivery(uow, payload, planned, recipient, channel, context, subs) -> Delivery:
    base = dict(event_id=payload["event_id"], event_type=payload["event_type"],
                case_no=payload.get("case_no"), region_code=payload.get("region_code"),
                kind=planned.kind, role=planned.role,
                recipient_key=recipient.key, recipient_id=recipient.user_id, channel=channel,
                language=recipient.lang, urgent=planned.urgent, attempts=0,
                created_at=uow.now, next_attempt_at=uow.now)
    if channel == messages.UNREACHABLE:
        base["next_attempt_at"] = None
        return Delivery(**base, status="unreachable", body="",
                        last_error="no channel can reach this recipient")
    rendered = messages.render(planned.kind, recipient.lang,
                               "log" if channel == "log" else channel, context,
                               sms=subs.settings.sms)
    address = _address(recipient, channel)
    return Delivery(**base, status="pending", subject=rendered.subject, body=rendered.text,
                    html=rendered.html, address_masked=mask_recipient(address or ""))


def _address(recipient: Recipient, channel: str) -> str | None:
    c = recipient.contact
    if c is None:
        return None
    return {"sms": c.phone, "email": c.email, "in_app": c.user_id}.get(channel, recipient.key)


def deliver_due(uow, subs: Subscriptions, directory: Directory, channels: dict,
                limit: int = 100) -> int:
    """Send the deliveries that are due. Rows are locked (SKIP LOCKED) so that two instances
    never send the same message; the provider also gets the delivery id as idempotency key."""
    query = (select(Delivery).where(Delivery.status.in_(("pending", "held", "retrying")),
                                    Delivery.next_attempt_at <= uow.now)
             .order_by(Delivery.next_attempt_at).limit(limit))
    if uow.session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    due = uow.session.scalars(query).all()
    for delivery in due:
        _attempt(uow, delivery, subs, directory, channels)
    return len(due)


def _attempt(uow, d: Delivery, subs, directory: Directory, channels: dict) -> None:
    settings = subs.settings
    if messages.is_quiet(uow.now, settings, d.urgent):
        d.status, d.next_attempt_at = "held", messages.release_time(uow.now, settings)
        return
    if d.channel in ("sms", "email"):
        recent = uow.session.scalars(select(Delivery.sent_at).where(
            Delivery.recipient_key == d.recipient_key, Delivery.status == "sent",
            Delivery.sent_at >= uow.now - settings.rate_window)).all()
        decision = messages.RateLimiter.allowed([as_utc(t) for t in recent], uow.now, settings,
                                                urgent=d.urgent)
        if not decision:
            d.status, d.next_attempt_at = "held", decision.next_allowed
            return
    to = _current_address(uow, d, directory)
    if to is None:
        d.status, d.next_attempt_at, d.last_error = "unreachable", None, "address no longer known"
        return
    channel = channels.get(d.channel)
    if channel is None:
        result = DeliveryResult(ok=False, error=f"channel {d.channel} not configured",
                                retryable=True)
    else:
        result = channel.send(Outgoing(message_id=f"envgrid-{d.id}", to=to, text=d.body,
                                       subject=d.subject, html=d.html,
                                       signature=settings.sms.signature, kind=d.kind,
                                       lang=d.language))
    d.attempts += 1
    if result.ok:
        d.status, d.sent_at, d.next_attempt_at = "sent", uow.now, None
        d.provider_id, d.last_error = result.provider_id, None
        if d.channel == "in_app":
            uow.session.add(InAppMessage(delivery_id=d.id, recipient_id=to,
                                         event_type=d.event_type, case_no=d.case_no,
                                         subject=d.subject, body=d.body, created_at=uow.now))
        return
    d.last_error = (result.error or "failed")[:500]
    wait = messages.backoff(d.attempts, settings) if result.retryable else None
    if wait is None:
        d.status, d.next_attempt_at = "failed", None
        log.warning("delivery %s via %s to %s failed for good: %s", d.id, d.channel,
                    d.address_masked, d.last_error)
    else:
        d.status, d.next_attempt_at = "retrying", uow.now + wait


def _current_address(uow, d: Delivery, directory: Directory) -> str | None:
    """Where the message goes now: contacts are looked up at send time, never stored."""
    if d.channel == "in_app":
        return d.recipient_id
    if d.channel == "log":
        return d.recipient_key
    if d.role == "complainant":
        contact = directory.complaints.contact_for_notification(d.case_no)
        if contact is None:
            return None
        return (contact.get("phone_e164") or contact.get("phone_raw")) if d.channel == "sms" \
            else contact.get("email")
    if d.role == "liaison":
        person = next((p for p in directory.liaisons(None, None)
                       if p.get("id") == d.recipient_id), None)
    else:
        person = directory.dispatch.find_person(d.recipient_id) if d.recipient_id else None
    if not person:
        return None
    if d.channel == "sms":
        return person.get("phone")
    pref = _preference(uow, d.recipient_id)
    return (pref.email if pref else None) or person.get("email")


def inbox(uow, principal: dict, filters: dict) -> list[dict]:
    """In-app messages of an account, plus those of its role's desk in its region."""
    ids = [principal.get("id")]
    if principal.get("role") in DESK_ROLES and principal.get("scope"):
        ids.append(ROLE_INBOX.format(role=principal["role"], scope=principal["scope"][:6]))
    rows = uow.session.scalars(select(InAppMessage).where(InAppMessage.recipient_id.in_(ids))
                               .order_by(InAppMessage.id.desc())
                               .limit(_limit(filters, 50, 200))).all()
    return [{"id": m.id, "event_type": m.event_type, "case_no": m.case_no,
             "subject": m.subject, "body": m.body, "created_at": m.created_at.isoformat(),
             "read": m.read_at is not None} for m in rows]


DELIVERY_STATUSES = ("pending", "held", "retrying", "sent", "failed", "unreachable")


def delivery_log(uow, filters: dict, principal: dict | None = None) -> list[dict]:
    """The delivery log (发送记录): what went to whom, when, and what failed or could reach
    nobody. Addresses masked, never in clear; staff see their own region's deliveries."""
    query = select(Delivery).order_by(Delivery.id.desc())
    scope = (principal or {}).get("scope", "*")
    if scope != "*":
        query = query.where(Delivery.region_code.startswith(prefix(scope)))
    if filters.get("case_no"):
        query = query.where(Delivery.case_no == filters["case_no"])
    if filters.get("status") not in (None, "", "all"):  # "all" as for the task list
        if filters["status"] not in DELIVERY_STATUSES:
            raise ValidationError("status must be all or one of " + ", ".join(DELIVERY_STATUSES),
                                  code="invalid_value", field="status")
        query = query.where(Delivery.status == filters["status"])
    rows = uow.session.scalars(query.limit(_limit(filters, 100, 500))).all()
    return [{"id": d.id, "event_type": d.event_type, "kind": d.kind, "role": d.role,
             "channel": d.channel, "to": d.address_masked, "status": d.status,
             "attempts": d.attempts, "last_error": d.last_error, "case_no": d.case_no,
             "region_code": d.region_code, "language": d.language,
             "created_at": d.created_at.isoformat(),
             "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
             "sent_at": d.sent_at.isoformat() if d.sent_at else None}
            for d in rows]


def _limit(filters: dict, default: int, most: int) -> int:
    try:
        return min(max(int(filters.get("limit", default)), 1), most)
    except (TypeError, ValueError):
        return default


def set_preferences(uow, principal: dict, prefs: dict, languages) -> dict:
    """A staff account sets its own notification language and work e-mail (None clears)."""
    account = principal.get("id")
    if not account:
        raise ValidationError("preferences belong to an account", code="account_required")
    if prefs.get("language") not in (None, *languages):
        raise ValidationError("language must be one of " + ", ".join(languages),
                              code="invalid_value", field="language")
    email = prefs.get("email")
    if email is not None and not _EMAIL.fullmatch(email):
        raise ValidationError("email is not an e-mail address", code="invalid_value",
                              field="email")
    row = uow.session.get(RecipientPreference, account) \
        or RecipientPreference(account_id=account, updated_at=uow.now)
    for key in ("language", "email"):
        if key in prefs:
            setattr(row, key, prefs[key])
    row.updated_at = uow.now
    uow.session.add(row)
    return get_preferences(uow, principal, row)


def get_preferences(uow, principal: dict, row=None) -> dict:
    row = row or _preference(uow, principal.get("id"))
    return {"language": row.language if row else None, "email": row.email if row else None}
