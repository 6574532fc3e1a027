"""Bulletins render from aggregated data, carry no personal data; CSV export of every table."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest

from services.common.errors import ValidationError
from services.common.events import CATALOGUE, sample_payload
from services.ranking import bulletins, metrics
from services.ranking.cards import Violation, evaluate, transitions
from services.ranking.hotspots import hot_spots
from services.ranking.league import league_table
from services.ranking.metrics import Counters, apply, figures, figures_for

CFG = metrics.load_config()
NAMES = {"360300": "萍乡市", "360321": "莲花县", "360322": "上栗县", "360323": "芦溪县"}
REGION = {"code": "360300", "name": "萍乡市"}


def _fig(**kw):
    base = {"closed": 20, "accepted": 25, "case_handling_rate": 0.8, "on_time_rate": 0.9,
            "satisfaction_rate": 0.7, "problem_discovery_rate": 0.5, "avg_days_to_close": 6.0,
            "escalations": 3}
    base.update(kw)
    return base


@pytest.fixture()
def monthly_data():
    figs = {"360321": _fig(), "360322": _fig(on_time_rate=0.5, escalations=12),
            "360323": _fig(closed=4)}
    sizes = {s: {"grid_cells": 120} for s in figs}
    rows = league_table(figs, sizes, CFG)
    now = datetime(2026, 12, 2, 1, tzinfo=timezone.utc)
    cards = evaluate([Violation("萍乡某化工有限公司", "360323-20261123-0001",
                                datetime(2026, 11, 23, tzinfo=timezone.utc)),
                      Violation("萍乡某化工有限公司", "360323-20261125-0002",
                                datetime(2026, 11, 25, tzinfo=timezone.utc))], now, CFG)
    lag = bulletins.laggards(rows, CFG)
    for item in lag:
        item["deadline"] = "2026-12-16"
    return {"region": REGION, "period": "2026-11", "generated_at": "2026-12-02 09:00",
            "names": NAMES, "totals": figures({"received": 30, "closed": 20, "accepted": 25}),
            "league": rows, "laggards": lag,
            "components": {"case_handling_rate": "案件查办率 Handling"},
            "cards": [{"enterprise": e, "level": c.level, "cases": c.cases}
                      for e, c in cards.items() if c.level],
            "card_changes": transitions({}, cards, now)}


def test_monthly_bulletin_contains_the_league_table(monthly_data):
    html = bulletins.render_monthly(monthly_data)
    assert "月通报" in html and "@media print" in html and "size: A4" in html
    league = html.split('class="league"')[1].split("</table>")[0]
    # Ranked first by score, then the unranked county with its reason.
    assert league.index("莲花县") < league.index("上栗县") < league.index("芦溪县")
    assert "不参与排名 Unranked: closed 4 &lt; 10" in league
    assert "案件查办率 Handling" in league
    assert "红牌 red" in html and "360323-20261125-0002" in html
    assert "上栗县</strong>" in html and "2026-12-16" in html  # named laggard with deadline


def test_laggards_name_the_bottom_ranked_with_weak_components():
    rows = league_table({"a": _fig(), "b": _fig(on_time_rate=0.2), "c": _fig(closed=1)},
                        {s: {"grid_cells": 100} for s in "abc"}, CFG)
    lag = bulletins.laggards(rows, dict(CFG, bulletins={"laggards": {"bottom": 1}}))
    assert [x["scope"] for x in lag] == ["b"]
    assert lag[0]["weak"][0] == "on_time_rate"


def test_daily_and_weekly_render_from_sample_events():
    state = Counters()
    for kind in CATALOGUE:
        apply(state, sample_payload(kind))
    day = figures_for(state, "2026-11-23")
    spots = hot_spots({"360323100001": [0, 1, 0, 1, 9]}, {}, CFG)
    daily = bulletins.render_daily({
        "region": REGION, "period": "2026-11-23", "generated_at": "2026-11-24 08:00",
        "names": NAMES, "categories": {"air.odour": "大气-恶臭/异味"},
        "totals": day["360300"], "by_region": [{"scope": "360323", "figures": day["360323"]}],
        "hot_spots": spots})
    assert "日汇总" in daily and "芦溪县" in daily and "大气-恶臭/异味" in daily
    assert "360323100001" in daily and "above own history" in daily
    week = figures_for(state, "2026-W48")
    weekly = bulletins.render_weekly({
        "region": REGION, "period": "2026-W48", "generated_at": "2026-11-30 08:00",
        "names": NAMES, "totals": week["360300"],
        "by_region": [{"scope": "360323", "figures": week["360323"]}],
        "overdue": [{"task_id": "T-9f2c1a", "case_no": "360323-20261123-0001", "scope": "360323",
                     "grid_code": "360323100001", "category": "air.odour",
                     "unit": "芦溪县宣风镇网格", "deadline": "2026-12-04", "days_overdue": 2.5,
                     "rung": 1}],
        "slow": []})
    assert "周调度" in weekly and "T-9f2c1a" in weekly and "2.5" in weekly
    assert "无办理缓慢任务" in weekly
    # The sample events name a grid worker (刘建华) and a plant; the worker never reaches print.
    for html in (daily, weekly):
        assert "刘建华" not in html


@pytest.mark.parametrize("bad", [{"complainant": {"name": "张三"}},
                                 {"overdue": [{"task_id": "t", "assignee": {"name": "刘建华"}}]},
                                 {"by_region": [{"scope": "x", "figures": {}, "phone": "138"}]}])
def test_personal_data_is_refused(bad):
    data = {"region": REGION, "period": "2026-W48", "generated_at": "x"}
    data.update(bad)
    with pytest.raises(ValidationError) as err:
        bulletins.render_weekly(data)
    assert err.value.code == "personal_data"


def test_csv_export_of_the_league_table(monthly_data):
    text = bulletins.to_csv(monthly_data["league"], [
        "rank", ("scope", "地区"), "score", "components.on_time_rate", "ranked",
        "reason_unranked", "rank_change"])
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["rank", "地区", "score", "components.on_time_rate", "ranked",
                        "reason_unranked", "rank_change"]
    assert [line[1] for line in lines[1:]] == ["360321", "360322", "360323"]
    assert lines[1][0] == "1" and lines[1][3] == "0.9" and lines[1][4] == "1"
    assert lines[3][0] == "" and lines[3][5] == "closed 4 < 10"
    assert text.endswith("\r\n")


def test_csv_quotes_formula_like_text_and_joins_lists():
    text = bulletins.to_csv([{"enterprise": "=HYPERLINK(1)", "cases": ["a", "b"], "n": -2,
                              "note": 'say "hi", ok'}], ["enterprise", "cases", "n", "note"])
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row == ["'=HYPERLINK(1)", "a; b", "-2", 'say "hi", ok']
