"""The grid registry through the API: an administrator imports a few thousand cells and cases
are routed to them at once; export as GeoJSON and CSV; a redistricting import closes the old
version and routing follows the new map. The synthetic cells use province code 99, so the
Pingxiang demo registry the other tests use is untouched."""
from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo


from services.dispatch.grids import export_geojson
from services.dispatch.synthetic import CELL, ORIGIN, synthetic_grids
from tests.casework import get_case
from tests.fixtures import wait_for

N_CELLS = 3000
BEIJING = ZoneInfo("Asia/Shanghai")
BOWTIE = {"type": "Polygon", "coordinates": [[[100, 30], [100.01, 30.01], [100.01, 30],
                                              [100, 30.01], [100, 30]]]}


def _import(system, body, account="admin", status=200):
    r = system.call("POST", "/api/v1/grids/import", account, json=body)
    assert r.status_code == status, (r.status_code, r.text[:500])
    return r.json()


def _route_a_case_at(system, lon, lat, category="air.dust") -> dict:
    """A hotline case at a point, with no grid or region named: dispatch finds both. (Each
    case at one place needs its own category, or intake merges it as a repeat.)"""
    r = system.call("POST", "/api/v1/intake", "admin", json={
        "channel": "hotline", "category": category, "lat": lat, "lon": lon,
        "description": "扬尘 " + uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    r = system.call("POST", f"/api/v1/cases/{case_no}/accept", "admin", json={})
    assert r.status_code == 200, r.text
    case = wait_for(lambda: (c := get_case(system, case_no)).get("task_id") and c,
                    message=f"task for {case_no}")
    return system.call("GET", f"/api/v1/tasks/{case['task_id']}", "admin").json()


def _village_at(grids, lon, lat):
    from shapely.geometry import Point
    return next(g for g in grids if g.level == "village" and g.boundary.contains(Point(lon, lat)))


def test_import_a_few_thousand_cells_then_cases_route_to_them(system):
    grids = synthetic_grids(N_CELLS)
    data = export_geojson(grids)
    n = len(data["features"])
    bad = [{"type": "Feature", "geometry": BOWTIE,
            "properties": {"code": "990101001998", "name": "坏村", "level": "village",
                           "parent_code": "990101001"}},
           {"type": "Feature", "geometry": data["features"][-1]["geometry"],
            "properties": dict(data["features"][-1]["properties"], name="重复")}]
    data["features"] += bad
    # A dry run reports without writing.
    dry = _import(system, {"format": "geojson", "data": data, "dry_run": True})
    assert (dry["added"], dry["rejected"], dry["version"]) == (n, 2, None)
    assert system.call("GET", "/api/v1/grids/990101001001", "admin").status_code == 404

    report = _import(system, {"format": "geojson", "data": data})
    assert (report["rows"], report["added"], report["rejected"]) == (n + 2, n, 2)
    assert [(r["row"], r["code"], r["reason"]) for r in report["rejects"]] == [
        (n + 1, "990101001998", "invalid_geometry"),
        (n + 2, data["features"][n - 1]["properties"]["code"], "duplicate_code")]

    # Routing uses the new cells straight away, with no grid code given by the caller.
    for lon, lat in ((ORIGIN[0] + 0.5 * CELL, ORIGIN[1] + 0.5 * CELL),
                     (ORIGIN[0] + 37.5 * CELL, ORIGIN[1] + 21.5 * CELL)):
        village = _village_at(grids, lon, lat)
        task = _route_a_case_at(system, lon, lat)
        assert task["grid_code"] == village.code and task["routed_by"] == "point"
        assert task["assignee"]["id"] == village.chief["id"]
        assert task["region_code"] == village.code[:6]
    assert system.call("GET", f"/api/v1/grids/{village.code}", "admin").json()["chief"][
        "id"] == village.chief["id"]

    # Export: the subtree of one synthetic county, as CSV and as GeoJSON.
    county = next(g.code for g in grids if g.level == "county")
    r = system.call("GET", f"/api/v1/grids/export?format=csv&under={county}", "admin")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    inside = [g for g in grids if g.code.startswith(county)]
    assert [row["code"] for row in rows][0] == county and len(rows) == len(inside)
    assert rows[1]["wkt"].startswith("POLYGON")
    r = system.call("GET", f"/api/v1/grids/export?under={county}", "admin")
    assert r.headers["Content-Type"].startswith("application/geo+json")
    assert len(r.json()["features"]) == len(inside)
    r = system.call("GET", "/api/v1/grids/export?format=kml", "admin")
    assert r.status_code == 422 and r.json()["error"]["field"] == "format"


def test_redistricting_over_the_api_moves_routing_and_keeps_history(system, clock):
    grids = synthetic_grids(N_CELLS)  # imported by the test above, or here
    _import(system, {"format": "geojson", "data": export_geojson(grids)})
    town = next(g for g in grids if g.level == "township" and g.code.endswith("002"))
    villages = [g for g in grids if g.parent_code == town.code]
    gone, kept = villages[0], villages[1:]
    lon, lat = gone.boundary.centroid.x, gone.boundary.centroid.y
    today = clock.now().astimezone(BEIJING).date()
    effective = today + timedelta(days=7)

    # The township's file without its first village, effective in a week: until then the
    # village is still there.
    data = export_geojson([town] + kept)
    report = _import(system, {"format": "geojson", "data": data, "replace": True,
                              "under": town.code, "effective": effective.isoformat()})
    assert (report["closed"], report["added"], report["changed"], report["rejected"]) == (
        1, 0, 0, 0)
    assert _route_a_case_at(system, lon, lat)["grid_code"] == gone.code
    assert system.call("GET", f"/api/v1/grids/{gone.code}", "admin").status_code == 200

    clock.set(clock.now() + timedelta(days=7))
    after = _route_a_case_at(system, lon, lat, "noise.industrial")
    assert after["grid_code"] == town.code  # the deepest grid still covering the point
    assert system.call("GET", f"/api/v1/grids/{gone.code}", "admin").status_code == 404

    # History: the export of a day before the change still has the village.
    def codes(on):
        r = system.call("GET", f"/api/v1/grids/export?under={town.code}&on={on}", "admin")
        assert r.status_code == 200, r.text
        return {f["properties"]["code"] for f in r.json()["features"]}
    assert gone.code in codes(today.isoformat())
    assert gone.code not in codes(effective.isoformat())
    assert codes(effective.isoformat()) == {g.code for g in [town] + kept}
    r = system.call("GET", "/api/v1/grids/export?on=yesterday", "admin")
    assert r.status_code == 422 and r.json()["error"]["field"] == "on"


def test_import_checks_the_file_and_the_options(system):
    r = system.call("POST", "/api/v1/grids/import", "admin",
                    json={"format": "geojson", "data": {"type": "Feature"}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_file"
    r = system.call("POST", "/api/v1/grids/import", "admin",
                    json={"format": "csv", "data": "name\nx\n"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_file"
    r = system.call("POST", "/api/v1/grids/import", "admin",
                    json={"format": "geojson", "data": {"type": "FeatureCollection",
                                                        "features": []},
                          "effective": "2027-02-30"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "effective"
    assert r.json()["error"]["code"] == "bad_date"   # as every date field answers
    r = system.call("POST", "/api/v1/grids/import", "admin",
                    json={"format": "geojson", "under": "999999",
                          "data": {"type": "FeatureCollection", "features": []}})
    assert r.status_code == 422 and r.json()["error"]["field"] == "under"
    # Only an administrator: a dispatcher is refused at the gateway.
    r = system.call("POST", "/api/v1/grids/import", "dispatcher-360323",
                    json={"format": "geojson", "data": {"type": "FeatureCollection",
                                                        "features": []}})
    assert r.status_code == 403
    csv_text = ("code,name,level,parent_code,wkt\n"
                "360323101901,新村,village,360323101,\"POLYGON ((114 27.5, 114.01 27.5\"\n"
                "360323101902,新村,village,360323101,\"POLYGON ((114 27.5, 114.01 27.5, "
                "114.01 27.51, 114 27.5))\"\n")
    report = _import(system, {"format": "csv", "data": csv_text, "dry_run": True})
    assert (report["rows"], report["added"], report["version"]) == (2, 1, None)
    assert [(r["row"], r["code"], r["reason"]) for r in report["rejects"]] == [
        (1, "360323101901", "bad_geometry")]
