"""A complainant's name and number (举报人保密) stay with the intake desk of the handling region and
the complainant: named complaints with a mobile and a landline go through the whole flow
(intake, acceptance, assignment, closure, verification, feedback, rating, a decline, a
referral) while every log record the services emit is captured at DEBUG through the logging
configuration ``nameko run`` uses. Neither the name nor any form of the number may appear in a
log line, in what another region's staff, the public or Open311 clients read, or in any event
in the outbox tables; the complainant does get the messages meant for them, by SMS."""
from __future__ import annotations

import json
import logging
import re
import uuid

import phonenumbers
import pytest
from sqlalchemy import create_engine, text
from werkzeug.routing import Map, Rule

from infra.seed import demo_accounts
from services.common.privacy import MaskingFilter
from services.gateway.api import ROUTES
from services.notify.tests.test_channels import _Gateway
from tests.casework import (COUNTY, OTHER_COUNTY, OTHER_VILLAGE, VILLAGE, chief_of, get_case,
                            get_task, new_phone, wait_case_history)
from tests.fixtures import SERVICES, nameko_config, wait_for

RECEIVING_COUNTY = "360322"  # 上栗县, where the referred complaint happened
LANDLINE = "0757-83331814"


@pytest.fixture(scope="module")
def sms(system):
    """notify with an SMS gateway (a local stub), as in production; put back afterwards."""
    gateway = _Gateway()
    system.restart("notify", dict(system.config, NOTIFY={
        "sms_gateway_url": gateway.url, "sms_username": "envgrid", "sms_password": "test"}))
    yield gateway
    system.restart("notify")
    gateway.close()


class _Lines(logging.Handler):
    """Keeps every record as the configured console handler would write it."""

    def __init__(self, like: logging.Handler):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(like.formatter)
        for f in like.filters:
            self.addFilter(f)

    def emit(self, record):
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines(system):
    """Every log line written while the test runs, at DEBUG, through the console handler's
    filters and format from ``infra/nameko.yaml``."""
    root = logging.getLogger()
    console = next(h for h in root.handlers if h.name == "console")
    capture = _Lines(console)
    level, console_level = root.level, console.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    console.setLevel(max(level, logging.INFO))  # the console stays as configured
    yield capture.lines
    root.removeHandler(capture)
    root.setLevel(level)
    console.setLevel(console_level)


def test_services_log_through_the_masking_filter_of_nameko_run(system):
    logging_config = nameko_config()["LOGGING"]
    masks = {name for name, spec in logging_config["filters"].items()
             if spec.get("()") == "services.common.privacy.MaskingFilter"}
    root_handlers = logging_config["root"]["handlers"]
    assert root_handlers and masks
    for name in root_handlers:
        assert masks & set(logging_config["handlers"][name].get("filters", [])), name
    # The test system logs through the same handlers, filters included.
    configured = {h.name: h for h in logging.getLogger().handlers}
    for name in root_handlers:
        assert any(isinstance(f, MaskingFilter) for f in configured[name].filters), name


def _name() -> str:
    """A Chinese name no other test uses."""
    return "隐" + "".join(chr(0x4E00 + int(c, 16) * 97) for c in uuid.uuid4().hex[:3])


def _forms(phone: str) -> set[str]:
    """Every way the number could be written: raw, digits only, E.164 (with and without +),
    national and international format, and the subscriber number of a landline."""
    number = phonenumbers.parse(phone, "CN")
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    forms = {phone, re.sub(r"\D", "", phone), e164, e164[1:], national,
             re.sub(r"\D", "", national), phonenumbers.format_number(
                 number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)}
    if phone.startswith("0"):
        forms.add(re.split(r"\D", phone)[-1])  # 83331814
    return forms


def _secrets(people: list[tuple[str, str]]) -> set[str]:
    out = set()
    for name, phone in people:
        out |= _forms(phone) | {name, json.dumps(name)[1:-1]}  # also as a \\u escape
    return out


def _visible(response) -> str:
    """The response as its reader sees it (JSON with its escapes undone)."""
    if "json" in response.headers.get("Content-Type", ""):
        return json.dumps(response.json(), ensure_ascii=False)
    return response.text


def _leaks(body: str, secrets: set[str]) -> list[str]:
    return sorted(s for s in secrets if s in body)


def _file(system, name, phone, channel="hotline", **fields) -> str:
    body = {"category": "air.odour", "description": "夜间异味 " + uuid.uuid4().hex,
            "grid_code": VILLAGE, "complainant": {"name": name, "phone": phone}, **fields}
    body = {k: v for k, v in body.items() if v is not None}
    if channel == "hotline":
        r = system.call("POST", "/api/v1/intake", f"intake-{COUNTY}",
                        json=dict(body, channel="hotline"))
    else:
        r = system.call("POST", "/api/v1/complaints", json=body)
        assert "complainant" not in r.json()
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


def _accept(system, case_no, county=COUNTY) -> dict:
    r = system.call("POST", f"/api/v1/cases/{case_no}/accept", f"intake-{county}", json={})
    assert r.status_code == 200, r.text
    case = wait_for(lambda: (c := get_case(system, case_no)).get("task_id") and c,
                    message=f"task for {case_no}")
    return get_task(system, case["task_id"])


def _work_and_sign_off(system, task) -> None:
    chief = task["assignee"]["id"]
    r = system.call("POST", f"/api/v1/tasks/{task['task_id']}/close", chief,
                    json={"result": "已查明异味来源并责令整改", "founded": True})
    assert r.status_code == 200, r.text
    r = system.call("POST", f"/api/v1/tasks/{task['task_id']}/verify",
                    f"supervisor-{task['region_code'][:6]}", json={"approved": True})
    assert r.status_code == 200, r.text
    wait_case_history(system, task["case_no"], "feedback_sent")


def _sms_to(sms, phone, case_no) -> list[str]:
    e164 = phonenumbers.format_number(phonenumbers.parse(phone, "CN"),
                                      phonenumbers.PhoneNumberFormat.E164)
    return [r["json"]["text"] for r in list(sms.requests)
            if r["json"]["to"] == e164 and case_no in r["json"]["text"]]


def _outsiders(county: str) -> list[str | None]:
    """The public and staff of regions other than ``county``."""
    others = [c for c in (COUNTY, OTHER_COUNTY, RECEIVING_COUNTY) if c != county]
    staff = [f"{role}-{c}" for c in others
             for role in ("intake", "dispatcher", "supervisor", "liaison")]
    staff.append(chief_of(OTHER_VILLAGE if county != OTHER_COUNTY else VILLAGE))
    return [None] + staff


_ROLES = {a["id"]: a["role"] for a in demo_accounts()}
_ENDPOINTS = Map([Rule(r.path, endpoint=r.name, methods=[r.method]) for r in ROUTES]).bind("api")
_ROUTE_ROLES = {r.name: r.roles for r in ROUTES}


def _may_call(account: str | None, path: str) -> bool:
    """Whether the gateway lets the account's role call the endpoint at all (else a 403 that
    reads nothing)."""
    if path.startswith("/open311/"):
        return account is None
    name, _ = _ENDPOINTS.match(path.split("?")[0], method="GET")
    return _ROLES.get(account, "public") in _ROUTE_ROLES[name]


def _outbox_payloads(system) -> str:
    """Every event any service put in its outbox, and every event ranking recorded."""
    texts = []
    for service in SERVICES:
        engine = create_engine(system.databases[service])
        with engine.connect() as conn:
            texts += [json.dumps(p, ensure_ascii=False)
                      for p in conn.execute(text("SELECT payload FROM outbox")).scalars()]
            if service == "ranking":
                texts += [json.dumps(p, ensure_ascii=False) for p in conn.execute(
                    text("SELECT payload FROM recorded_event")).scalars()]
        engine.dispose()
    assert texts
    return "\n".join(texts)


def test_identity_reaches_no_log_line_no_outsider_and_no_event(system, sms, log_lines):
    mobile = new_phone()
    mobile = f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}"  # as an operator types it
    people = {"full": (_name(), mobile), "landline": (_name(), LANDLINE),
              "declined": (_name(), new_phone()), "referred": (_name(), new_phone())}

    # A web complaint with a mobile: the whole flow, rated by the complainant from the SMS.
    name, phone = people["full"]
    full = _file(system, name, phone, channel="web")
    task_full = _accept(system, full)
    _work_and_sign_off(system, task_full)
    result = wait_for(lambda: [t for t in _sms_to(sms, phone, full) if "/r/" in t],
                      message="result SMS with the rating link")[0]
    token = re.search(r"/r/([\w-]+)", result).group(1)
    r = system.call("POST", f"/api/v1/cases/{full}/rating", json={"score": 5, "token": token})
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text

    # A hotline call from a landline: the same flow, rated by the grid chief.
    name, phone = people["landline"]
    landline = _file(system, name, phone)
    task_landline = _accept(system, landline)
    _work_and_sign_off(system, task_landline)
    r = system.call("POST", f"/api/v1/cases/{landline}/rating", task_landline["assignee"]["id"],
                    json={"score": 4})
    assert r.status_code == 200, r.text

    # A decline, and a referral accepted and assigned in the receiving county.
    declined = _file(system, *people["declined"])
    r = system.call("POST", f"/api/v1/cases/{declined}/decline", f"intake-{COUNTY}",
                    json={"reason": "not_environmental", "note": "属物业管理"})
    assert r.status_code == 200, r.text
    referred = _file(system, *people["referred"], channel="web", grid_code=None,
                     region_code=COUNTY)
    r = system.call("POST", f"/api/v1/cases/{referred}/refer", f"intake-{COUNTY}",
                    json={"to_region": RECEIVING_COUNTY, "reason": "发生地在上栗县"})
    assert r.status_code == 200, r.text
    task_referred = _accept(system, referred, RECEIVING_COUNTY)
    assert task_referred["region_code"].startswith(RECEIVING_COUNTY)

    # The complainants were reached: receipt, result, decline.
    wait_for(lambda: _sms_to(sms, people["full"][1], full), message="receipt SMS")
    wait_for(lambda: _sms_to(sms, people["declined"][1], declined), message="decline SMS")
    wait_for(lambda: _sms_to(sms, people["referred"][1], referred), message="referred receipt")

    # The intake desk of the handling region does see them: the checks below can fail.
    cases = {full, landline, declined, referred}
    assert people["full"][0] in _visible(system.call("GET", f"/api/v1/cases/{full}",
                                                     f"intake-{COUNTY}"))
    assert people["referred"][1] in _visible(system.call(
        "GET", f"/api/v1/cases/{referred}", f"intake-{RECEIVING_COUNTY}"))

    # Nobody else reads them anywhere: staff of other regions, the public, Open311 clients.
    person_of = {full: "full", landline: "landline", declined: "declined", referred: "referred"}
    county_of = {full: COUNTY, landline: COUNTY, declined: COUNTY, referred: RECEIVING_COUNTY}
    for task in (task_full, task_landline, task_referred):
        county_of[task["task_id"]] = county_of[task["case_no"]]
        person_of[task["task_id"]] = person_of[task["case_no"]]
    reads = {(None, f"/open311/v2/requests.{fmt}") for fmt in ("json", "xml")}
    for ref, county in county_of.items():
        for account in _outsiders(county):
            reads.update((account, path) for path in (
                "/api/v1/cases?limit=500", "/api/v1/tasks?status=all&limit=1000",
                "/api/v1/messages?limit=200", "/api/v1/joint/cases?status=all"))
            kinds = ("cases", "joint/cases") if ref in cases else ("tasks",)
            reads.update((account, f"/api/v1/{kind}/{ref}") for kind in kinds)
        if ref in cases:  # what anyone may read by the number
            reads.update((None, path) for path in (
                f"/api/v1/public/cases/{ref}", f"/open311/v2/requests/{ref}.json",
                f"/open311/v2/requests/{ref}.xml"))

    def forbidden(account) -> set[str]:
        """Everyone's identity but that of the cases the account's region handles."""
        return _secrets([people[person_of[ref]] for ref, county in county_of.items()
                         if account in _outsiders(county)])

    seen = 0
    for account, path in sorted(reads, key=str):
        if not _may_call(account, path):
            continue
        r = system.call("GET", path, account)
        assert r.status_code < 500, (path, account, r.text)
        leaks = _leaks(_visible(r), forbidden(account))
        assert not leaks, (path, account, leaks)
        seen += r.status_code == 200
    assert seen > 40

    # No event carries them, in any service's outbox or in ranking's record.
    secrets = _secrets(list(people.values()))
    assert not _leaks(_outbox_payloads(system), secrets)

    # And no log line: the services did log (the check can fail), none of it names anyone.
    assert len(log_lines) > 100
    leaked = [(s, line) for line in log_lines for s in secrets if s in line]
    assert not leaked, leaked[:5]


def test_a_decline_tells_the_complainant_why_and_what_to_do_next(system, sms):
    phone = new_phone()
    case_no = _file(system, _name(), phone)
    r = system.call("POST", f"/api/v1/cases/{case_no}/decline", f"intake-{COUNTY}",
                    json={"reason": "already_answered", "note": "同一事实已于上月答复"})
    assert r.status_code == 200, r.text
    assert r.json()["decline_reason"] == "already_answered"
    text_ = wait_for(lambda: _sms_to(sms, phone, case_no), message="decline SMS")[0]
    # The reason and the next step the policy gives for it, in the complainant's language.
    assert "不予受理" in text_ and "同一事实已答复" in text_
    assert "可在30日内申请复查或复核" in text_
    # The public tracking page shows the decline, without the person.
    track = system.call("GET", f"/api/v1/public/cases/{case_no}").json()
    assert track["status"] == "declined" and track["decline_reason"] == "already_answered"
    assert "complainant" not in track
