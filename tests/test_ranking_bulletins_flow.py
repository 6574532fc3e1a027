"""Bulletins published on a schedule through the running system: advancing the shared clock past
a day's, a week's and a month's publication time publishes exactly one bulletin of each, with
the figures of the cases made for it, even with two ranking instances; each is archived as
HTML, its data and a PDF whose text holds the Chinese title.

The module runs on a system of its own: a bulletin is published once, so an earlier test that
had moved the shared clock past October 2030 would have published these periods' bulletins
before their cases existed. Escalation counts are not asserted (the tasks' own ladders fire
when the clock jumps)."""
from __future__ import annotations

import io
import time
import uuid
from datetime import datetime, timedelta, timezone

import pypdf
import pytest
from sqlalchemy import create_engine, text

from services.ranking import metrics, publishing
from tests.casework import get_case
from tests.fixtures import another_instance, system_of_its_own, wait_for

COUNTY, GRID = "360322", "360322100001"            # 上栗县, 大路村
INTAKE, CHIEF, SUPERVISOR = f"intake-{COUNTY}", f"gz-{GRID}", f"supervisor-{COUNTY}"
CITY = "360300"
UTC = timezone.utc
DAY = "2030-09-09"          # a Monday
WEEK, MONTH = "2030-W37", "2030-09"
CFG = metrics.load_config()


@pytest.fixture(scope="module")
def system(service_logging, tmp_path_factory):
    with system_of_its_own(tmp_path_factory) as sys_:
        yield sys_


@pytest.fixture
def second_ranking(system):
    # This one keeps PDFs ahead of readers (the system's instance leaves it to readers).
    with another_instance(system, "ranking", PDF_INTERVAL_SECONDS=1) as container:
        yield container


def _post(system, path, account, body):
    r = system.call("POST", path, account, json=body)
    assert r.status_code in (200, 201), (path, r.status_code, r.text)
    return r.json()


def _file(system, category, priority="normal", enterprise=None) -> str:
    body = {"channel": "hotline", "category": category, "grid_code": GRID,
            "priority": priority, "description": "通报测试 " + uuid.uuid4().hex,
            "complainant": {"name": "李某", "phone": "13955556666"}}
    if enterprise:
        body["enterprise"] = enterprise
    return _post(system, "/api/v1/intake", INTAKE, body)["case_no"]


def _accept(system, case_no) -> str:
    _post(system, f"/api/v1/cases/{case_no}/accept", INTAKE, {})
    return wait_for(lambda: get_case(system, case_no).get("task_id"), message="task")


def _query(system, sql, **params):
    engine = create_engine(system.databases["ranking"])
    with engine.connect() as conn:
        rows = conn.execute(text(sql), params).all()
    engine.dispose()
    return rows


def _settled(system):
    """Ranking has recorded and folded everything sent so far (twice in a row, a second apart)."""
    sql = ("SELECT coalesce(max(position), 0), (SELECT min(position) FROM checkpoint "
           "WHERE name IN ('main', 'books')) FROM recorded_event")
    first = _query(system, sql)[0]
    time.sleep(1.0)
    second = _query(system, sql)[0]
    return first == second and second[0] == second[1]


def _published(system, bulletin_id):
    r = system.call("GET", f"/api/v1/bulletins/{bulletin_id}", "admin")
    return r.status_code == 200 and r.json()


def _announcements(system, bulletin_id) -> int:
    return _query(system, "SELECT count(*) FROM outbox WHERE event_type = 'bulletin_published' "
                          "AND payload->>'bulletin_id' = :b", b=bulletin_id)[0][0]


def _pass(system, clock, kind, period) -> dict:
    """Move the clock just past the bulletin's publication time; return it once published."""
    wait_for(lambda: _settled(system), timeout=60, message="ranking settled")
    clock.set(publishing.publish_at(kind, period, CFG) + timedelta(minutes=1))
    bid = publishing.bulletin_id(kind, period, CITY)
    return wait_for(lambda: _published(system, bid), timeout=60, message=f"{bid} published")


def test_day_week_and_month_each_publish_one_bulletin(system, clock, second_ranking):
    clock.set(datetime(2030, 9, 9, 2, 0, tzinfo=UTC))  # Monday 10:00 Beijing
    enterprise = f"上栗测试烟花厂{uuid.uuid4().hex[:6]}"
    closed = _file(system, "air.odour", enterprise=enterprise)
    closed_task = _accept(system, closed)
    late = _file(system, "noise.construction", priority="urgent")  # due in 24 hours
    late_task = _accept(system, late)
    declined = _file(system, "water.industrial")
    _post(system, f"/api/v1/cases/{declined}/decline", INTAKE, {"reason": "not_environmental"})
    clock.advance(hours=2)
    _post(system, f"/api/v1/tasks/{closed_task}/close", CHIEF, {"result": "已整改",
                                                                 "founded": True})
    _post(system, f"/api/v1/tasks/{closed_task}/verify", SUPERVISOR, {"approved": True})

    # 日汇总: published the next morning at 08:00 Beijing time.
    daily = _pass(system, clock, "daily", DAY)
    assert daily["title"] == f"萍乡市网格化环境监管日汇总 {DAY}"
    county = next(r["figures"] for r in daily["data"]["by_region"] if r["scope"] == COUNTY)
    assert (county["received"], county["accepted"], county["declined"], county["closed"],
            county["closed_on_time"]) == (3, 2, 1, 1, 1)
    assert county["received_by_category"] == {"air.odour": 1, "noise.construction": 1,
                                              "water.industrial": 1}
    assert daily["data"]["totals"]["received"] == 3  # nothing else in the city that day
    html = system.call("GET", f"/api/v1/bulletins/{daily['id']}.html")
    assert html.status_code == 200 and "日汇总" in html.text and "上栗县" in html.text
    assert "text/html" in html.headers["Content-Type"]
    assert "李某" not in html.text and "13955556666" not in html.text

    # 周调度: the next Monday; the urgent task is overdue since Tuesday 10:00.
    weekly = _pass(system, clock, "weekly", WEEK)
    mine = [t for t in weekly["data"]["overdue"] if t["case_no"] == late]
    assert len(mine) == 1 and mine[0]["task_id"] == late_task
    assert mine[0]["days_overdue"] == 3.6   # Tue 10:00 to Mon 00:00: 14/24 + 3 working days
    assert mine[0]["deadline"] == "2030-09-10 10:00"
    assert all(t["case_no"] != closed for t in weekly["data"]["overdue"] + weekly["data"]["slow"])
    assert "assignee" not in str(weekly["data"])

    # 月通报: the 2nd working day of October, with the league table and the cards.
    monthly = _pass(system, clock, "monthly", MONTH)
    data = monthly["data"]
    assert COUNTY in [r["scope"] for r in data["league"]]
    assert [c["level"] for c in data["cards"] if c["enterprise"] == enterprise] == ["yellow"]
    assert [c["cases"] for c in data["cards"] if c["enterprise"] == enterprise] == [[closed]]
    assert any(c["enterprise"] == enterprise and c["to_level"] == "yellow"
               for c in data["card_changes"])
    assert data["totals"]["received"] >= 3

    # Exactly one of each, announced once, although two instances tick.
    for bulletin in (daily, weekly, monthly):
        assert _query(system, "SELECT count(*) FROM bulletin WHERE kind = :k AND period = :p",
                      k=bulletin["kind"], p=bulletin["period"])[0][0] == 1
        assert _announcements(system, bulletin["id"]) == 1
        wait_for(lambda b=bulletin: _query(
            system, "SELECT count(*) FROM outbox WHERE payload->>'bulletin_id' = :b "
                    "AND published_at IS NOT NULL", b=b["id"])[0][0] == 1,
            message="bulletin_published sent")

    # The city's grid chief is told in the app (notify consumes bulletin_published).
    wait_for(lambda: any(monthly["title"] in (m.get("body") or "") for m in system.call(
        "GET", "/api/v1/messages?limit=200", "gz-360300").json()), timeout=30,
        message="in-app notice of the monthly bulletin")

    # The printable PDF holds the Chinese title.
    r = system.call("GET", f"/api/v1/bulletins/{monthly['id']}.pdf")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    pdf_text = "".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(r.content))
                       .pages)
    assert "月通报" in pdf_text and "萍乡市" in pdf_text
    # Each archived bulletin gets its PDF kept in the background, so readers do not wait.
    wait_for(lambda: _query(system, "SELECT pdf IS NOT NULL FROM bulletin WHERE id = :b",
                            b=monthly["id"])[0][0], timeout=120, message="PDF kept")
    kept = system.call("GET", f"/api/v1/bulletins/{monthly['id']}.pdf")
    assert kept.content.startswith(b"%PDF") and "月通报" in "".join(
        p.extract_text() for p in pypdf.PdfReader(io.BytesIO(kept.content)).pages)


def test_the_public_sees_daily_and_monthly_but_not_the_dispatch_list(system):
    staff = system.call("GET", "/api/v1/bulletins?limit=1000", "admin")
    public = system.call("GET", "/api/v1/bulletins?limit=1000")
    assert staff.status_code == public.status_code == 200
    kinds = {b["kind"] for b in public.json()}
    assert kinds <= {"daily", "monthly"}
    weekly = [b for b in staff.json() if b["kind"] == "weekly"]
    assert weekly, "the test above published a weekly dispatch list"
    r = system.call("GET", f"/api/v1/bulletins/{weekly[0]['id']}")
    assert r.status_code == 404
    assert system.call("GET", f"/api/v1/bulletins/{weekly[0]['id']}",
                       "supervisor-360322").status_code == 200
    r = system.call("GET", "/api/v1/bulletins?kind=yearly")
    assert r.status_code == 422 and r.json()["error"]["field"] == "kind"
