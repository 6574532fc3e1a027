"""Stand-ins for notify's outside world: an SMS gateway over HTTP and an SMTP server.

``SmsGatewayStandIn`` behaves like a commercial SMS gateway: it checks the API key and the
request signature, de-duplicates on the client's message id (``client_ref`` /
``Idempotency-Key``) unless told not to, answers with its own message id, and can be switched
off (connection refused), into errors (503), into hanging (the client times out before it
accepts anything) or into losing its answers (it accepts the message, then the client times
out). It also plays the inbound side: ``reply()`` posts a complainant's SMS reply to the
system's callback, signed with the shared secret, as the real gateway would.
"""
from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from aiosmtpd.controller import Controller


def write_answer(handler: BaseHTTPRequestHandler, status: int, data: bytes) -> None:
    """A JSON answer, unless the client has given up waiting for it (a timeout)."""
    try:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
    except OSError:
        pass


@dataclass
class Sms:
    """One SMS as the handset receives it."""
    to: str
    text: str
    signature: str
    client_ref: str
    gateway_id: str


@dataclass
class SmsGatewayStandIn:
    api_key: str
    signing_secret: str
    hang_seconds: float = 1.5
    idempotent: bool = True
    mode: str = "up"                 # up | error | hang | lose_response (and down: stopped)
    failing_numbers: set = field(default_factory=set)   # always answered 503
    requests: list = field(default_factory=list)        # every request that reached us
    delivered: list = field(default_factory=list)       # Sms, as handsets got them

    def __post_init__(self):
        self._lock = threading.Lock()
        self._accepted: dict[str, str] = {}   # client_ref -> our id
        self._server = None
        self.port = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/sms/send"

    # --- switching -------------------------------------------------------------------------
    def start(self, mode: str = "up") -> None:
        self.mode = mode
        if self._server is not None:
            return
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port or 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Down: the port refuses connections."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    # --- what arrived ----------------------------------------------------------------------
    def to_number(self, e164: str) -> list[Sms]:
        return [m for m in self.delivered if m.to == e164]

    def requests_for(self, client_ref: str) -> list[dict]:
        return [r for r in self.requests if r["client_ref"] == client_ref]

    # --- inbound: the complainant's reply ------------------------------------------------
    def reply(self, callback_url: str, inbound_secret: str, sender: str, text: str,
              now: float, message_id: str | None = None, secret: str | None = None):
        body = {"message_id": message_id or "up-" + uuid.uuid4().hex[:16], "from": sender,
                "to": "1069012369", "text": text}
        stamp = str(int(now))
        # The documented contract, computed here as the gateway's side would.
        signed = "\n".join([stamp, body["message_id"], body["from"], body["text"]]).encode()
        signature = hmac.new((secret or inbound_secret).encode(), signed,
                             hashlib.sha256).hexdigest()
        headers = {"X-Timestamp": stamp, "X-Signature": signature}
        return requests.post(callback_url, json=body, headers=headers, timeout=30), body

    # --- the HTTP side -----------------------------------------------------------------------
    def _verify(self, headers, raw: bytes) -> str | None:
        if headers.get("X-Api-Key") != self.api_key:
            return "bad api key"
        stamp = headers.get("X-Timestamp", "")
        expected = hmac.new(self.signing_secret.encode(), stamp.encode() + b"." + raw,
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("X-Signature", "")):
            return "bad signature"
        return None

    def _accept(self, body: dict) -> tuple[str, bool]:
        with self._lock:
            ref = body["client_ref"]
            if self.idempotent and ref in self._accepted:
                return self._accepted[ref], True
            gateway_id = "gw-" + uuid.uuid4().hex[:10]
            self._accepted[ref] = gateway_id
            self.delivered.append(Sms(body["to"], body["text"], body["signature"], ref,
                                      gateway_id))
            return gateway_id, False

    def _handler(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.loads(raw)
                mode = gateway.mode
                gateway.requests.append({"client_ref": body.get("client_ref"),
                                         "to": body.get("to"), "mode": mode,
                                         "idempotency_key": self.headers.get("Idempotency-Key")})
                problem = gateway._verify(self.headers, raw)
                if problem:
                    return self._answer(401, {"error": problem})
                if mode == "error" or body["to"] in gateway.failing_numbers:
                    return self._answer(503, {"error": "upstream carrier unavailable"})
                if mode == "hang":
                    time.sleep(gateway.hang_seconds)
                    return self._answer(503, {"error": "overloaded"})
                gateway_id, duplicate = gateway._accept(body)
                if mode == "lose_response":
                    time.sleep(gateway.hang_seconds)  # accepted; the answer comes too late
                return self._answer(200, {"id": gateway_id, "duplicate": duplicate})

            def _answer(self, status, payload):
                write_answer(self, status, json.dumps(payload).encode())

            def log_message(self, *args):
                pass

        return Handler


class SmtpStandIn:
    """A real SMTP server (aiosmtpd) that keeps every message it is given."""

    def __init__(self, port: int):
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=port)
        self.controller.start()
        self.port = port

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def to(self, address: str) -> list:
        return [m for rcpt, m in self.messages if address in rcpt]

    def stop(self) -> None:
        self.controller.stop()
