"""Authentication of the SMS gateway's callbacks (短信上行回调): a shared secret, never a token.

The gateway signs each callback: ``X-Timestamp`` (Unix seconds) and ``X-Signature``, the hex
HMAC-SHA256 under ``ENVGRID_SMS_INBOUND_SECRET`` of the canonical text

    "{timestamp}\\n{message_id}\\n{from}\\n{text}"

(fields rather than raw bytes, so re-encoding the JSON on the way cannot break it). A request
more than ``MAX_SKEW_SECONDS`` from our clock is refused, so a captured callback cannot be
replayed later; a replay within the window is answered from notify's record of the message id.
"""
from __future__ import annotations

import hashlib
import hmac
import os
from datetime import datetime

from services.common.errors import DomainError
from services.gateway.auth import Unauthorized

SECRET_ENV = "ENVGRID_SMS_INBOUND_SECRET"
MAX_SKEW_SECONDS = 300


def canonical(timestamp: str, body: dict) -> bytes:
    return "\n".join([timestamp, body["message_id"], body["from"], body["text"]]).encode("utf-8")


def sign(secret: str, timestamp: str, body: dict) -> str:
    return hmac.new(secret.encode("utf-8"), canonical(timestamp, body), hashlib.sha256).hexdigest()


def verify(headers, body: dict, now: datetime) -> None:
    """Raise 401 unless the callback is signed with the shared secret and fresh; 503 when no
    secret is configured (inbound SMS is then off, and nothing unsigned is ever accepted)."""
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        raise DomainError("inbound SMS is not configured", code="inbound_sms_disabled",
                          status=503)
    stamp, signature = headers.get("X-Timestamp", ""), headers.get("X-Signature", "")
    if not stamp or not signature:
        raise Unauthorized("sign the callback (X-Timestamp, X-Signature)", code="bad_signature",
                           field="X-Signature")
    if not stamp.isdigit() or abs(now.timestamp() - int(stamp)) > MAX_SKEW_SECONDS:
        raise Unauthorized("X-Timestamp is missing, malformed or too far from now",
                           code="stale_request", field="X-Timestamp")
    if not hmac.compare_digest(sign(secret, stamp, body), signature.strip().lower()):
        raise Unauthorized("the signature does not match", code="bad_signature",
                           field="X-Signature")
