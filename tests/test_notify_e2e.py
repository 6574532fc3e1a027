"""Notify end to end through real channels: the whole system on RabbitMQ and PostgreSQL, its SMS
channel pointed at a stand-in SMS gateway over HTTP (API key, signed requests, de-duplication
on the client message id) and its e-mail channel at a real SMTP server (aiosmtpd).

The module runs its own copy of the system (own vhost, databases and ManualClock), because it
moves the clock through retry backoff and configures channels the shared ``system`` lacks.
Tests run in file order: the first ones share one flow; the last one moves the clock by weeks.
"""
from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timezone

import psycopg2
import psycopg2.extras
import pytest
import requests

from services.gateway.sms_callback import SECRET_ENV
from services.notify.messages import Subscriptions, sms_segments
from tests.casework import new_phone
from tests.fixtures import free_port, system_of_its_own, wait_for
from tests.notify_standins import SmsGatewayStandIn, SmtpStandIn

COUNTY, NEIGHBOUR = "360323", "360313"
VILLAGE, VILLAGE_2 = "360323101001", "360323101002"
START = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)   # Monday 09:00 in Pingxiang
API_KEY, SIGNING_SECRET, INBOUND_SECRET = "gw-key-7f3a", "gw-sign-51c9", "gw-inbound-a2d4"
SUBS = Subscriptions.load()
SIGNATURE = SUBS.settings.sms.signature
CJK = re.compile(r"[\u4e00-\u9fff]")
SENT_OR_FINAL = ("sent", "failed", "unreachable")
RESULT = "已现场核查，责令整改并复查合格"   # the officer's own words, quoted in any language


# --- the system with real channels -------------------------------------------------------------
class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record):
        if record.name.startswith("mail."):
            return  # aiosmtpd: the stand-in SMTP server is the outside world, not our logs
        try:
            self.lines.append(f"{record.name}: {record.getMessage()}")
        except Exception:  # noqa: BLE001 - a bad record must not break the test run
            self.lines.append(str(record.msg))


@pytest.fixture(scope="module")
def logs():
    handler, root = _Capture(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="module")
def sms():
    gateway = SmsGatewayStandIn(API_KEY, SIGNING_SECRET)
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def smtp():
    server = SmtpStandIn(free_port())
    yield server
    server.stop()


@pytest.fixture(scope="module")
def e2e(sms, smtp, logs, tmp_path_factory):
    env = pytest.MonkeyPatch()
    env.setenv(SECRET_ENV, INBOUND_SECRET)
    try:
        with system_of_its_own(tmp_path_factory, start=START, NOTIFY={
                "sms_gateway_url": sms.url, "sms_api_key": API_KEY,
                "sms_signing_secret": SIGNING_SECRET, "sms_timeout": 0.5,
                "smtp_host": "127.0.0.1", "smtp_port": smtp.port,
                "smtp_sender": "noreply@hbj.pingxiang.gov.cn"}) as system:
            yield system
    finally:
        env.undo()


# --- reading what happened --------------------------------------------------------------------
def _query(system, service, sql, params=()):
    conn = psycopg2.connect(system.databases[service])
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(sql, params)
            return [dict(r) for r in cur.fetchall()]
    finally:
        conn.close()


def deliveries(system, case_no=None):
    if case_no is None:
        return _query(system, "notify", "SELECT * FROM delivery ORDER BY id")
    return _query(system, "notify", "SELECT * FROM delivery WHERE case_no = %s ORDER BY id",
                  (case_no,))


def delivery_of(system, client_ref: str) -> dict:
    (row,) = _query(system, "notify", "SELECT * FROM delivery WHERE id = %s",
                    (int(client_ref.removeprefix("envgrid-")),))
    return row


def inapp(system, recipient_id):
    return _query(system, "notify", "SELECT * FROM inapp_message WHERE recipient_id = %s "
                  "ORDER BY id", (recipient_id,))


def outbox(system, service, event_type, case_no):
    return [r["payload"] for r in _query(system, service, "SELECT payload FROM outbox WHERE "
                                         "event_type = %s", (event_type,))
            if r["payload"].get("case_no") == case_no]


def sms_of(system, gateway, case_no, kind=None, to=None):
    """The SMS handsets got for a case (optionally one kind, one number), with their rows."""
    found = []
    for message in gateway.delivered:
        row = delivery_of(system, message.client_ref)
        if row["case_no"] == case_no and kind in (None, row["kind"]) and to in (None, message.to):
            found.append((message, row))
    return found


def wait_sms(system, gateway, case_no, kind, to, count=1):
    return wait_for(lambda: len(got := sms_of(system, gateway, case_no, kind, to)) >= count
                    and got, message=f"{kind} SMS for {case_no}")


def mails_for(smtp, address, case_no):
    return [m for m in smtp.to(address) if case_no in m["Subject"]]


def wait_rows(system, case_no, predicate, message):
    return wait_for(lambda: (rows := [d for d in deliveries(system, case_no) if predicate(d)])
                    and rows, message=message)


# --- driving the flow through the public API ----------------------------------------------------
def call(system, method, path, token=None, **kwargs):
    return system.call(method, path, token, **kwargs)


def grid(system, code):
    r = call(system, "GET", f"/api/v1/grids/{code}", "admin")
    assert r.status_code == 200, r.text
    return r.json()


def e164(number: str) -> str:
    return number if number.startswith("+") else "+86" + number


def file_complaint(system, complainant, description, grid_code=VILLAGE, category="air.odour",
                   channel="web"):
    if channel == "hotline":
        r = call(system, "POST", "/api/v1/intake", f"intake-{COUNTY}", json={
            "channel": "hotline", "category": category, "grid_code": grid_code,
            "description": description, "complainant": complainant})
    else:
        r = call(system, "POST", "/api/v1/complaints", json={
            "category": category, "grid_code": grid_code, "description": description,
            "complainant": complainant})
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


def case(system, case_no):
    r = call(system, "GET", f"/api/v1/cases/{case_no}", "admin")
    assert r.status_code == 200, r.text
    return r.json()


def accept(system, case_no) -> dict:
    r = call(system, "POST", f"/api/v1/cases/{case_no}/accept", f"intake-{COUNTY}", json={})
    assert r.status_code == 200, r.text
    task_id = wait_for(lambda: case(system, case_no).get("task_id"), message="task")
    r = call(system, "GET", f"/api/v1/tasks/{task_id}", "admin")
    assert r.status_code == 200, r.text
    return r.json()


def close_and_sign_off(system, task):
    r = call(system, "POST", f"/api/v1/tasks/{task['task_id']}/close", task["assignee"]["id"],
             json={"result": RESULT, "founded": True})
    assert r.status_code == 200, r.text
    r = call(system, "POST", f"/api/v1/tasks/{task['task_id']}/verify", f"supervisor-{COUNTY}",
             json={"approved": True, "note": "复核属实"})
    assert r.status_code == 200, r.text
    wait_for(lambda: case(system, task["case_no"])["status"] == "resolved", message="resolved")


def reply_code_in(text: str) -> str:
    match = re.search(r"(\d{6}) (?:SCORE|分数)", text)
    assert match, text
    return match.group(1)


def rating_token_in(text: str) -> str:
    match = re.search(r"/r/([A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


def reply(system, gateway, sender, text, message_id=None, secret=None):
    response, _ = gateway.reply(system.url("/api/v1/sms/inbound"), INBOUND_SECRET, sender,
                                text, system.clock.now().timestamp(), message_id, secret)
    return response


def resolved_case(system, gateway, phone, grid_code=VILLAGE_2):
    """A complaint carried to its result; returns (case_no, the result SMS text)."""
    case_no = file_complaint(system, {"phone": phone}, "夜间异味 " + uuid.uuid4().hex,
                             grid_code=grid_code, category="air.dust")
    close_and_sign_off(system, accept(system, case_no))
    ((message, _),) = wait_sms(system, gateway, case_no, "case_result", e164(phone))
    return case_no, message.text


# --- 1. the whole flow, through real channels --------------------------------------------------
@pytest.fixture(scope="module")
def flow(e2e, sms, smtp):
    """Five cases from intake to rating: a web complaint in English with mobile and e-mail (A),
    a hotline complaint from a landline (B), one with a 400 number and e-mail (C), one from a
    123xx service number (D), and a grid worker's patrol report (P). The grid chief reads in
    English (his preference); everyone else in Chinese."""
    village = grid(e2e, VILLAGE)
    chief, worker = village["chief"], village["workers"][0]
    supervisor = grid(e2e, COUNTY)["chief"]
    r = call(e2e, "PUT", "/api/v1/messages/preferences", chief["id"],
             json={"language": "en", "email": f"{chief['id']}@work.example.cn"})
    assert r.status_code == 200 and r.json()["language"] == "en", r.text

    a = {"name": "韩梅梅", "phone": new_phone(), "email": f"a{uuid.uuid4().hex[:8]}@mail.example.cn",
         "language": "en"}
    c = {"name": "李雷", "phone": "400-820-8820", "email": f"c{uuid.uuid4().hex[:8]}@mail.example.cn"}
    cases = {
        "A": file_complaint(e2e, a, f"Smoke from the kiln every night. Call me on {a['phone']} "
                                    f"or write to {a['email']}. " + uuid.uuid4().hex[:6]),
        "B": file_complaint(e2e, {"name": "王五", "phone": "0799-6688123"},
                            "河道排污 " + uuid.uuid4().hex[:6], channel="hotline",
                            category="water.industrial"),
        "C": file_complaint(e2e, c, "工地扬尘 " + uuid.uuid4().hex[:6], category="air.dust"),
        "D": file_complaint(e2e, {"phone": "12345"}, "夜间噪声 " + uuid.uuid4().hex[:6],
                            channel="hotline", category="noise.industrial"),
    }
    r = call(e2e, "POST", "/api/v1/reports", worker["id"], json={
        "category": "air.burning", "description": "秸秆焚烧 " + uuid.uuid4().hex[:6],
        "grid_code": VILLAGE})
    assert r.status_code == 201, r.text
    cases["P"] = r.json()["case_no"]

    tasks = {key: accept(e2e, no) for key, no in cases.items()}
    for task in tasks.values():
        assert task["assignee"]["id"] == chief["id"]
        close_and_sign_off(e2e, task)

    # A rates by replying to the result SMS; C through the short link in the result e-mail;
    # the grid chief rates the patrol report.
    ((result_sms, _),) = wait_sms(e2e, sms, cases["A"], "case_result", e164(a["phone"]))
    answer = reply(e2e, sms, e164(a["phone"]), f"{reply_code_in(result_sms.text)} 5 thanks")
    assert answer.status_code == 200, answer.text
    mail = wait_for(lambda: [m for m in smtp.to(c["email"]) if "办理结果" in m["Subject"]],
                    message="result e-mail to C")[0]
    token = rating_token_in(mail.get_body(("plain",)).get_content())
    page = requests.get(e2e.url(f"/r/{token}"), timeout=10)
    assert page.status_code == 200 and cases["C"] in page.text and 'name="score"' in page.text
    thanks = requests.post(e2e.url(f"/r/{token}"), data={"score": "4", "comment": "基本满意"},
                           timeout=10)
    assert thanks.status_code == 200 and "感谢" in thanks.text, thanks.text
    r = call(e2e, "POST", f"/api/v1/cases/{cases['P']}/rating", chief["id"], json={"score": 5})
    assert r.status_code == 200, r.text

    # Every step has been planned (events reach notify in no set order) and has had its chance.
    steps = {"case_received", "task_assigned", "task_closed", "case_feedback"}

    def done(no, receipt):
        rows = deliveries(e2e, no)
        return {d["event_type"] for d in rows} >= steps | {receipt} and \
            all(d["status"] in SENT_OR_FINAL for d in rows)
    for key, no in cases.items():
        # A complainant's receipt waits for the expected closing date; the reporter hears at once.
        receipt = "case_accepted" if key == "P" else "case_scheduled"
        wait_for(lambda: done(no, receipt), message=f"deliveries of {no} done")
    return {"cases": cases, "a": a, "c": c, "chief": chief, "worker": worker,
            "supervisor": supervisor, "answer": answer.json()}


def test_each_message_reaches_the_right_person_once(e2e, sms, smtp, flow):
    cases, a, c, chief = flow["cases"], flow["a"], flow["c"], flow["chief"]
    # SMS: A's receipt and result; the grid chief's task for each case. Nothing else, once each.
    got = {}
    for key, no in cases.items():
        for message, row in sms_of(e2e, sms, no):
            got.setdefault((key, message.to, row["kind"]), []).append(message.client_ref)
    expected = {("A", e164(a["phone"]), "case_receipt"), ("A", e164(a["phone"]), "case_result")}
    expected |= {(key, e164(chief["phone"]), "task_assigned") for key in cases}
    assert set(got) == expected
    assert all(len(refs) == 1 for refs in got.values()), got
    # The stand-in de-duplicates, so also check nothing was even attempted twice.
    refs = [ref for refs in got.values() for ref in refs]
    assert all(len(sms.requests_for(ref)) == 1 for ref in refs)

    # E-mail: A and C get receipt and result; nobody else is mailed about these cases.
    for person in (a, c):
        for key in ("A", "C"):
            mails = mails_for(smtp, person["email"], cases[key])
            assert len(mails) == (2 if person is {"A": a, "C": c}[key] else 0), (key, mails)
    mailed = {r for rcpt, m in smtp.messages for r in rcpt
              if any(no in m["Subject"] for no in cases.values())}
    assert mailed == {a["email"], c["email"]}

    # In-app: the assignee, the supervisor, the intake desk and the reporting grid worker.
    def kinds(recipient, key):
        return sorted(m["event_type"] for m in inapp(e2e, recipient)
                      if m["case_no"] == cases[key])
    for key in cases:
        assert kinds(chief["id"], key) == ["task_assigned"]
        assert kinds(flow["supervisor"]["id"], key) == ["task_closed"]
    desk = f"role:intake:{COUNTY}"
    assert kinds(desk, "A") == kinds(desk, "C") == kinds(desk, "P") == ["case_received"]
    for key in ("B", "D"):  # plus: the complainant cannot be reached, phone them
        assert kinds(desk, key) == ["case_feedback", "case_received", "case_scheduled"]
    assert kinds(flow["worker"]["id"], "P") == ["case_accepted", "case_feedback"]


def test_languages_sms_length_and_mail_parts(e2e, sms, smtp, flow):
    cases, a, c, chief = flow["cases"], flow["a"], flow["c"], flow["chief"]
    for key, no in cases.items():
        for message, row in sms_of(e2e, sms, no):
            assert message.signature == SIGNATURE
            parts = sms_segments(message.text, SIGNATURE)
            assert len(parts) <= SUBS.settings.sms.max_parts and not message.text.endswith("…")
            if row["kind"] == "task_assigned":  # the chief asked for English
                assert row["language"] == "en" and "new task" in message.text
                assert "新任务" not in message.text
            else:                               # A asked for English
                assert row["language"] == "en", row
                assert not CJK.search(message.text.replace(RESULT, "")), message.text
    for m in inapp(e2e, chief["id"]):
        assert "new task" in m["body"] and "新任务" not in m["body"]
    for m in inapp(e2e, flow["supervisor"]["id"]):
        assert CJK.search(m["body"])            # no preference: Chinese
    for person, lang in ((a, "en"), (c, "zh-CN")):
        for key in ("A", "C"):
            for mail in mails_for(smtp, person["email"], cases[key]):
                assert mail.get_content_type() == "multipart/alternative"
                plain = mail.get_body(("plain",)).get_content()
                html = mail.get_body(("html",)).get_content()
                assert cases[key] in plain and cases[key] in html
                assert f'<html lang="{lang}">' in html
                assert bool(CJK.search(mail["Subject"])) is (lang == "zh-CN")
                assert mail["From"] == "noreply@hbj.pingxiang.gov.cn"
                assert re.fullmatch(r"<envgrid-\d+@hbj\.pingxiang\.gov\.cn>", mail["Message-ID"])


def test_numbers_that_cannot_take_sms_go_elsewhere_or_are_reported(e2e, sms, smtp, flow):
    cases = flow["cases"]
    # C's 400 number: never sent to the gateway; the e-mail carries the messages instead.
    assert not [m for m in sms.delivered if "4008208820" in m.to]
    c_rows = [d for d in deliveries(e2e, cases["C"]) if d["role"] == "complainant"]
    assert {(d["kind"], d["channel"], d["status"]) for d in c_rows} == {
        ("case_receipt", "email", "sent"), ("case_result", "email", "sent")}
    # B's landline and D's 12345: recorded as unreachable, and intake is told to phone back.
    for key in ("B", "D"):
        rows = [d for d in deliveries(e2e, cases[key]) if d["role"] == "complainant"]
        assert {(d["kind"], d["status"]) for d in rows} == {
            ("case_receipt", "unreachable"), ("case_result", "unreachable")}
        notices = [m for m in inapp(e2e, f"role:intake:{COUNTY}")
                   if m["case_no"] == cases[key] and "举报人无法" in m["body"]]
        assert len(notices) == 2
        visible = call(e2e, "GET", f"/api/v1/notify/deliveries?status=unreachable&"
                                   f"case_no={cases[key]}", f"intake-{COUNTY}")
        assert visible.status_code == 200, visible.text
        assert {d["kind"] for d in visible.json()} == {"case_receipt", "case_result"}
        other = call(e2e, "GET", f"/api/v1/notify/deliveries?case_no={cases[key]}",
                     f"intake-{NEIGHBOUR}")
        assert other.status_code == 200 and other.json() == []


def test_ratings_by_sms_reply_and_link_flow_back_as_case_rated(e2e, flow):
    cases = flow["cases"]
    assert flow["answer"] == {"case_no": cases["A"], "score": 5, "status": "closed"}
    for key, score in (("A", 5), ("C", 4), ("P", 5)):
        record = case(e2e, cases[key])
        assert record["status"] == "closed" and record["rating"] == score
        assert [e["score"] for e in outbox(e2e, "complaints", "case_rated", cases[key])] == [score]


def test_complainant_contact_never_leaks(e2e, sms, smtp, flow, logs):
    a, c = flow["a"], flow["c"]
    secrets = [a["phone"], a["phone"][-8:], a["email"], a["name"], c["email"], c["name"],
               "6688123", "8208820", "王五"]

    def clean(text, where):
        for secret in secrets:
            assert secret not in (text or ""), (secret, where)

    for message in sms.delivered:          # texts; A's own number is only their address
        clean(message.text, f"sms to {message.to}")
    for rcpt, mail in smtp.messages:
        for part in mail.walk():
            if not part.is_multipart():
                clean(part.get_content(), f"mail to {rcpt}")
        clean(mail["Subject"], f"subject to {rcpt}")
    for row in _query(e2e, "notify", "SELECT * FROM inapp_message"):
        clean(row["body"], f"in-app to {row['recipient_id']}")
    for row in deliveries(e2e):            # the delivery log, as stored
        for column in ("subject", "body", "html", "address_masked", "last_error",
                       "recipient_key", "recipient_id"):
            clean(row[column], f"delivery {row['id']}.{column}")
    for row in _query(e2e, "notify", "SELECT * FROM inbound_sms"):
        clean(row["sender_masked"] + row["text_masked"] + str(row["outcome"]), "inbound")
    a_rows = [d for d in deliveries(e2e, flow["cases"]["A"]) if d["role"] == "complainant"]
    assert {d["address_masked"] for d in a_rows} == {
        f"{a['phone'][:3]}****{a['phone'][-4:]}", a["email"][0] + "***@***"}
    for token in (f"supervisor-{COUNTY}", f"intake-{COUNTY}", "admin"):
        clean(call(e2e, "GET", "/api/v1/notify/deliveries?limit=500", token).text, token)
    for line in logs.lines:                # and as logged, by every service
        clean(line, "log")


# --- 2. the gateway down for a while ----------------------------------------------------------
def _sms_rows(system, case_no):
    return [d for d in deliveries(system, case_no) if d["channel"] == "sms"]


def _wait_attempts(system, case_no, attempts, status, error_prefix):
    def ready():
        rows = _sms_rows(system, case_no)
        return len(rows) == 2 and all(d["attempts"] == attempts and d["status"] == status and
                                      (d["last_error"] or "").startswith(error_prefix)
                                      for d in rows) and rows
    return wait_for(ready, timeout=20, message=f"{attempts} attempts ({error_prefix})")


def test_gateway_outage_delays_messages_and_loses_or_repeats_none(e2e, sms):
    phone, chief2 = new_phone(), grid(e2e, VILLAGE_2)["chief"]
    sms.stop()                                                   # connection refused
    case_no = file_complaint(e2e, {"phone": phone}, "扬尘 " + uuid.uuid4().hex,
                             grid_code=VILLAGE_2, category="air.dust")
    accept(e2e, case_no)
    _wait_attempts(e2e, case_no, 1, "retrying", "connection_error")
    sms.start("error")                                           # back, but failing: 5xx
    e2e.clock.advance(seconds=30)
    _wait_attempts(e2e, case_no, 2, "retrying", "http_503")
    sms.mode = "hang"                                            # answers too late: timeouts
    e2e.clock.advance(seconds=120)
    _wait_attempts(e2e, case_no, 3, "retrying", "timeout")
    sms.mode = "up"
    e2e.clock.advance(seconds=600)
    rows = wait_for(lambda: (r := _sms_rows(e2e, case_no)) and
                    all(d["status"] == "sent" for d in r) and r, message="sent after outage")
    assert sorted(d["kind"] for d in rows) == ["case_receipt", "task_assigned"]
    assert all(d["attempts"] == 4 for d in rows)
    for row in rows:
        ref = f"envgrid-{row['id']}"
        handset = [m for m in sms.delivered if m.client_ref == ref]
        assert len(handset) == 1 and handset[0].gateway_id == row["provider_id"]
        assert [r["mode"] for r in sms.requests_for(ref)] == ["error", "hang", "up"]
        assert {r["idempotency_key"] for r in sms.requests_for(ref)} == {ref}
    assert len(sms_of(e2e, sms, case_no, to=e164(phone))) == 1
    assert len(sms_of(e2e, sms, case_no, to=e164(chief2["phone"]))) == 1


def _through_a_lost_answer(system, sms, phone, category):
    """A case whose two SMS (receipt, task) the gateway accepts but whose answers are lost;
    then the gateway answers again and the clock reaches the retry. Returns the SMS rows."""
    sms.mode = "lose_response"
    case_no = file_complaint(system, {"phone": phone}, "异味 " + uuid.uuid4().hex,
                             grid_code=VILLAGE_2, category=category)
    accept(system, case_no)
    _wait_attempts(system, case_no, 1, "retrying", "timeout")
    sms.mode = "up"
    system.clock.advance(seconds=30)
    return wait_for(lambda: (r := _sms_rows(system, case_no)) and
                    all(d["status"] == "sent" for d in r) and r, message="sent after retry")


def test_lost_answer_is_retried_under_the_same_id_and_the_sms_sent_once(e2e, sms):
    """At-least-once towards the gateway: it accepted the SMS but its answer was lost, so we
    cannot tell and send again; the same client_ref / Idempotency-Key lets it drop the repeat."""
    for row in _through_a_lost_answer(e2e, sms, new_phone(), "air.dust"):
        ref = f"envgrid-{row['id']}"
        assert len(sms.requests_for(ref)) == 2 and row["attempts"] == 2
        handset = [m for m in sms.delivered if m.client_ref == ref]
        assert len(handset) == 1 and row["provider_id"] == handset[0].gateway_id


def test_without_gateway_idempotency_a_lost_answer_means_a_duplicate(e2e, sms):
    """What the idempotency key prevents: a gateway that ignores it sends the repeat too. Both
    copies carry the same client_ref, so the duplicate is traceable to one delivery."""
    phone = new_phone()
    sms.idempotent = False
    try:
        rows = _through_a_lost_answer(e2e, sms, phone, "noise.industrial")
    finally:
        sms.idempotent, sms.mode = True, "up"
    (row,) = [d for d in rows if d["kind"] == "case_receipt"]
    handset = [m for m in sms.delivered if m.to == e164(phone)]
    assert len(handset) == 2 and {m.client_ref for m in handset} == {f"envgrid-{row['id']}"}
    assert row["status"] == "sent" and row["attempts"] == 2


def test_a_message_past_the_retry_limit_is_failed_and_visible(e2e, sms):
    phone = new_phone()
    sms.failing_numbers.add(e164(phone))
    case_no = file_complaint(e2e, {"phone": phone}, "偷排 " + uuid.uuid4().hex,
                             grid_code=VILLAGE_2, category="water.industrial")
    accept(e2e, case_no)
    settings = SUBS.settings
    for attempt in range(1, settings.max_attempts):
        wait_rows(e2e, case_no, lambda d: d["role"] == "complainant" and
                  d["attempts"] == attempt and d["status"] == "retrying", f"attempt {attempt}")
        e2e.clock.advance(seconds=settings.backoff[min(attempt, len(settings.backoff)) - 1]
                          .total_seconds())
    (failed,) = wait_rows(e2e, case_no, lambda d: d["status"] == "failed", "failed")
    assert failed["attempts"] == settings.max_attempts and failed["next_attempt_at"] is None
    assert failed["last_error"].startswith("http_503")
    # The assignee's SMS of the same case went through: one bad number blocks nobody else.
    assert [d["status"] for d in _sms_rows(e2e, case_no) if d["role"] == "assignee"] == ["sent"]

    r = call(e2e, "GET", "/api/v1/notify/deliveries?status=failed", f"supervisor-{COUNTY}")
    assert r.status_code == 200, r.text
    (shown,) = [d for d in r.json() if d["case_no"] == case_no]
    assert (shown["kind"], shown["channel"], shown["attempts"]) == ("case_receipt", "sms",
                                                                    settings.max_attempts)
    assert shown["to"] == f"{phone[:3]}****{phone[-4:]}" and phone not in r.text
    other = call(e2e, "GET", "/api/v1/notify/deliveries?status=failed", f"intake-{NEIGHBOUR}")
    assert case_no not in other.text
    bad = call(e2e, "GET", "/api/v1/notify/deliveries?status=lost", "admin")
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"
    assert call(e2e, "GET", "/api/v1/notify/deliveries", f"gy-{VILLAGE}-1").status_code == 403


# --- 3. the SMS reply path ----------------------------------------------------------------------
def test_sms_reply_codes_answer_each_case_specifically(e2e, sms):
    phone = new_phone()
    case_no, text = resolved_case(e2e, sms, phone)
    code = reply_code_in(text)
    wrong_code = f"{(int(code) + 1) % 10**6:06d}"

    r = reply(e2e, sms, e164(phone), f"{code} 5", secret="not-the-secret")
    assert r.status_code == 401 and r.json()["error"]["code"] == "bad_signature"
    r = reply(e2e, sms, e164(phone), "满意")
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_reply"
    r = reply(e2e, sms, e164(phone), f"{wrong_code} 5")
    assert r.status_code == 404 and r.json()["error"]["code"] == "reply_code_unknown"
    r = reply(e2e, sms, e164(new_phone()), f"{code} 5")   # the right code, someone else's phone
    assert r.status_code == 404 and r.json()["error"]["code"] == "reply_code_unknown"
    assert case(e2e, case_no)["status"] == "resolved"

    message_id = "up-" + uuid.uuid4().hex[:12]
    r = reply(e2e, sms, e164(phone), f"{code}，4 处理及时", message_id=message_id)
    assert r.status_code == 200 and r.json()["score"] == 4, r.text
    again = reply(e2e, sms, e164(phone), f"{code}，4 处理及时", message_id=message_id)
    assert again.status_code == 200 and again.json()["duplicate"] is True   # a repeated callback
    r = reply(e2e, sms, e164(phone), f"{code} 1")
    assert r.status_code == 409 and r.json()["error"]["code"] == "reply_code_used"
    history = [h["action"] for h in case(e2e, case_no)["history"]]
    assert history.count("rated") == 1 and case(e2e, case_no)["rating"] == 4
    (rated,) = outbox(e2e, "complaints", "case_rated", case_no)
    assert (rated["score"], rated["comment"]) == (4, "处理及时")
    token = rating_token_in(text)
    assert requests.get(e2e.url(f"/r/{token}"), timeout=10).status_code == 409
    assert requests.post(e2e.url(f"/r/{token}"), data={"score": "9"}, timeout=10).status_code \
        == 422
    assert requests.get(e2e.url("/r/no-such-token-x"), timeout=10).status_code == 404


def test_a_poor_sms_rating_reopens_the_task(e2e, sms):
    phone = new_phone()
    case_no, text = resolved_case(e2e, sms, phone)
    r = reply(e2e, sms, e164(phone), f"{reply_code_in(text)} 1 还是有味道")
    assert r.status_code == 200 and r.json()["status"] == "in_progress", r.text
    task_id = case(e2e, case_no)["task_id"]
    wait_for(lambda: call(e2e, "GET", f"/api/v1/tasks/{task_id}", "admin").json()["status"]
             == "reopened", message="reopened")


# --- 4. joint enforcement reaches the liaison officers ------------------------------------------
def _liaisons(system, region):
    r = call(system, "GET", "/api/v1/joint/agreements", "admin")
    assert r.status_code == 200, r.text
    agreement = next(a for a in r.json() if a["id"] == "PX-COUNTIES")
    party = next(p for p in agreement["parties"] if p["region_code"] == region)
    return [e164(p["phone"]) for p in party["liaisons"]]


def test_transfers_reach_the_liaison_officers_without_the_complainant(e2e, sms):
    secret_phone = new_phone()
    case_no = file_complaint(e2e, {"name": "保密人", "phone": secret_phone},
                             f"我的电话{secret_phone} " + uuid.uuid4().hex, category="air.odour")
    accept(e2e, case_no)
    r = call(e2e, "POST", "/api/v1/joint/transfers", f"dispatcher-{COUNTY}", json={
        "case_no": case_no, "to_region": NEIGHBOUR, "reason": "污染源位于湘东区一侧"})
    assert r.status_code == 201, r.text
    transfer = r.json()
    for number in _liaisons(e2e, NEIGHBOUR):
        ((message, row),) = wait_sms(e2e, sms, case_no, "joint_transfer_requested", number)
        assert transfer["transfer_id"] in message.text and row["role"] == "liaison"
    inbox = wait_for(lambda: {m["event_type"] for m in call(
        e2e, "GET", "/api/v1/messages", f"liaison-{NEIGHBOUR}").json()
        if m["case_no"] == case_no} >= {"joint_transfer_requested", "case_shared"} and True,
        message="liaison desk in-app")
    assert inbox

    r = call(e2e, "POST", f"/api/v1/joint/transfers/{transfer['transfer_id']}/answer",
             f"liaison-{NEIGHBOUR}", json={"accept": False, "reason": "经核查污染源在芦溪县境内"})
    assert r.status_code == 200, r.text
    for number in _liaisons(e2e, COUNTY):
        ((message, _),) = wait_sms(e2e, sms, case_no, "joint_transfer_answered", number)
        assert "经核查污染源在芦溪县境内" in message.text
    wait_for(lambda: any(m["event_type"] == "joint_transfer_answered" and m["case_no"] == case_no
                         for m in call(e2e, "GET", "/api/v1/messages",
                                       f"liaison-{COUNTY}").json()), message="sender's desk")
    for message, _ in sms_of(e2e, sms, case_no):
        assert secret_phone not in message.text and "保密人" not in message.text
    for m in inapp(e2e, f"role:liaison:{NEIGHBOUR}") + inapp(e2e, f"role:liaison:{COUNTY}"):
        assert secret_phone not in m["body"] and "保密人" not in m["body"]


# --- 5. last: weeks pass -----------------------------------------------------------------------
def test_an_expired_reply_code_and_link_are_refused(e2e, sms):
    phone = new_phone()
    case_no, text = resolved_case(e2e, sms, phone)
    e2e.clock.advance(seconds=SUBS.settings.reply_code_valid.total_seconds() + 3600)
    r = reply(e2e, sms, e164(phone), f"{reply_code_in(text)} 5")
    assert r.status_code == 410 and r.json()["error"]["code"] == "reply_code_expired", r.text
    page = requests.get(e2e.url(f"/r/{rating_token_in(text)}"), timeout=10)
    assert page.status_code == 410
    post = requests.post(e2e.url(f"/r/{rating_token_in(text)}"), data={"score": "5"}, timeout=10)
    assert post.status_code == 410 and case(e2e, case_no)["status"] == "resolved"
