"""Rivers (河流): names, aliases and codes of one river give one key; a point within a river
line's buffer is on that river."""
from pathlib import Path

import pytest

from services.common import rivers

ROOT = Path(__file__).resolve().parents[3]
DEMO = rivers.load(ROOT / "infra" / "config" / "rivers.yaml")


def test_every_name_of_a_river_gives_one_key():
    assert rivers.key("萍水河", DEMO) == rivers.key(" 渌 水 ", DEMO) == rivers.key(
        "psh-demo", DEMO) == "PSH-DEMO"
    assert rivers.key("袁河", DEMO) == "袁河" and rivers.key(None, DEMO) == ""
    assert rivers.resolve("渌水", DEMO).name == "萍水河"


def test_point_on_the_line_within_its_buffer():
    # The demo line runs from (114.00, 27.675) to (113.92, 27.645) through 安源区.
    assert rivers.river_at(113.93, 27.649, DEMO).name == "萍水河"
    assert rivers.river_at(113.93, 27.649 + 0.0025, DEMO).name == "萍水河"  # ~280 m north
    assert rivers.river_at(113.93, 27.649 + 0.004, DEMO) is None            # ~440 m north
    assert rivers.river_at(114.15, 27.60, DEMO) is None
    assert rivers.river_at(None, None, DEMO) is None


def test_bad_files_are_refused(tmp_path):
    path = tmp_path / "rivers.yaml"
    for text in ("rivers: [{name: 甲}]",
                 "rivers: [{code: A, name: 甲}, {code: B, name: 乙, aliases: [甲]}]",
                 "rivers: [{code: A, name: 甲, line: [[114, 27]]}]",
                 "rivers: [{code: A, name: 甲, buffer_m: -1}]"):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError):
            rivers.load(path)
