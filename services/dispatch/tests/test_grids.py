"""The grid registry: validation, routing by point and by address, tree queries, import/export."""
import json
import random
from datetime import date

import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon

from services.dispatch.grids import (
    CSV_FIELDS, Grid, GridRegistry, export_csv, export_geojson, import_csv, import_geojson,
    validate,
)
from services.dispatch.synthetic import synthetic_grids, synthetic_registry


def chief(code):
    return {"id": f"gz-{code}", "name": f"网格长{code}", "phone": "13800138000"}


def small_tree() -> list[Grid]:
    """City 360300 = two counties side by side (shared edge lon 111.0); towns and villages.

    360302 [110.0, 111.0] x [30, 31]:  towns 360302100 [110.0, 110.5], 360302101 [110.5, 111.0]
    360313 [111.0, 112.0] x [30, 31]:  town 360313100 [111.0, 111.5] with a park and villages
    """
    b = shapely.box
    return [
        Grid("360300", "萍乡市", "city", None, b(110, 30, 112, 31), chief("360300")),
        Grid("360302", "安源区", "county", "360300", b(110, 30, 111, 31), chief("360302")),
        Grid("360313", "湘东区", "county", "360300", b(111, 30, 112, 31), chief("360313")),
        Grid("360302100", "新华镇", "township", "360302", b(110, 30, 110.5, 31)),
        Grid("360302101", "青山镇", "township", "360302", b(110.5, 30, 111, 31)),
        Grid("360313100", "新华镇", "township", "360313", b(111, 30, 111.5, 31),
             workers=[{"id": "gy-1", "name": "王芳", "phone": "13900000001"}]),
        Grid("360313100001", "东岭村", "village", "360313100", b(111, 30, 111.25, 30.5),
             chief("360313100001")),
        Grid("360313100002", "南塘村", "village", "360313100", b(111.25, 30, 111.5, 30.5),
             chief("360313100002"), valid_to=date(2026, 1, 1)),
        # The park overlaps 东岭村's north-east corner and the town's unvillaged north.
        Grid("PARK-360313-01", "湘东工业园", "custom", "360313100", b(111.2, 30.4, 111.3, 30.8),
             chief("PARK-360313-01")),
    ]


@pytest.fixture(scope="module")
def reg() -> GridRegistry:
    registry, rejects = GridRegistry.build(small_tree())
    assert rejects == []
    return registry


# --- routing by point -------------------------------------------------------------------------
def test_deepest_grid_wins(reg):
    assert reg.route_point(111.1, 30.2).code == "360313100001"  # village
    assert reg.route_point(111.4, 30.9).code == "360313100"  # town, no village there
    assert reg.route_point(111.8, 30.5).code == "360313"  # county, no town there
    assert reg.route_point(110.2, 30.5).code == "360302100"


def test_park_inside_town_beats_town_and_same_depth_village(reg):
    assert reg.route_point(111.25, 30.7).code == "PARK-360313-01"  # town only: park deeper
    assert reg.route_point(111.22, 30.45).code == "PARK-360313-01"  # village and park overlap
    assert reg.depth("PARK-360313-01") == reg.depth("360313100001") == 3


def test_outside_every_grid(reg):
    assert reg.route_point(109.9, 30.5) is None
    assert reg.route_point(111.0, 31.0001) is None


def test_shared_edge_resolves_to_smallest_code(reg):
    # lon 111.0 is the edge between 360302101 (town of 360302) and 360313100 (town of 360313);
    # a village of 360313100 also touches it below lat 30.5, and is deeper.
    assert reg.route_point(111.0, 30.7).code == "360302101"
    assert reg.route_point(111.0, 30.2).code == "360313100001"
    # Edge between the two villages at lon 111.25.
    assert reg.route_point(111.25, 30.1).code == "360313100001"
    # Outer edge of the city still belongs to it.
    assert reg.route_point(110.0, 30.5).code == "360302100"


def test_edge_rule_does_not_depend_on_load_order():
    grids = small_tree()
    for seed in range(5):
        random.Random(seed).shuffle(grids)
        registry, rejects = GridRegistry.build(grids)
        assert not rejects
        assert registry.route_point(111.0, 30.7).code == "360302101"
        assert registry.route_point(111.25, 30.1).code == "360313100001"


def test_validity_date(reg):
    assert reg.route_point(111.4, 30.2).code == "360313100002"  # validity ignored
    assert reg.route_point(111.4, 30.2, on=date(2025, 12, 31)).code == "360313100002"
    assert reg.route_point(111.4, 30.2, on=date(2026, 1, 1)).code == "360313100"


def test_bulk_routing_matches_single(reg):
    rng = random.Random(3)
    lons = [rng.uniform(109.8, 112.2) for _ in range(500)] + [111.0, 111.25]
    lats = [rng.uniform(29.8, 31.2) for _ in range(500)] + [30.7, 30.1]
    for on in (None, date(2026, 6, 1)):
        assert reg.route_points(lons, lats, on) == [
            reg.route_point(x, y, on) for x, y in zip(lons, lats)]
    assert reg.route_points([], []) == []


def _brute_force(grids, depth, lon, lat):
    pt = Point(lon, lat)
    hits = [g for g in grids if g.boundary is not None and g.boundary.covers(pt)]
    if not hits:
        return None
    deepest = max((depth[g.code], g.level == "custom") for g in hits)
    return min(g.code for g in hits if (depth[g.code], g.level == "custom") == deepest)


def test_index_agrees_with_a_full_scan_including_lattice_edges():
    grids = synthetic_grids(400)
    registry = GridRegistry(grids)
    depth = {g.code: registry.depth(g.code) for g in grids}
    rng = random.Random(7)
    x0, y0, x1, y1 = registry.get("990000").boundary.bounds
    points = [(rng.uniform(x0 - 0.01, x1 + 0.01), rng.uniform(y0 - 0.01, y1 + 0.01))
              for _ in range(300)]
    # Lattice lines and corners: exactly on shared edges.
    points += [(100 + i * 0.01, 30 + j * 0.01) for i in range(0, 21, 3) for j in range(0, 21, 4)]
    for lon, lat in points:
        got = registry.route_point(lon, lat)
        assert (got.code if got else None) == _brute_force(grids, depth, lon, lat), (lon, lat)


# --- tree ---------------------------------------------------------------------------------------
def test_tree_queries(reg):
    assert [g.code for g in reg.ancestors("360313100001")] == ["360313100", "360313", "360300"]
    assert reg.ancestors("360300") == [] and reg.ancestors("nope") == []
    assert [g.code for g in reg.children("360313100")] == [
        "360313100001", "360313100002", "PARK-360313-01"]
    assert [g.code for g in reg.roots()] == ["360300"]
    assert reg.get("360313").name == "湘东区" and reg.get("999999") is None
    assert reg.get(None) is None and "360302" in reg and len(reg) == 9


def test_person_lookup(reg):
    assert reg.person("gy-1") == {"id": "gy-1", "name": "王芳", "phone": "13900000001"}
    assert reg.person("gz-360313")["name"] == "网格长360313"
    assert reg.person("nobody") is None and reg.person(None) is None


# --- routing by address -------------------------------------------------------------------------
def test_address_deepest_consistent_match(reg):
    assert reg.route_address("湘东区新华镇东岭村12号").code == "360313100001"
    assert reg.route_address("萍乡市湘东区新华镇某村").code == "360313100"
    assert reg.route_address("安源区新华镇").code == "360302100"
    assert reg.route_address("湘东新华镇").code == "360313100"  # short form of 湘东区
    assert reg.route_address("青山镇老街").code == "360302101"


def test_address_ambiguity_and_misses(reg):
    # Two towns called 新华镇: nothing says which, so their common ancestor answers.
    assert reg.route_address("新华镇菜市场旁").code == "360300"
    assert reg.route_address("北京市朝阳区") is None
    assert reg.route_address("") is None
    assert reg.route_address("湘东 工业园 门口").code == "PARK-360313-01"  # spaces ignored


def test_address_respects_validity(reg):
    assert reg.route_address("南塘村").code == "360313100002"
    assert reg.route_address("南塘村", on=date(2026, 2, 1)) is None


# --- validation ---------------------------------------------------------------------------------
def test_rejects_are_collected_not_raised():
    b = shapely.box
    bowtie = Polygon([(110, 30), (111, 31), (111, 30), (110, 31)])
    bad = small_tree() + [
        Grid("360302100", "重复镇", "township", "360302", b(110, 30, 110.2, 30.2)),  # row 10
        Grid("360399", "无主区", "county", "360399000", b(110, 30, 110.1, 30.1)),
        Grid("360302102", "蝴蝶镇", "township", "360302", bowtie),
        Grid("360302103", "线镇", "township", "360302", LineString([(110, 30), (111, 31)])),
        Grid("ABC", "坏码", "custom", "360300", b(110, 30, 110.1, 30.1)),
        Grid("360302104", "级别镇", "village", "360302", b(110, 30, 110.1, 30.1)),
        Grid("PARK-1", "园", "township", "360302", b(110, 30, 110.1, 30.1)),
        Grid("360313101001", "错位村", "village", "360302100", b(110, 30, 110.1, 30.1)),
        Grid("PARK-A", "甲", "custom", "PARK-B", b(110, 30, 110.1, 30.1)),
        Grid("PARK-B", "乙", "custom", "PARK-A", b(110, 30, 110.1, 30.1)),
        Grid("360302105", "时效镇", "township", "360302", b(110, 30, 110.1, 30.1),
             valid_from=date(2026, 1, 1), valid_to=date(2025, 1, 1)),
        Grid("360302106", "无名镇", "township", "360302", b(110, 30, 110.1, 30.1),
             workers=[{"name": "无编号"}]),
        Grid("360302107", "越界镇", "township", "360302", b(200, 30, 201, 31)),
        Grid("360302108", " ", "township", "360302", b(110, 30, 110.1, 30.1)),
        Grid("360399001", "孤儿镇", "township", "360399", b(110, 30, 110.1, 30.1)),
        Grid("360302109", "负人口镇", "township", "360302", b(110, 30, 110.1, 30.1),
             population=-5),
    ]
    registry, rejects = GridRegistry.build(bad)
    reasons = {(r.row, r.code): r.reason for r in rejects}
    assert reasons == {
        (10, "360302100"): "duplicate_code",
        (11, "360399"): "unknown_parent",
        (12, "360302102"): "invalid_geometry",
        (13, "360302103"): "bad_geometry",
        (14, "ABC"): "bad_code",
        (15, "360302104"): "level_mismatch",
        (16, "PARK-1"): "level_mismatch",
        (17, "360313101001"): "code_outside_parent",
        (18, "PARK-A"): "parent_cycle",
        (19, "PARK-B"): "parent_cycle",
        (20, "360302105"): "bad_validity",
        (21, "360302106"): "bad_person",
        (22, "360302107"): "bad_geometry",
        (23, "360302108"): "missing_name",
        (24, "360399001"): "parent_rejected",
        (25, "360302109"): "bad_population",
    }
    assert [r.row for r in rejects] == sorted(r.row for r in rejects)
    assert len(registry) == 9 and registry.get("360302100").name == "新华镇"


def test_grid_without_boundary_is_kept_but_not_routable():
    grids = small_tree() + [Grid("360302110", "无界镇", "township", "360302")]
    registry, rejects = GridRegistry.build(grids)
    assert not rejects and registry.get("360302110") is not None
    assert registry.route_point(110.2, 30.5).code == "360302100"


def test_validate_keeps_parent_first_forest():
    kept, rejects = validate(list(reversed(small_tree())))
    assert len(kept) == 9 and not rejects


# --- GeoJSON and CSV ----------------------------------------------------------------------------
def _same(a: Grid, b: Grid):
    assert (a.code, a.name, a.level, a.parent_code, a.chief, a.workers, a.valid_from,
            a.valid_to, a.population) == (b.code, b.name, b.level, b.parent_code, b.chief,
                                          b.workers, b.valid_from, b.valid_to, b.population)
    assert a.boundary.equals(b.boundary)


def test_geojson_round_trip_with_progress():
    grids = small_tree()
    grids[5].population = 32000
    data = json.loads(json.dumps(export_geojson(grids), ensure_ascii=False))
    props = data["features"][7]["properties"]
    assert props["valid_to"] == "2026-01-01" and props["chief_id"] == "gz-360313100002"
    assert json.loads(data["features"][5]["properties"]["workers"])[0]["id"] == "gy-1"
    calls = []
    back, rejects = import_geojson(json.dumps(data), progress=lambda d, t: calls.append((d, t)),
                                   every=4)
    assert rejects == [] and calls == [(4, 9), (8, 9), (9, 9)]
    for a, b in zip(grids, back):
        _same(a, b)


def test_geojson_bad_features_are_rejected_with_row_numbers():
    data = export_geojson(small_tree())
    data["features"][3]["geometry"] = {"type": "Polygon", "coordinates": "garbage"}
    data["features"][4]["properties"]["valid_from"] = "2024-13-45"
    data["features"][6]["properties"]["population"] = "many"
    grids, rejects = import_geojson(data)
    assert [(r.row, r.reason) for r in rejects] == [
        (4, "bad_geometry"), (5, "bad_value"), (7, "bad_value")]
    assert {g.code for g in grids} == {"360300", "360302", "360313", "360313100",
                                       "360313100002", "PARK-360313-01"}
    assert import_geojson({"type": "Feature"})[1][0].reason == "bad_file"


def test_csv_round_trip_and_bad_rows():
    grids = small_tree()
    text = export_csv(grids)
    assert text.splitlines()[0].split(",") == list(CSV_FIELDS)
    calls = []
    back, rejects = import_csv("\ufeff" + text, progress=lambda d, t: calls.append(d), every=5)
    assert not rejects and calls == [5, 9]
    for a, b in zip(grids, back):
        _same(a, b)
    lines = text.splitlines()
    lines[2] = lines[2].replace("POLYGON ((", "POLYGON ((x ")
    back, rejects = import_csv("\n".join(lines))
    # The broken county is rejected, and its two towns with it (their parent is unknown).
    assert [(r.row, r.code, r.reason) for r in rejects] == [
        (2, "360302", "bad_geometry"), (4, "360302100", "unknown_parent"),
        (5, "360302101", "unknown_parent")]
    assert len(back) == 6


# --- performance --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def big():
    return synthetic_registry(50_000)


def test_synthetic_tree_shape(big):
    levels = {}
    for g in big:
        levels[g.level] = levels.get(g.level, 0) + 1
    assert levels["province"] == 1 and levels["village"] >= 50_000
    assert set(levels) == {"province", "city", "county", "township", "village"}
    village = next(g for g in big if g.level == "village")
    assert [g.level for g in big.ancestors(village.code)] == [
        "township", "county", "city", "province"]


def test_routes_every_point_of_a_50000_cell_registry_to_a_village(big):
    # Speed is measured by `make bench` (bench/run.py), not asserted here.
    rng = random.Random(11)
    x0, y0, x1, y1 = big.get("990000").boundary.bounds
    pts = [(rng.uniform(x0, x1), rng.uniform(y0, y1)) for _ in range(5000)]
    found = [big.route_point(x, y) for x, y in pts]
    assert all(g is not None and g.level == "village" for g in found)
    assert all(g.boundary.covers(Point(x, y)) for g, (x, y) in zip(found, pts))
    bulk = big.route_points([p[0] for p in pts], [p[1] for p in pts])
    assert bulk == found
