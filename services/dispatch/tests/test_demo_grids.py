"""The Pingxiang demo registry: loads cleanly, nests, borders where the real map does, routes."""
import itertools
import json
import re
from pathlib import Path

import pytest

from infra.demo import pingxiang
from services.dispatch.grids import GridRegistry, export_geojson, import_geojson

MOBILE = re.compile(r"^1[358]\d{9}$")


@pytest.fixture(scope="module")
def grids():
    return pingxiang.demo_grids()


@pytest.fixture(scope="module")
def reg(grids):
    registry, rejects = GridRegistry.build(grids)
    assert rejects == []
    return registry


def test_imports_through_geojson_with_zero_rejects(grids):
    back, rejects = import_geojson(json.dumps(export_geojson(grids), ensure_ascii=False))
    assert rejects == [] and [g.code for g in back] == [g.code for g in grids]


def test_written_geojson_is_current(grids):
    path = Path(pingxiang.__file__).with_name("pingxiang.geojson")
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(export_geojson(grids), ensure_ascii=False)), (
        "regenerate with: python -m infra.demo.pingxiang")


def test_divisions(reg):
    assert reg.get("360300").name == "萍乡市"
    assert {g.code: g.name for g in reg.children("360300")} == {
        "360302": "安源区", "360313": "湘东区", "360321": "莲花县", "360322": "上栗县",
        "360323": "芦溪县"}
    assert {g.name for g in reg.children("360323") if g.level == "township"} == {
        "芦溪镇", "宣风镇", "银河镇"}
    for county in reg.children("360300"):
        towns = reg.children(county.code)
        assert 2 <= len(towns) <= 3
        for town in towns:
            assert len(town.code) == 9 and town.code.startswith(county.code)
            villages = [g for g in reg.children(town.code) if g.level == "village"]
            assert len(villages) == 2 and all(len(v.code) == 12 for v in villages)
    assert {g.code for g in reg.roots()} == {"360300", "430181", "430281", "430223"}
    assert reg.get("PARK-360323-01").parent_code == "360323100"


def test_children_nested_inside_parents(reg):
    for g in reg:
        parent = reg.get(g.parent_code)
        if parent is None:
            continue
        assert parent.boundary.contains(g.boundary), g.code
        if g.level in ("township", "village", "custom"):
            # Strictly inside: not touching the parent's outline.
            assert not g.boundary.intersects(parent.boundary.exterior), g.code


def test_borders_shared_where_the_real_map_has_them(reg):
    def shared(a, b):
        return reg.get(a).boundary.intersection(reg.get(b).boundary).length

    assert shared("360323", "360313") > 0.1  # 芦溪县 | 湘东区
    assert shared("360323", "360302") > 0.1  # 芦溪县 | 安源区
    assert shared("360322", "430181") > 0.1  # 上栗县 | 浏阳市
    assert shared("360313", "430281") > 0.1  # 湘东区 | 醴陵市
    assert shared("360321", "430223") > 0.1  # 莲花县 | 攸县
    counties = [g for g in reg if g.level == "county"]
    for a, b in itertools.combinations(counties, 2):
        assert a.boundary.intersection(b.boundary).area < 1e-12, (a.code, b.code)


def test_people(grids):
    ids = []
    for g in grids:
        people = [g.chief] + list(g.workers)
        assert g.chief and g.chief["name"]
        if g.level == "village":
            assert len(g.workers) >= 2
        for p in people:
            assert MOBILE.match(p["phone"]), p
            assert 2 <= len(p["name"]) <= 3
            ids.append(p["id"])
    assert len(ids) == len(set(ids))
    assert pingxiang.demo_grids()[10].chief == grids[10].chief  # deterministic


def test_routes_known_point_in_xuanfeng(reg):
    village = reg.route_point(114.1, 27.6)
    assert village.code == "360323101001"
    assert [g.name for g in reg.ancestors(village.code)] == ["宣风镇", "芦溪县", "萍乡市"]
    # Inside 宣风镇 but south of its villages.
    assert reg.route_point(114.13, 27.502).code == "360323101"
    assert reg.route_point(114.04, 27.71).code == "PARK-360323-01"
    assert reg.route_point(113.5, 27.6).code == "430281"  # 醴陵市
    assert reg.route_point(114.0, 27.45).code == "360313"  # on the 芦溪|湘东 edge: smaller code
    assert reg.route_point(115.0, 27.6) is None


def test_routes_addresses(reg):
    assert reg.route_address("芦溪县宣风镇某村").code == "360323101"
    assert reg.route_address("江西省萍乡市芦溪县").code == "360323"
    assert reg.route_address("萍乡芦溪工业园区内").code == "PARK-360323-01"
    assert reg.route_address("湖南省醴陵市").code == "430281"
