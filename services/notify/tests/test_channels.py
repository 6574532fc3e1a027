"""Channels against real local servers: an HTTP SMS gateway stub and an aiosmtpd SMTP server."""
from __future__ import annotations

import base64
import email
import email.policy
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from services.notify.channels import (InAppChannel, LogChannel, Outgoing, SmsHttpGateway,
                                      SmtpEmail)
from tests.notify_standins import write_answer

MOBILE = "13800138000"


# --- SMS gateway ----------------------------------------------------------------------------

class _Gateway:
    """A tiny SMS gateway: records requests, answers with the next scripted reply."""

    def __init__(self):
        self.requests: list[dict] = []
        self.replies: list[tuple[int, str, float]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                gateway.requests.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                         "headers": dict(self.headers), "raw": body,
                                         "json": json.loads(body)})
                status, text, delay = gateway.replies.pop(0) if gateway.replies else (200, "{}", 0)
                time.sleep(delay)
                write_answer(self, status, text.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms/send"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    gw = _Gateway()
    yield gw
    gw.close()


def _sms(to=MOBILE, message_id="m-1"):
    return Outgoing(message_id=message_id, to=to, text="您反映的案件已受理。", signature="【萍乡生态环境】")


def test_sms_success_posts_the_contract(gateway):
    gateway.replies.append((200, '{"id": "gw-77"}', 0))
    result = SmsHttpGateway(gateway.url, "envgrid", "s3cret", timeout=2).send(_sms())
    assert result.ok and result.provider_id == "gw-77" and result.error is None
    (req,) = gateway.requests
    assert req["path"] == "/sms/send"
    assert req["json"] == {"to": "+8613800138000", "text": "您反映的案件已受理。",
                           "signature": "【萍乡生态环境】", "client_ref": "m-1"}
    assert req["auth"] == "Basic " + base64.b64encode(b"envgrid:s3cret").decode()


def test_sms_api_key_signature_and_idempotency_key(gateway):
    from services.notify.channels import sign_request
    sms = SmsHttpGateway(gateway.url, timeout=2, api_key="k-123", signing_secret="s3cret",
                         now=lambda: 1_790_000_000.7)
    assert sms.send(_sms(message_id="envgrid-7")).ok
    (req,) = gateway.requests
    headers = req["headers"]
    assert req["auth"] is None  # no basic auth without a user name
    assert headers["X-Api-Key"] == "k-123" and headers["Idempotency-Key"] == "envgrid-7"
    assert headers["X-Timestamp"] == "1790000000"
    # Signed over the exact bytes posted, so the gateway can check them as received.
    assert headers["X-Signature"] == sign_request("s3cret", "1790000000", req["raw"])
    assert headers["X-Signature"] != sign_request("other", "1790000000", req["raw"])
    assert req["json"]["client_ref"] == "envgrid-7"


@pytest.mark.parametrize("status,retryable", [(500, True), (503, True), (429, True),
                                              (400, False), (401, False), (422, False)])
def test_sms_http_errors(gateway, status, retryable):
    gateway.replies.append((status, '{"error": "nope"}', 0))
    result = SmsHttpGateway(gateway.url, "u", "p", timeout=2).send(_sms())
    assert not result.ok and result.retryable is retryable
    assert result.error.startswith(f"http_{status}")


def test_sms_error_body_does_not_leak_the_number(gateway):
    gateway.replies.append((400, f'{{"error": "blacklisted number {MOBILE}"}}', 0))
    result = SmsHttpGateway(gateway.url, "u", "p", timeout=2).send(_sms())
    assert not result.ok and MOBILE not in result.error and "blacklisted" in result.error


def test_sms_timeout_is_retryable(gateway):
    gateway.replies.append((200, "{}", 1.0))
    started = time.monotonic()
    result = SmsHttpGateway(gateway.url, "u", "p", timeout=0.2).send(_sms())
    assert not result.ok and result.retryable and result.error == "timeout"
    assert time.monotonic() - started < 0.9


def test_sms_connection_refused_is_retryable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = SmsHttpGateway(f"http://127.0.0.1:{port}/", "u", "p", timeout=1).send(_sms())
    assert not result.ok and result.retryable and result.error.startswith("connection_error")


def test_fixed_line_is_not_sms_capable_and_is_not_sent(gateway):
    result = SmsHttpGateway(gateway.url, "u", "p", timeout=2).send(_sms(to="0757-83331814"))
    assert (result.ok, result.error, result.retryable) == (False, "not_sms_capable", False)
    assert gateway.requests == []


# --- SMTP -----------------------------------------------------------------------------------

class _Sink:
    def __init__(self):
        self.envelopes = []
        self.rcpt_reply: str | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server():
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


def _mail(**kw):
    fields = dict(message_id="m-42", to="complainant@example.cn",
                  subject="【办理结果】案件 360323-20261123-0001 已办结，请评价",
                  text="您好：\n\n您反映的案件已办结。处理结果：异味源已封堵。",
                  html="<p>您反映的案件已办结。<strong>异味源已封堵</strong></p>")
    fields.update(kw)
    return Outgoing(**fields)


def test_smtp_delivers_utf8_subject_text_and_html(smtp_server):
    sink, port = smtp_server
    result = SmtpEmail("127.0.0.1", port, "noreply@hbj.pingxiang.gov.cn").send(_mail())
    assert result.ok and result.provider_id == "<m-42@hbj.pingxiang.gov.cn>"
    (env,) = sink.envelopes
    assert env.mail_from == "noreply@hbj.pingxiang.gov.cn"
    assert env.rcpt_tos == ["complainant@example.cn"]
    msg = email.message_from_bytes(env.original_content, policy=email.policy.default)
    assert msg["Subject"] == "【办理结果】案件 360323-20261123-0001 已办结，请评价"
    assert msg.get_body(("plain",)).get_content().strip().endswith("处理结果：异味源已封堵。")
    assert "<strong>异味源已封堵</strong>" in msg.get_body(("html",)).get_content()
    assert msg["Message-ID"] == "<m-42@hbj.pingxiang.gov.cn>"


@pytest.mark.parametrize("reply,retryable", [("550 5.1.1 No such user", False),
                                             ("450 4.2.1 Mailbox busy", True)])
def test_smtp_refused_recipient(smtp_server, reply, retryable):
    sink, port = smtp_server
    sink.rcpt_reply = reply
    result = SmtpEmail("127.0.0.1", port, "noreply@example.cn").send(_mail())
    assert not result.ok and result.retryable is retryable and sink.envelopes == []


def test_smtp_down_is_retryable():
    result = SmtpEmail("127.0.0.1", _free_port(), "noreply@example.cn", timeout=1).send(_mail())
    assert not result.ok and result.retryable


def test_smtp_without_address_is_final():
    result = SmtpEmail("127.0.0.1", 1, "noreply@example.cn").send(_mail(to=""))
    assert (result.ok, result.error, result.retryable) == (False, "no_address", False)


# --- in-app and log -------------------------------------------------------------------------

def test_in_app_stores_through_the_callback():
    stored = []
    result = InAppChannel(lambda m: stored.append(m) or 42).send(_mail(to="u-gw-0001"))
    assert result.ok and result.provider_id == "42" and stored[0].to == "u-gw-0001"


def test_in_app_store_failure_is_retryable():
    def broken(message):
        raise ConnectionError("db down")
    result = InAppChannel(broken).send(_mail(to="u-gw-0001"))
    assert not result.ok and result.retryable


def test_log_masks_the_recipient(caplog):
    logger = logging.getLogger("test.notify.log")
    with caplog.at_level(logging.INFO, logger="test.notify.log"):
        result = LogChannel(logger).send(_sms())
    assert result.ok
    assert MOBILE not in caplog.text
    assert "您反映的案件已受理。" in caplog.text and "m-1" in caplog.text
