"""The five-step grid flow, end to end through the public HTTP API against real RabbitMQ and
PostgreSQL: patrol report, intake, assignment, deadline closure, feedback."""
from __future__ import annotations

import uuid

from tests.casework import rating_token
from tests.fixtures import wait_for

# A village grid of 宣风镇, 芦溪县 in the demo registry, and its people.
VILLAGE = "360323101001"


def _grid(system, code):
    r = system.call("GET", f"/api/v1/grids/{code}", "admin")
    assert r.status_code == 200, r.text
    return r.json()


def _case(system, case_no, token="admin"):
    r = system.call("GET", f"/api/v1/cases/{case_no}", token)
    assert r.status_code == 200, r.text
    return r.json()


def _task_for(system, case_no, token="admin"):
    def find():
        case = _case(system, case_no)
        return case.get("task_id") and case
    case = wait_for(find, message=f"task for {case_no}")
    r = system.call("GET", f"/api/v1/tasks/{case['task_id']}", token)
    assert r.status_code == 200, r.text
    return r.json()


def test_five_steps_end_to_end(system):
    grid = _grid(system, VILLAGE)
    worker, chief = grid["workers"][0], grid["chief"]

    # 1-2. Patrol report, reported at once from the field.
    r = system.call("POST", "/api/v1/reports", worker["id"], json={
        "category": "air.burning", "description": "秸秆露天焚烧，浓烟较大",
        "lat": 27.6, "lon": 114.1, "address": "芦溪县宣风镇", "grid_code": VILLAGE,
        "media": ["media:demo-photo-1"]})
    assert r.status_code == 201, r.text
    case = r.json()
    case_no = case["case_no"]
    assert case["status"] == "received" and case["channel"] == "patrol"

    # 3. Intake accepts it.
    r = system.call("POST", f"/api/v1/cases/{case_no}/accept", "intake-360323", json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "accepted"

    # 4. Dispatch assigns it to the grid chief with a deadline from configuration.
    task = _task_for(system, case_no)
    assert task["assignee"]["id"] == chief["id"]
    assert task["grid_code"] == VILLAGE
    assert task["deadline"] > task["warn_at"]

    # 5a. The assignee closes with a result; the supervisor verifies and signs off (销号).
    r = system.call("POST", f"/api/v1/tasks/{task['task_id']}/close", chief["id"],
                    json={"result": "已扑灭明火，责令清理", "founded": True,
                          "evidence": ["media:after-1"]})
    assert r.status_code == 200, r.text
    r = system.call("POST", f"/api/v1/tasks/{task['task_id']}/verify", "supervisor-360323",
                    json={"approved": True, "note": "现场核实"})
    assert r.status_code == 200, r.text

    # 5b. Feedback reaches the case; the grid chief rates the patrol report.
    wait_for(lambda: _case(system, case_no)["status"] == "resolved", message="feedback")
    r = system.call("POST", f"/api/v1/cases/{case_no}/rating", chief["id"],
                    json={"score": 5, "comment": "处理及时"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed"

    history = [h["action"] for h in _case(system, case_no)["history"]]
    for step in ("received", "accepted", "assigned", "closed", "verified", "feedback_sent",
                 "rated"):
        assert step in history, (step, history)
    actors = {h["action"]: h["actor_id"] for h in _case(system, case_no)["history"]}
    assert actors["received"] == worker["id"]
    assert actors["accepted"] == "intake-360323"


def test_poor_rating_reopens_the_task(system):
    grid = _grid(system, VILLAGE)
    chief = grid["chief"]
    r = system.call("POST", "/api/v1/complaints", json={
        "category": "noise.construction", "description": "夜间施工噪声扰民 " + uuid.uuid4().hex,
        "grid_code": VILLAGE, "complainant": {"name": "王女士", "phone": "13907990001"}})
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    assert "complainant" not in r.json()
    assert system.call("POST", f"/api/v1/cases/{case_no}/accept", "intake-360323",
                       json={}).status_code == 200
    task = _task_for(system, case_no)
    tid = task["task_id"]
    assert system.call("POST", f"/api/v1/tasks/{tid}/close", chief["id"],
                       json={"result": "已责令停工", "founded": True}).status_code == 200
    assert system.call("POST", f"/api/v1/tasks/{tid}/verify", "supervisor-360323",
                       json={"approved": True}).status_code == 200
    wait_for(lambda: _case(system, case_no)["status"] == "resolved", message="resolved")

    # The complainant rates with the token from the feedback message, not with an account.
    token = rating_token(system, case_no)
    r = system.call("POST", f"/api/v1/cases/{case_no}/rating", json={"score": 1,
                                                                      "token": token})
    assert r.status_code == 200, r.text
    wait_for(lambda: system.call("GET", f"/api/v1/tasks/{tid}", "admin").json()["status"]
             == "reopened", message="reopened")
    # The token is spent: a second rating with it is refused.
    r = system.call("POST", f"/api/v1/cases/{case_no}/rating", json={"score": 5,
                                                                      "token": token})
    assert r.status_code == 404


def test_sent_back_verification_shows_in_history(system):
    chief = _grid(system, VILLAGE)["chief"]
    r = system.call("POST", "/api/v1/intake", "intake-360323", json={
        "channel": "hotline", "category": "water.industrial",
        "description": "排污口夜间偷排 " + uuid.uuid4().hex, "grid_code": VILLAGE,
        "complainant": {"phone": "0799-6688123"}})
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    assert r.json()["complainant"]["phone_kind"] == "fixed_line"
    system.call("POST", f"/api/v1/cases/{case_no}/accept", "intake-360323", json={})
    tid = _task_for(system, case_no)["task_id"]
    system.call("POST", f"/api/v1/tasks/{tid}/close", chief["id"],
                json={"result": "已查", "founded": False})
    r = system.call("POST", f"/api/v1/tasks/{tid}/verify", "supervisor-360323",
                    json={"approved": False, "note": "缺少取样照片"})
    assert r.status_code == 200 and r.json()["status"] == "assigned"
    wait_for(lambda: "sent_back" in [h["action"] for h in _case(system, case_no)["history"]],
             message="sent_back in case history")


def test_decline_carries_its_reason(system):
    r = system.call("POST", "/api/v1/complaints", json={
        "category": "air.odour", "description": "邻居家装修吵 " + uuid.uuid4().hex,
        "region_code": "360323"})
    case_no = r.json()["case_no"]
    r = system.call("POST", f"/api/v1/cases/{case_no}/decline", "intake-360323",
                    json={"reason": "not_environmental", "note": "属物业管理"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "declined"
    assert r.json()["decline_reason"] == "not_environmental"
    r = system.call("POST", f"/api/v1/cases/{case_no}/decline", "intake-360323",
                    json={"reason": "not_environmental"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "invalid_state"


def test_public_tracking_shows_no_personal_data(system):
    r = system.call("POST", "/api/v1/complaints", json={
        "category": "waste.dumping", "description": "河边倾倒垃圾 " + uuid.uuid4().hex,
        "region_code": "360323", "complainant": {"name": "李先生", "phone": "13807990002"}})
    case_no = r.json()["case_no"]
    r = system.call("GET", f"/api/v1/public/cases/{case_no}")
    assert r.status_code == 200
    assert "13807990002" not in r.text and "李先生" not in r.text
    assert "description" not in r.json()
    # Staff outside intake do not see the complainant either; intake of the region does.
    assert "13807990002" not in system.call("GET", f"/api/v1/cases/{case_no}",
                                            "dispatcher-360323").text
    assert "13807990002" in system.call("GET", f"/api/v1/cases/{case_no}",
                                        "intake-360323").text
    # Another county's intake cannot read it at all.
    assert system.call("GET", f"/api/v1/cases/{case_no}", "intake-360313").status_code == 404


def test_idempotent_submission(system):
    key = uuid.uuid4().hex
    body = {"category": "air.dust", "description": "工地扬尘 " + key, "region_code": "360323"}
    first = system.call("POST", "/api/v1/complaints", json=body,
                        headers={"Idempotency-Key": key})
    second = system.call("POST", "/api/v1/complaints", json=body,
                         headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    assert first.json()["case_no"] == second.json()["case_no"]


def test_healthz_and_openapi(system):
    r = system.call("GET", "/healthz")
    assert r.status_code == 200 and r.json()["ok"] is True
    doc = system.call("GET", "/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/reports" in doc["paths"]
    assert "/api/v1/tasks/{task_id}/verify" in doc["paths"]


def test_people_are_told_and_regions_are_counted(system):
    """notify turns the steps into messages; ranking counts them per region."""
    chief = _grid(system, VILLAGE)["chief"]

    def county_counters():
        rows = system.call("GET", "/api/v1/stats/regions?period=2026-11").json()
        return {r["scope"]: r["counters"] for r in rows}.get("360323", {})
    # Other tests count in the same county: wait for this case's own contribution.
    before = county_counters()
    r = system.call("POST", "/api/v1/intake", "intake-360323", json={
        "channel": "hotline", "category": "air.odour",
        "description": "化工厂夜间异味 " + uuid.uuid4().hex, "grid_code": VILLAGE,
        "complainant": {"name": "赵先生", "phone": "13907990003"}})
    case_no = r.json()["case_no"]
    system.call("POST", f"/api/v1/cases/{case_no}/accept", "intake-360323", json={})
    _task_for(system, case_no)

    def told():
        inbox = system.call("GET", "/api/v1/messages", chief["id"]).json()
        return [m for m in inbox if m["case_no"] == case_no and m["event_type"] == "task_assigned"]
    message = wait_for(told, message="in-app message to the assignee")[0]
    assert case_no in message["body"]
    assert "13907990003" not in message["body"] and "赵先生" not in message["body"]

    def counted():
        county = county_counters()
        done = all(county.get(key, 0) > before.get(key, 0)
                   for key in ("assigned", "received_by_channel:hotline"))
        return done and county
    county = wait_for(counted, message="ranking counters")
    assert county["received"] >= county["accepted"] >= 1
    league = system.call("GET", "/api/v1/stats/league?period=2026-11")
    assert league.status_code == 200, league.text
    assert "360323" in {row["scope"] for row in league.json()["rows"]}
