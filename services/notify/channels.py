"""Delivery channels (发送渠道): SMS over an HTTP gateway, e-mail over SMTP, in-app, log.

Each channel does one attempt and says how it went; it never sleeps or retries. The service
decides when to try again from ``DeliveryResult.retryable`` and ``messages.backoff``.
Recipients are logged and reported masked only (举报人保密).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import smtplib
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Callable, Protocol

import requests

from services.common.phones import can_receive_sms, mask_phone, parse_phone
from services.common.privacy import mask_email
from services.notify.messages import scrub_phones


@dataclass(frozen=True)
class Outgoing:
    """One message to one recipient on one channel (待发消息).

    ``message_id`` is stable across retries: gateways use it as the idempotency key, so a retry
    after a timeout cannot send the SMS twice. ``to`` is a phone number, an e-mail address or a
    platform user id, depending on the channel.
    """
    message_id: str
    to: str
    text: str
    subject: str | None = None
    html: str | None = None
    signature: str = ""
    kind: str = ""
    lang: str = "zh-CN"


@dataclass(frozen=True)
class DeliveryResult:
    ok: bool
    provider_id: str | None = None
    error: str | None = None
    retryable: bool = False


class Channel(Protocol):
    def send(self, message: Outgoing) -> DeliveryResult: ...


def mask_recipient(to: str) -> str:
    """Mask a recipient for logs: phones via ``mask_phone``, e-mail addresses with their domain
    (a whistle-blower's employer may be the reported enterprise), ids as they are."""
    if not to:
        return ""
    if "@" in to:
        return mask_email(to)
    if re.fullmatch(r"[\d\s+()-]{5,}", to):
        return mask_phone(to)
    return to


class SmsHttpGateway:
    """SMS via an HTTP JSON gateway (短信网关).

    POSTs ``{to (E.164), text, signature, client_ref}``; ``client_ref`` (also sent as the
    ``Idempotency-Key`` header) is the delivery's stable message id, so a gateway that
    de-duplicates on it sends one SMS however often a lost answer makes us retry.
    Credentials, each optional: basic auth (``username``/``password``), an API key header
    (``api_key`` in ``X-Api-Key``), and a signed request (``signing_secret``): ``X-Timestamp``
    (Unix seconds) and ``X-Signature`` = hex HMAC-SHA256 of ``"{timestamp}.{body}"``, the exact
    bytes posted. 2xx is success; 5xx / 408 / 429, network errors and timeouts are retryable;
    any other 4xx is final (retrying cannot help). A number that cannot take SMS (fixed line,
    service number) fails at once with ``not_sms_capable`` without a request.
    """

    def __init__(self, url: str, username: str = "", password: str = "", timeout: float = 10.0,
                 *, api_key: str | None = None, signing_secret: str | None = None,
                 now: Callable[[], float] = time.time):
        self.url = url
        self.auth = (username, password) if username else None
        self.timeout = timeout
        self.api_key = api_key
        self.signing_secret = signing_secret
        self.now = now

    def headers(self, body: bytes, message_id: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Idempotency-Key": message_id}
        if self.api_key:
            headers["X-Api-Key"] = self.api_key
        if self.signing_secret:
            stamp = str(int(self.now()))
            headers["X-Timestamp"] = stamp
            headers["X-Signature"] = sign_request(self.signing_secret, stamp, body)
        return headers

    def send(self, message: Outgoing) -> DeliveryResult:
        phone = parse_phone(message.to)
        if not can_receive_sms(phone):
            return DeliveryResult(False, None, "not_sms_capable", False)
        body = json.dumps({"to": phone.e164, "text": message.text,
                           "signature": message.signature, "client_ref": message.message_id},
                          ensure_ascii=False).encode("utf-8")
        try:
            response = requests.post(self.url, data=body, auth=self.auth, timeout=self.timeout,
                                     headers=self.headers(body, message.message_id))
        except requests.Timeout:
            return DeliveryResult(False, None, "timeout", True)
        except requests.RequestException as exc:
            return DeliveryResult(False, None, f"connection_error: {type(exc).__name__}", True)
        status = response.status_code
        if 200 <= status < 300:
            return DeliveryResult(True, _provider_id(response), None, False)
        # Gateways echo the number in error bodies; keep the delivery log free of it.
        detail = scrub_phones(response.text[:200]).strip()
        error = f"http_{status}" + (f": {detail}" if detail else "")
        return DeliveryResult(False, None, error, status >= 500 or status in (408, 429))


def sign_request(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"{timestamp}.{body}"`` (the gateway recomputes and compares)."""
    return hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                    hashlib.sha256).hexdigest()


def _provider_id(response: requests.Response) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    if isinstance(data, dict):
        for key in ("id", "message_id", "msg_id", "sid"):
            if data.get(key) is not None:
                return str(data[key])
    return None


class SmtpEmail:
    """E-mail over SMTP (电子邮件): a plain-text part plus an HTML alternative, UTF-8 throughout.

    4xx SMTP replies and connection problems are retryable; 5xx replies are final.
    """

    def __init__(self, host: str, port: int, sender: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10.0):
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout

    def build(self, message: Outgoing) -> EmailMessage:
        email = EmailMessage()  # policy.default: non-ASCII subjects are RFC 2047 encoded
        email["Subject"] = message.subject or ""
        email["From"] = self.sender
        email["To"] = message.to
        email["Date"] = formatdate(localtime=False)
        domain = self.sender.rpartition("@")[2] or "envgrid.local"
        email["Message-ID"] = f"<{message.message_id}@{domain}>"
        email.set_content(message.text, charset="utf-8")
        if message.html:
            email.add_alternative(message.html, subtype="html", charset="utf-8")
        return email

    def send(self, message: Outgoing) -> DeliveryResult:
        if not message.to or "@" not in message.to:
            return DeliveryResult(False, None, "no_address", False)
        email = self.build(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return DeliveryResult(False, None, f"recipient_refused: {codes}",
                                  any(400 <= c < 500 for c in codes))
        except smtplib.SMTPResponseException as exc:
            return DeliveryResult(False, None, f"smtp_{exc.smtp_code}", 400 <= exc.smtp_code < 500)
        except (smtplib.SMTPException, OSError) as exc:
            return DeliveryResult(False, None, f"connection_error: {type(exc).__name__}", True)
        return DeliveryResult(True, email["Message-ID"], None, False)


class InAppChannel:
    """In-app message (站内消息): hands the message to a store callback from the service.

    The callback returns an id (or None); if it raises, the attempt is retryable.
    """

    def __init__(self, store: Callable[[Outgoing], Any]):
        self.store = store

    def send(self, message: Outgoing) -> DeliveryResult:
        if not message.to:
            return DeliveryResult(False, None, "no_user", False)
        try:
            stored = self.store(message)
        except Exception as exc:  # the store is the service's; any failure may be transient
            return DeliveryResult(False, None, f"store_error: {type(exc).__name__}", True)
        return DeliveryResult(True, None if stored is None else str(stored), None, False)


class LogChannel:
    """Writes the message to a logger (日志渠道), for development and as a record of last resort.

    The recipient is masked; message texts never contain phone numbers (templates do not take
    contacts, and free text is scrubbed when the context is built).
    """

    def __init__(self, logger: logging.Logger | None = None):
        self.logger = logger or logging.getLogger("envgrid.notify")

    def send(self, message: Outgoing) -> DeliveryResult:
        self.logger.info("notify %s [%s] to %s: %s%s", message.message_id, message.kind,
                         mask_recipient(message.to),
                         f"{message.subject} | " if message.subject else "", message.text)
        return DeliveryResult(True, None, None, False)
