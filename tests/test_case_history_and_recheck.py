"""The case history tells the whole story, each step with who, when and why: reassignment,
send-back (退回), sign-for (签收), an extension request refused and one approved, a failed
verification. And the re-check of signed-off work (防止反弹): held, or rebound, which reopens
the task with a fresh time limit and tells the assignee."""
from __future__ import annotations

from datetime import timedelta

from tests.casework import COUNTY, VILLAGE, VILLAGE_2, chief_of, entries, get_case, get_task, \
    new_task, post, utc
from tests.fixtures import wait_for

DISPATCHER, SUPERVISOR = f"dispatcher-{COUNTY}", f"supervisor-{COUNTY}"
CHIEF, CHIEF_2 = chief_of(VILLAGE), chief_of(VILLAGE_2)


def test_every_step_shows_in_the_case_history_with_who_when_and_why(system, clock):
    task = new_task(system, VILLAGE, category="water.other")
    tid, case_no = task["task_id"], task["case_no"]
    path = f"/api/v1/tasks/{tid}"
    steps = [  # (account, path, body, case history action, what it must say)
        (DISPATCHER, "/reassign", {"grid_code": VILLAGE_2, "reason": "地点属马岭村"},
         "reassigned", {"reason": "地点属马岭村"}),
        (CHIEF_2, "/return", {"reason": "排污口在金鸡村一侧"}, "returned",
         {"reason": "排污口在金鸡村一侧"}),
        (DISPATCHER, "/reassign", {"grid_code": VILLAGE, "reason": "退回后改派金鸡村"},
         "reassigned", {"reason": "退回后改派金鸡村"}),
        (CHIEF, "/acknowledge", {}, "acknowledged", {}),
        (CHIEF, "/extension", {"days": 5, "reason": "等待水质检测报告"}, "extension_requested",
         {"days": 5, "reason": "等待水质检测报告"}),
        (SUPERVISOR, "/extension/decision", {"approve": False, "note": "检测可加急"},
         "extension_refused", {"days": 5, "reason": "等待水质检测报告", "note": "检测可加急"}),
        (CHIEF, "/extension", {"days": 3, "reason": "检测机构排期已满"}, "extension_requested",
         {"days": 3, "reason": "检测机构排期已满"}),
        (DISPATCHER, "/extension/decision", {"approve": True, "note": "同意"}, "extended",
         {"reason": "检测机构排期已满"}),
        (CHIEF, "/close", {"result": "已封堵排污口", "founded": True}, "closed",
         {"result": "已封堵排污口"}),
        (SUPERVISOR, "/verify", {"approved": False, "note": "缺少整改后水样检测"}, "sent_back",
         {"note": "缺少整改后水样检测"}),
    ]
    seen: dict[str, int] = {}
    for account, suffix, body, action, says in steps:
        clock.advance(hours=1)  # each step at its own time
        when = clock.now()
        status = 201 if suffix == "/extension" else 200
        post(system, path + suffix, account, body, status)
        seen[action] = seen.get(action, 0) + 1
        case = wait_for(lambda: (c := get_case(system, case_no)) and
                        len(entries(c, action)) >= seen[action] and c,
                        message=f"{action} in the case history")
        step = entries(case, action)[seen[action] - 1]
        assert step["actor_id"] == account, (action, step)
        assert utc(step["at"]) == when, (action, step)
        for key, value in says.items():
            assert step["detail"][key] == value, (action, key, step)

    # One history in order, as the complainant's case went through it.
    case = get_case(system, case_no)
    story = [h["action"] for h in case["history"] if h["action"] in {s[3] for s in steps}]
    assert story == [s[3] for s in steps]
    assert case["status"] in ("assigned", "in_progress")
    # The public sees the same steps, without who did them or why.
    public = system.call("GET", f"/api/v1/public/cases/{case_no}").json()
    assert [h["action"] for h in public["history"] if h["action"] == "extension_refused"]
    assert all(set(h) == {"at", "action"} for h in public["history"])


def _signed_off(system, category):
    task = new_task(system, VILLAGE, category=category)
    tid = task["task_id"]
    post(system, f"/api/v1/tasks/{tid}/close", CHIEF, {"result": "已整改", "founded": True})
    post(system, f"/api/v1/tasks/{tid}/verify", SUPERVISOR, {"approved": True})
    wait_for(lambda: get_case(system, task["case_no"])["status"] == "resolved",
             message="resolved")
    return task


def test_recheck_held_then_rebound_reopens_and_tells_the_assignee(system, clock):
    task = _signed_off(system, "air.burning")
    tid, case_no = task["task_id"], task["case_no"]
    recheck = f"/api/v1/tasks/{tid}/recheck"

    # Supervisors only, of the task's own region.
    post(system, recheck, CHIEF, {"outcome": "held"}, 403, "forbidden_role")
    post(system, recheck, "supervisor-360313", {"outcome": "held"}, 404)
    post(system, recheck, SUPERVISOR, {"outcome": "rebound"}, 422, "missing_field")

    clock.advance(days=10)
    held = post(system, recheck, SUPERVISOR, {"outcome": "held", "note": "回访未见焚烧"})
    assert held["status"] == "verified"
    assert entries(held, "rechecked")[-1]["detail"] == {"outcome": "held",
                                                         "note": "回访未见焚烧"}

    clock.advance(days=20)
    now = clock.now()
    rebound = post(system, recheck, SUPERVISOR, {"outcome": "rebound", "note": "夜间又有焚烧"})
    assert rebound["status"] == "reopened" and rebound["verified_at"] is None
    assert [h["action"] for h in rebound["history"]][-3:] == ["rechecked", "rechecked",
                                                              "reopened"]
    reopened = entries(rebound, "reopened")[-1]
    assert reopened["detail"]["reason"] == "rebound" and reopened["actor_id"] == SUPERVISOR
    # A fresh time limit from now (normal priority: 15 working days).
    assert utc(rebound["deadline"]) > now + timedelta(days=15)
    assert utc(rebound["deadline"]) == utc(reopened["detail"]["deadline"])

    case = wait_for(lambda: (c := get_case(system, case_no)) and entries(c, "reopened") and c,
                    message="reopened on the case")
    checks = entries(case, "rechecked")
    assert [(h["detail"]["outcome"], h["detail"]["note"], h["actor_id"]) for h in checks] == [
        ("held", "回访未见焚烧", SUPERVISOR), ("rebound", "夜间又有焚烧", SUPERVISOR)]
    assert entries(case, "reopened")[-1]["detail"]["reason"] == "rebound"
    if case["status"] != "assigned":
        print("history:", [(h["action"], h["at"], h.get("detail")) for h in case["history"]])
    assert case["status"] == "assigned"
    assert utc(case["deadline"]) == utc(rebound["deadline"])

    def told():
        inbox = system.call("GET", "/api/v1/messages", CHIEF).json()
        return [m for m in inbox if m["case_no"] == case_no
                and m["event_type"] == "task_reopened"]
    assert "问题反弹" in wait_for(told, message="the assignee told of the rebound")[0]["body"]

    # A reopened task is not re-checked: it is worked again, then verified again.
    post(system, recheck, SUPERVISOR, {"outcome": "held"}, 409, "invalid_state")
    post(system, f"/api/v1/tasks/{tid}/close", CHIEF, {"result": "再次清理", "founded": True})
    post(system, f"/api/v1/tasks/{tid}/verify", SUPERVISOR, {"approved": True})
    assert get_task(system, tid)["status"] == "verified"


def test_recheck_only_within_the_window(system, clock):
    task = _signed_off(system, "waste.dumping")
    recheck = f"/api/v1/tasks/{task['task_id']}/recheck"
    verified_at = utc(get_task(system, task["task_id"])["verified_at"])
    clock.set(verified_at + timedelta(days=91))  # policy recheck.within: 90 days
    post(system, recheck, SUPERVISOR, {"outcome": "rebound", "note": "又倾倒"}, 409,
          "recheck_window_closed")
    assert get_task(system, task["task_id"])["status"] == "verified"
    clock.set(verified_at + timedelta(days=89))
    post(system, recheck, SUPERVISOR, {"outcome": "held"})


def test_extension_refusal_tells_the_assignee_and_request_tells_the_supervisor(system):
    task = new_task(system, VILLAGE, category="noise.construction")
    tid, case_no = task["task_id"], task["case_no"]
    post(system, f"/api/v1/tasks/{tid}/extension", CHIEF, {"days": 2, "reason": "夜间施工难取证"},
          201)

    def inbox(account, event_type):
        return [m for m in system.call("GET", "/api/v1/messages", account).json()
                if m["case_no"] == case_no and m["event_type"] == event_type]
    # notify reaches "the supervisor of the region" through the county grid's chief.
    asked = wait_for(lambda: inbox(chief_of(COUNTY), "task_extension_requested"),
                     message="supervisor told")[0]
    assert "夜间施工难取证" in asked["body"]
    # Dispatchers decide extensions: the region's dispatch desk is told too.
    desk = wait_for(lambda: inbox(DISPATCHER, "task_extension_requested"),
                    message="dispatch desk told")[0]
    assert "夜间施工难取证" in desk["body"]
    assert not inbox("dispatcher-360313", "task_extension_requested")  # not the neighbour
    post(system, f"/api/v1/tasks/{tid}/extension/decision", SUPERVISOR,
          {"approve": False, "note": "可白天取证"})
    refused = wait_for(lambda: inbox(CHIEF, "task_extension_refused"),
                       message="assignee told")[0]
    assert "可白天取证" in refused["body"] and "未获批准" in refused["body"]


def test_a_step_mirrored_late_keeps_the_time_it_happened(system, clock):
    """A task step reaches complaints as an event, perhaps hours later (complaints was down):
    the case history says when the step was taken, not when complaints heard of it."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from services.common import events
    from services.common.unit_of_work import UnitOfWork
    from services.complaints import handlers

    task = new_task(system, VILLAGE, category="water.other")
    happened = clock.now() - timedelta(hours=3)
    payload = events.envelope(events.TASK_WARNING, dict(
        events.CATALOGUE[events.TASK_WARNING].sample, task_id=task["task_id"],
        case_no=task["case_no"]), actor={"id": "dispatch", "role": "system"}, now=happened)
    engine = create_engine(system.databases["complaints"])
    try:
        with UnitOfWork(sessionmaker(engine, expire_on_commit=False)(), "complaints",
                        clock.now(), payload["actor"]) as uow:
            handlers.on_task_event(uow, payload)
            uow.commit()
    finally:
        engine.dispose()
    (warning,) = entries(get_case(system, task["case_no"]), "warning")
    assert utc(warning["at"]) == happened
