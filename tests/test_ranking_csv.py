"""CSV export of every table ranking answers: each CSV parses to the same rows as the JSON of the
same endpoint, is UTF-8 with a BOM (Excel then reads Chinese right), and is served as a
download (Content-Type and Content-Disposition)."""
from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest

from services.ranking import metrics, publishing
from tests.casework import COUNTY, VILLAGE, chief_of, get_case
from tests.fixtures import wait_for

PERIOD = "2026-11"
INTAKE, CHIEF, SUPERVISOR = f"intake-{COUNTY}", chief_of(VILLAGE), f"supervisor-{COUNTY}"


def _rows(response) -> list[dict]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="')
    assert response.content.startswith(b"\xef\xbb\xbf")  # BOM
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def _flat(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if isinstance(value, dict) and value and not any(isinstance(v, (dict, list))
                                                         for v in value.values()):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _same(cell: str, value) -> bool:
    if value is None or value == {}:
        return cell == ""
    if isinstance(value, bool):
        return cell == ("1" if value else "0")
    if isinstance(value, (int, float)):
        return abs(float(cell) - value) < 1e-4
    if isinstance(value, list) and all(isinstance(v, dict) and "case_no" not in v
                                       for v in value):
        # Records (a shortfall: figure, value, minimum) as key=value pairs, in order.
        return cell == "; ".join(f"{k}={x}" for v in value for k, x in v.items())
    if isinstance(value, list):
        return cell == "; ".join(str(v["case_no"] if isinstance(v, dict) else v) for v in value)
    return cell == str(value)


def _compare(csv_rows: list[dict], json_rows: list[dict]) -> None:
    assert len(csv_rows) == len(json_rows)
    for got, want in zip(csv_rows, json_rows):
        want = _flat(want)
        assert set(want) <= set(got), set(want) - set(got)
        for key, value in want.items():
            assert _same(got[key], value), (key, got[key], value)


def _json(system, path, token=None):
    r = system.call("GET", path, token)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def carded(system):
    """An enterprise with a yellow card (one founded sign-off), so the card tables have rows."""
    name = f"萍乡导出测试 {uuid.uuid4().hex[:6]}"
    r = system.call("POST", "/api/v1/intake", INTAKE, json={
        "channel": "hotline", "category": "air.dust", "grid_code": VILLAGE, "enterprise": name,
        "description": "导出 " + uuid.uuid4().hex})
    case_no = r.json()["case_no"]
    system.call("POST", f"/api/v1/cases/{case_no}/accept", INTAKE, json={})
    task_id = wait_for(lambda: get_case(system, case_no).get("task_id"), message="task")
    system.call("POST", f"/api/v1/tasks/{task_id}/close", CHIEF,
                json={"result": "查实超标排放", "founded": True})
    system.call("POST", f"/api/v1/tasks/{task_id}/verify", SUPERVISOR, json={"approved": True})
    key = name.replace(" ", "").lower()
    wait_for(lambda: system.call("GET", f"/api/v1/enterprises/{key}/cards").status_code == 200,
             timeout=30, message="card")
    return key


def test_region_figures(system, carded):
    want = [dict({"scope": r["scope"], "period": r["period"]}, **r["figures"])
            for r in _json(system, f"/api/v1/stats/regions?period={PERIOD}")]
    assert want, "the session has cases in 2026-11"
    response = system.call("GET", f"/api/v1/stats/regions.csv?period={PERIOD}")
    _compare(_rows(response), want)
    assert 'filename="regions-2026-11.csv"' in response.headers["Content-Disposition"]
    assert "received_by_channel.hotline" in response.content.decode("utf-8-sig").split("\r\n")[0]
    same = system.call("GET", f"/api/v1/stats/regions?period={PERIOD}&format=csv")
    assert same.content == response.content


def test_league_table(system, carded):
    want = _json(system, f"/api/v1/stats/league?period={PERIOD}")["rows"]
    got = _rows(system.call("GET", f"/api/v1/stats/league.csv?period={PERIOD}"))
    _compare(got, want)
    assert "components.on_time_rate" in got[0]
    r = system.call("GET", "/api/v1/stats/league.csv?period=Nov")
    assert r.status_code == 422 and r.json()["error"]["field"] == "period"


def test_cards_and_card_history(system, carded):
    want = _json(system, "/api/v1/cards")
    got = _rows(system.call("GET", "/api/v1/cards.csv"))
    _compare(got, want)
    mine = next(r for r in got if r["enterprise_key"] == carded)
    assert mine["enterprise"].startswith("萍乡导出测试") and mine["level"] == "yellow"
    history = _json(system, f"/api/v1/enterprises/{carded}/cards")["history"]
    got = _rows(system.call("GET", f"/api/v1/enterprises/{carded}/cards.csv"))
    _compare(got, history)
    assert [r["to_level"] for r in got] == ["yellow"]


def test_bulletin_archive_and_the_tables_inside_a_bulletin(system, clock):
    clock.set(publishing.publish_at("daily", "2026-11-23", metrics.load_config())
              + timedelta(minutes=1))
    bid = publishing.bulletin_id("daily", "2026-11-23", "360300")
    wait_for(lambda: system.call("GET", f"/api/v1/bulletins/{bid}", "admin").status_code == 200,
             timeout=60, message="daily bulletin")
    want = _json(system, "/api/v1/bulletins?limit=1000", "admin")
    _compare(_rows(system.call("GET", "/api/v1/bulletins.csv?limit=1000", "admin")), want)
    data = _json(system, f"/api/v1/bulletins/{bid}")["data"]
    by_region = [dict({"scope": r["scope"]}, **r["figures"]) for r in data["by_region"]]
    got = _rows(system.call("GET", f"/api/v1/bulletins/{bid}.csv?table=by_region"))
    _compare(got, by_region)
    totals = _rows(system.call("GET", f"/api/v1/bulletins/{bid}.csv?table=totals"))
    _compare(totals, [dict({"scope": "360300", "period": "2026-11-23"}, **data["totals"])])
    r = system.call("GET", f"/api/v1/bulletins/{bid}.csv?table=league")
    assert r.status_code == 422 and r.json()["error"]["field"] == "table"
