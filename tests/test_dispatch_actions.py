"""The dispatch actions through the public API, each checked in the task's history and, through
complaints' event handlers, in the case's: reassignment, send-back (退回), extensions (延期),
failed verification, closing twice, and a poor rating reopening the work."""
from __future__ import annotations

from datetime import timedelta

from services.common.config import policy
from services.dispatch import deadlines
from tests.casework import COUNTY, OTHER_VILLAGE, VILLAGE, VILLAGE_2, actions, chief_of, \
    entries, get_case, get_task, new_task, post, rating_token, utc, wait_case_history
from tests.fixtures import wait_for

DISPATCHER, SUPERVISOR = f"dispatcher-{COUNTY}", f"supervisor-{COUNTY}"
CHIEF, CHIEF_2 = chief_of(VILLAGE), chief_of(VILLAGE_2)


def test_reassign_to_another_grid(system):
    task = new_task(system, VILLAGE)
    tid, case_no = task["task_id"], task["case_no"]
    assert task["assignee"]["id"] == CHIEF

    moved = post(system, f"/api/v1/tasks/{tid}/reassign", DISPATCHER,
                  {"grid_code": VILLAGE_2, "reason": "地点属马岭村"})
    assert moved["status"] == "assigned"
    assert moved["grid_code"] == VILLAGE_2 and moved["assignee"]["id"] == CHIEF_2
    assert moved["deadline"] == task["deadline"]  # a reassignment keeps the time limit
    step = entries(get_task(system, tid, CHIEF_2), "reassigned")[-1]
    assert step["detail"]["reason"] == "地点属马岭村"
    assert step["detail"]["previous"]["id"] == CHIEF and step["actor_id"] == DISPATCHER

    case = wait_case_history(system, case_no, "reassigned")
    assert entries(case, "reassigned")[-1]["detail"]["reason"] == "地点属马岭村"
    assert case["grid_code"] == VILLAGE_2 and case["status"] == "assigned"

    # The new chief now works it; the old one no longer may.
    post(system, f"/api/v1/tasks/{tid}/close", CHIEF, {"result": "x", "founded": True}, 404)
    post(system, f"/api/v1/tasks/{tid}/close", CHIEF_2, {"result": "已处理", "founded": True})


def test_reassign_to_another_county_grid_keeps_the_task_reachable(system):
    """A county dispatcher cannot push a task into another county's grid, where neither that
    county's staff nor its own could see it any more."""
    task = new_task(system, VILLAGE)
    tid = task["task_id"]
    r = system.call("POST", f"/api/v1/tasks/{tid}/reassign", DISPATCHER,
                    json={"grid_code": OTHER_VILLAGE, "reason": "跨县"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "grid_code"
    assert get_task(system, tid)["grid_code"] == VILLAGE
    # The city dispatcher may move it across counties: the task then belongs to that county,
    # so its new grid chief and that county's staff can see and work it.
    moved = post(system, f"/api/v1/tasks/{tid}/reassign", "dispatcher-360300",
                  {"grid_code": OTHER_VILLAGE, "reason": "属湘东区"})
    assert moved["region_code"] == OTHER_VILLAGE[:6]
    assert get_task(system, tid, chief_of(OTHER_VILLAGE))["assignee"]["id"] == chief_of(
        OTHER_VILLAGE)
    assert get_task(system, tid, f"dispatcher-{OTHER_VILLAGE[:6]}")["task_id"] == tid
    case = wait_case_history(system, task["case_no"], "reassigned")
    assert case["region_code"] == OTHER_VILLAGE[:6]
    assert get_case(system, task["case_no"], f"intake-{OTHER_VILLAGE[:6]}")["case_no"] == \
        task["case_no"]


def test_send_back_then_reassign(system):
    task = new_task(system, VILLAGE)
    tid, case_no = task["task_id"], task["case_no"]
    # Only the assignee sends back; another grid's chief is told it does not exist.
    post(system, f"/api/v1/tasks/{tid}/return", CHIEF_2, {"reason": "不归我"}, 404,
          "task_not_found")
    post(system, f"/api/v1/tasks/{tid}/return", CHIEF, {"reason": ""}, 422, "missing_field")

    returned = post(system, f"/api/v1/tasks/{tid}/return", CHIEF,
                     {"reason": "该点位不在本村"})
    assert returned["status"] == "returned"
    # A returned task waits for the dispatcher: it is neither closed nor returned again.
    post(system, f"/api/v1/tasks/{tid}/close", CHIEF, {"result": "x", "founded": True}, 409,
          "invalid_state")
    post(system, f"/api/v1/tasks/{tid}/return", CHIEF, {"reason": "再退"}, 409,
          "invalid_state")
    listed = system.call("GET", "/api/v1/tasks?status=returned&limit=1000", DISPATCHER).json()
    assert tid in {t["task_id"] for t in listed}

    again = post(system, f"/api/v1/tasks/{tid}/reassign", DISPATCHER,
                  {"grid_code": VILLAGE_2, "reason": "改派马岭村"})
    assert again["status"] == "assigned" and again["assignee"]["id"] == CHIEF_2

    history = get_task(system, tid)
    assert actions(history)[-2:] == ["returned", "reassigned"]
    assert entries(history, "returned")[0]["detail"]["reason"] == "该点位不在本村"
    assert entries(history, "returned")[0]["actor_id"] == CHIEF
    case = wait_case_history(system, case_no, "reassigned")
    assert entries(case, "returned")[0]["detail"]["reason"] == "该点位不在本村"
    assert entries(case, "reassigned")[0]["detail"]["reason"] == "改派马岭村"
    assert actions(case).index("returned") < actions(case).index("reassigned")


def test_extension_request_refusal_approval_and_limit(system):
    task = new_task(system, VILLAGE)
    tid, case_no = task["task_id"], task["case_no"]
    due = utc(task["deadline"])
    path = f"/api/v1/tasks/{tid}/extension"

    post(system, path + "/decision", SUPERVISOR, {"approve": True}, 409, "no_pending_extension")
    first = post(system, path, CHIEF, {"days": 3, "reason": "需等待检测报告"}, 201)
    assert first == {"task_id": tid, "days": 3, "status": "pending"}
    post(system, path, CHIEF, {"days": 2, "reason": "再申请"}, 409, "extension_pending")
    # Only the assignee asks; only a supervisor decides.
    post(system, path, CHIEF_2, {"days": 2, "reason": "x"}, 404, "task_not_found")
    post(system, path + "/decision", CHIEF, {"approve": True}, 403, "forbidden_role")

    refused = post(system, path + "/decision", SUPERVISOR,
                    {"approve": False, "note": "理由不充分"})
    assert utc(refused["deadline"]) == due and refused["extensions"] == 0
    assert entries(refused, "extension_refused")[0]["detail"]["note"] == "理由不充分"

    post(system, path, CHIEF, {"days": 5, "reason": "检测机构排期"}, 201)
    approved = post(system, path + "/decision", SUPERVISOR, {"approve": True, "note": "同意"})
    # policy extension.unit is days: calendar days, the time of day kept.
    assert policy().for_region(COUNTY)["extension"]["unit"] == "days"
    assert utc(approved["deadline"]) == due + timedelta(days=5)
    assert approved["extensions"] == 1
    step = entries(approved, "extended")[0]
    assert utc(step["detail"]["previous"]) == due
    assert utc(step["detail"]["deadline"]) == due + timedelta(days=5)

    case = wait_case_history(system, case_no, "extended")
    assert utc(case["deadline"]) == due + timedelta(days=5)
    assert utc(entries(case, "extended")[0]["detail"]["deadline"]) == due + timedelta(days=5)

    post(system, path, CHIEF, {"days": 1, "reason": "还要延"}, 409, "extension_limit")
    history = actions(get_task(system, tid))
    assert [a for a in history if a.startswith("exten")] == [
        "extension_requested", "extension_refused", "extension_requested", "extended"]


def test_failed_verification_and_closing_twice(system):
    task = new_task(system, VILLAGE)
    tid, case_no = task["task_id"], task["case_no"]
    close = f"/api/v1/tasks/{tid}/close"
    verify = f"/api/v1/tasks/{tid}/verify"

    post(system, verify, SUPERVISOR, {"approved": True}, 409, "invalid_state")
    post(system, close, CHIEF, {"result": "已整改", "founded": True})
    post(system, close, CHIEF, {"result": "又一次", "founded": True}, 409, "invalid_state")
    # Refusing needs a note, and a refused call changes nothing.
    r = system.call("POST", verify, SUPERVISOR, json={"approved": False})
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_field", r.text
    assert r.json()["error"]["field"] == "note"
    assert get_task(system, tid)["status"] == "closed"

    back = post(system, verify, SUPERVISOR, {"approved": False, "note": "缺少整改照片"})
    assert back["status"] == "assigned" and back["assignee"]["id"] == CHIEF
    assert entries(back, "sent_back")[0]["detail"]["note"] == "缺少整改照片"
    case = wait_case_history(system, case_no, "sent_back")
    assert entries(case, "sent_back")[0]["detail"]["note"] == "缺少整改照片"

    post(system, close, CHIEF, {"result": "已补充照片", "founded": True,
                                 "evidence": ["media:after-2"]})
    done = post(system, verify, SUPERVISOR, {"approved": True, "note": "合格"})
    assert done["status"] == "verified"
    post(system, close, CHIEF, {"result": "再办结", "founded": True}, 409, "invalid_state")
    post(system, verify, SUPERVISOR, {"approved": True}, 409, "invalid_state")

    assert actions(get_task(system, tid)) == ["assigned", "closed", "sent_back", "closed",
                                              "verified"]
    case = wait_case_history(system, case_no, "feedback_sent")
    assert [a for a in actions(case) if a in ("assigned", "closed", "sent_back", "verified")] \
        == ["assigned", "closed", "sent_back", "closed", "verified"]


def test_poor_rating_reopens_with_a_fresh_deadline(system):
    task = new_task(system, VILLAGE, category="noise.construction")
    tid, case_no = task["task_id"], task["case_no"]
    post(system, f"/api/v1/tasks/{tid}/close", CHIEF, {"result": "已责令停工", "founded": True})
    post(system, f"/api/v1/tasks/{tid}/verify", SUPERVISOR, {"approved": True})
    wait_for(lambda: get_case(system, case_no)["status"] == "resolved", message="resolved")
    token = rating_token(system, case_no)

    start = system.clock.now()
    try:
        rated_at = system.clock.advance(days=3)  # rated days later: the new limit runs from then
        r = system.call("POST", f"/api/v1/cases/{case_no}/rating",
                        json={"score": 1, "comment": "仍有噪声", "token": token})
        assert r.status_code == 200, r.text
        reopened = wait_for(lambda: (lambda t: t["status"] == "reopened" and t)(
            get_task(system, tid)), message="task reopened")
    finally:
        system.clock.set(start)

    rules = policy().for_region(reopened["region_code"])
    fresh = deadlines.compute_deadline(rules, task["category"], task["priority"], rated_at)
    assert utc(reopened["deadline"]) == fresh.due
    assert utc(reopened["deadline"]) > utc(task["deadline"])
    assert utc(reopened["warn_at"]) == fresh.warn_at
    assert reopened["verified_at"] is None and reopened["rung"] == 0
    step = entries(reopened, "reopened")[0]
    assert step["detail"]["reason"] == "poor_rating"

    case = wait_case_history(system, case_no, "reopened")
    assert utc(case["deadline"]) == fresh.due
    assert case["status"] == "assigned" and case["rating"] == 1
    # Reopened work is closed and verified again like any other.
    post(system, f"/api/v1/tasks/{tid}/close", CHIEF, {"result": "已彻底整改", "founded": True})
    assert actions(get_task(system, tid))[-2:] == ["reopened", "closed"]
