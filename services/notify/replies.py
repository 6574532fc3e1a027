"""The satisfaction reply path (满意度回访): a complainant rates the result by replying to the
result SMS with its reply code and a score ("482913 5"), or by opening the short link.

Notify issued both (the code and the link are in its messages), so it maps them back to the
case; complaints owns the rating and records it (``complaints.rate`` over RPC), which emits
``case_rated`` as for any rating. Outcomes, each a specific error:

* ``invalid_reply`` (422): the text is not "CODE SCORE [comment]";
* ``reply_code_unknown`` (404): no open request with that code for the sender's number (the
  number is compared with the case's complainant at that moment; none is stored here);
* ``reply_code_used`` (409): already rated (by SMS, by the link, or through the API);
* ``reply_code_expired`` (410): older than ``reply_code.valid_days``, or replaced by the request
  of a later result of the same case (a reopened case is rated again).

The gateway may repeat a callback (it did not get our answer): a message id seen before gets
the first answer again, and nothing is rated twice.
"""
from __future__ import annotations

import re
import unicodedata

from nameko.exceptions import RemoteError
from sqlalchemy import select

from services.common.errors import REMOTE_TYPES, Conflict, DomainError, NotFound, ValidationError
from services.common.phones import parse_phone
from services.common.privacy import mask_phone, mask_text
from services.common.workdays import as_utc
from services.notify.models import InboundSms, ReplyCode

# "482913 5", "482913,5 很满意", "４８２９１３ ５" (full-width digits are normalised first).
_REPLY = re.compile(r"^\s*(\d{4,8})\s*[\s,，.。:：#＃、-]\s*([1-5])(?!\d)\s*(.*)$", re.S)
COMMENT_LIMIT = 1000


def parse_reply(text: str, length: int) -> tuple[str, int, str | None]:
    """``(code, score, comment)`` from a reply text; ValidationError when it is not one."""
    normal = unicodedata.normalize("NFKC", text or "")
    match = _REPLY.match(normal)
    if match is None or len(match.group(1)) != length:
        raise ValidationError(f"reply with the {length}-digit code and a score 1-5, "
                              "e.g. \"123456 5\"", code="invalid_reply", field="text")
    comment = match.group(3).strip()[:COMMENT_LIMIT] or None
    return match.group(1), int(match.group(2)), comment


def supersede(uow, case_no: str) -> None:
    """A new rating request for the case: earlier unused ones lapse (reply_code_expired)."""
    for row in uow.session.scalars(select(ReplyCode).where(ReplyCode.case_no == case_no,
                                                           ReplyCode.used_at.is_(None))):
        row.expires_at = min(as_utc(row.expires_at), uow.now)


def inbound_sms(uow, message: dict, complaints, settings) -> tuple[int, dict]:
    """Handle one inbound SMS; returns ``(status, answer)`` where the answer is the result or
    ``{"error": {...}}``. The outcome is recorded under the gateway's message id either way, so
    the caller commits and then raises the error for a 4xx."""
    seen = uow.session.get(InboundSms, message["message_id"])
    if seen is not None:
        return seen.status, dict(seen.outcome, duplicate=True)
    case_no = None
    try:
        code, score, comment = parse_reply(message["text"], settings.reply_code_length)
        row = _find(uow, code, message["from"], complaints)
        case_no = row.case_no
        answer = _rate(uow, row, score, comment, complaints, via="sms")
        status = 200
    except DomainError as err:
        status, answer = err.status, {"error": {"code": err.code, "message": err.message,
                                                "field": err.field}}
    uow.session.add(InboundSms(message_id=message["message_id"],
                               sender_masked=mask_phone(message["from"]),
                               text_masked=mask_text(message["text"])[:2000],
                               received_at=uow.now, case_no=case_no, status=status,
                               outcome=answer))
    return status, answer


def rate_by_link(uow, token: str, score: int, comment: str | None, complaints) -> dict:
    """The rating page behind the short link: the token in the link names the request."""
    row = _locked(uow, select(ReplyCode).where(ReplyCode.rating_token == token))
    if row is None:
        raise NotFound("no such rating link", code="rating_link_unknown", field="token")
    return _rate(uow, row, score, comment, complaints, via="web")


def link_status(uow, token: str) -> dict:
    """Whether the link may still be used (for the page to show a form or say why not)."""
    row = uow.session.scalars(select(ReplyCode).where(ReplyCode.rating_token == token)).first()
    if row is None:
        return {"state": "unknown"}
    if row.used_at is not None:
        return {"state": "used", "case_no": row.case_no}
    if as_utc(row.expires_at) <= uow.now:
        return {"state": "expired", "case_no": row.case_no}
    return {"state": "open", "case_no": row.case_no}


def _locked(uow, query):
    if uow.session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return uow.session.scalars(query).first()


def _find(uow, code: str, sender: str, complaints) -> ReplyCode:
    number = parse_phone(sender).e164
    candidates = uow.session.scalars(select(ReplyCode).where(ReplyCode.code == code)
                                     .order_by(ReplyCode.used_at.is_(None).desc(),
                                               ReplyCode.id.desc()).limit(20)).all()
    for row in candidates if number else ():
        contact = complaints.contact_for_notification(row.case_no) or {}
        if contact.get("phone_e164") == number:
            return _locked(uow, select(ReplyCode).where(ReplyCode.id == row.id))
    raise NotFound("no rating request with this code for this number",
                   code="reply_code_unknown", field="text")


def _rate(uow, row: ReplyCode, score: int, comment: str | None, complaints, via: str) -> dict:
    if row.used_at is not None:
        raise Conflict("this case has been rated already", code="reply_code_used")
    if as_utc(row.expires_at) <= uow.now:
        # A plain DomainError: only the catalogued error types cross RPC as themselves.
        raise DomainError("this rating request has expired", code="reply_code_expired",
                          status=410, field="text" if via == "sms" else "token")
    try:
        case = complaints.rate(row.case_no, score, comment, row.rating_token, None)
    except RemoteError as exc:
        err = DomainError.from_remote(exc.value) if exc.exc_type in REMOTE_TYPES else None
        if err is None:
            raise
        if err.code == "case_not_found":  # complaints spent the token: rated another way
            row.used_at, row.used_via = uow.now, "other"
            raise Conflict("this case has been rated already", code="reply_code_used")
        raise err
    row.used_at, row.used_via = uow.now, via
    return {"case_no": row.case_no, "score": score, "status": case["status"]}
