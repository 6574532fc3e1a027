"""Enterprise red and yellow cards (红黄牌) through the running system: a founded sign-off of a
case naming an enterprise confirms a violation; the card appears the moment the second one in
a year is confirmed, leaves when a violation is overturned or the year passes, and both moments
are in the card history. Driven by the shared ManualClock."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import create_engine, text

from tests.casework import COUNTY, VILLAGE, chief_of, get_case
from tests.fixtures import wait_for

CHIEF, SUPERVISOR, INTAKE = chief_of(VILLAGE), f"supervisor-{COUNTY}", f"intake-{COUNTY}"
UTC = timezone.utc


def _post(system, path, account, body):
    r = system.call("POST", path, account, json=body)
    assert r.status_code in (200, 201), (path, r.status_code, r.text)
    return r.json()


def _case(system, enterprise, category, incident=None) -> dict:
    """A hotline case naming ``enterprise``, accepted; returns its task."""
    body = {"channel": "hotline", "category": category, "grid_code": VILLAGE,
            "enterprise": enterprise, "description": "企业排污 " + uuid.uuid4().hex,
            "complainant": {"name": "王某", "phone": "13912345678"}}
    if incident:
        body["incident"] = incident
    case_no = _post(system, "/api/v1/intake", INTAKE, body)["case_no"]
    if not incident:  # an incident is accepted at once
        _post(system, f"/api/v1/cases/{case_no}/accept", INTAKE, {})
    case = wait_for(lambda: get_case(system, case_no).get("task_id") and get_case(
        system, case_no), message=f"task of {case_no}")
    return {"case_no": case_no, "task_id": case["task_id"]}


def _sign_off(system, task, founded: bool) -> datetime:
    _post(system, f"/api/v1/tasks/{task['task_id']}/close", CHIEF,
          {"result": "查实" if founded else "经复查不属实", "founded": founded})
    verified = _post(system, f"/api/v1/tasks/{task['task_id']}/verify", SUPERVISOR,
                     {"approved": True})
    return datetime.fromisoformat(verified["verified_at"])


def _history(system, key, length):
    def ready():
        r = system.call("GET", f"/api/v1/enterprises/{key}/cards")
        return r.status_code == 200 and len(r.json()["history"]) >= length and r.json()
    return wait_for(ready, timeout=30, message=f"{length} card changes of {key}")


def _listed(system, key):
    r = system.call("GET", "/api/v1/cards")
    assert r.status_code == 200, r.text
    return next((c for c in r.json() if c["enterprise_key"] == key), None)


def test_red_card_appears_on_the_second_violation_and_leaves_with_both_moments(system, clock):
    clock.set(datetime(2030, 3, 4, 2, 0, tzinfo=UTC))  # Monday 10:00 Beijing
    name = f"萍乡测试化工 有限公司 {uuid.uuid4().hex[:6]}"
    key = name.replace(" ", "").lower()

    first = _case(system, name, "air.odour")
    t1 = _sign_off(system, first, founded=True)
    card = _history(system, key, 1)
    assert card["level"] == "yellow"
    assert [(h["from_level"], h["to_level"]) for h in card["history"]] == [(None, "yellow")]

    clock.advance(days=2)
    second = _case(system, name, "water.industrial")
    t2 = _sign_off(system, second, founded=True)
    card = _history(system, key, 2)
    assert card["level"] == "red" and card["enterprise"] == name
    red = card["history"][1]
    assert (red["from_level"], red["to_level"]) == ("yellow", "red")
    assert datetime.fromisoformat(red["at"]) == t2  # the moment the second was confirmed
    assert red["cases"] == [first["case_no"], second["case_no"]]
    listed = _listed(system, key)
    assert listed["level"] == "red" and listed["violations"] == 2
    assert [c["case_no"] for c in listed["cases"]] == [first["case_no"], second["case_no"]]
    assert datetime.fromisoformat(listed["cases"][0]["confirmed_at"]) == t1
    assert "王某" not in str(listed) and "13912345678" not in str(listed)

    # The second is reopened by a poor rating and found unfounded: the red card leaves.
    clock.advance(days=3)
    _post(system, f"/api/v1/cases/{second['case_no']}/rating", CHIEF, {"score": 1})
    wait_for(lambda: system.call("GET", f"/api/v1/tasks/{second['task_id']}", "admin")
             .json()["status"] == "reopened", message="reopened")
    t3 = _sign_off(system, second, founded=False)
    card = _history(system, key, 3)
    gone = card["history"][2]
    assert (gone["from_level"], gone["to_level"]) == ("red", "yellow")
    assert datetime.fromisoformat(gone["at"]) == t3
    assert card["level"] == "yellow"
    spans = {v["case_no"]: v["spans"] for v in card["violations"]}
    assert spans[second["case_no"]] == [{"confirmed_at": t2.isoformat(),
                                         "overturned_at": t3.isoformat()}]
    r = system.call("GET", "/api/v1/cards?level=red")
    assert all(c["enterprise_key"] != key for c in r.json())

    # The year passes by the clock: the yellow card leaves at midnight Beijing time.
    clock.set(datetime(2031, 1, 1, 0, 0, tzinfo=UTC))
    card = _history(system, key, 4)
    assert card["level"] is None and _listed(system, key) is None
    assert (card["history"][3]["from_level"], card["history"][3]["to_level"]) == ("yellow",
                                                                                   None)
    assert card["history"][3]["at"] == "2030-12-31T16:00:00+00:00"
    assert [h["seq"] for h in card["history"]] == [1, 2, 3, 4]


def test_a_major_incident_is_red_at_once(system, clock):
    clock.set(datetime(2030, 6, 2, 2, 0, tzinfo=UTC))
    name = f"萍乡突发测试企业{uuid.uuid4().hex[:6]}"
    task = _case(system, name, "water.industrial", incident="sudden")
    at = _sign_off(system, task, founded=True)
    card = _history(system, name.lower(), 1)
    assert card["level"] == "red"
    assert card["history"][0]["to_level"] == "red"
    assert datetime.fromisoformat(card["history"][0]["at"]) == at
    assert card["violations"][0]["major"] is True


def _folded(system, case_no) -> bool:
    """Ranking has recorded the case's feedback and folded it into its registers."""
    engine = create_engine(system.databases["ranking"])
    with engine.connect() as conn:
        done = conn.execute(text(
            "SELECT count(*) FROM recorded_event e JOIN checkpoint c ON c.name = 'books' "
            "WHERE e.event_type = 'case_feedback' AND e.position <= c.position "
            "AND e.payload->>'case_no' = :n"), {"n": case_no}).scalar()
    engine.dispose()
    return done > 0


def test_an_unfounded_case_is_no_violation_and_unknown_enterprises_are_404(system, clock):
    name = f"萍乡无责企业{uuid.uuid4().hex[:6]}"
    task = _case(system, name, "air.dust")
    _sign_off(system, task, founded=False)
    wait_for(lambda: _folded(system, task["case_no"]), timeout=30, message="feedback folded")
    r = system.call("GET", f"/api/v1/enterprises/{name}/cards")
    assert r.status_code == 404 and r.json()["error"]["code"] == "enterprise_not_found"
    r = system.call("GET", "/api/v1/cards?level=purple")
    assert r.status_code == 422 and r.json()["error"]["field"] == "level"
