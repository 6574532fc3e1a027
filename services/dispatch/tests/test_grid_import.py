"""Import and export of the grid registry against a real (SQLite) dispatch database: rejected
rows with their reasons, round trips, redistricting with history, and the command line."""
from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from infra import grids as cli
from infra.demo.pingxiang import demo_grids
from services.common.db import make_engine
from services.common.errors import ValidationError
from services.common.migrations import upgrade
from services.dispatch.grid_import import export_grids, import_grids
from services.dispatch.grids import Grid, export_csv, export_geojson
from services.dispatch.models import GridNode
from services.dispatch.registry import current_version, load, replace_all
from services.dispatch.synthetic import synthetic_grids

DAY = date(2026, 11, 23)
b = shapely.box


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path / 'dispatch.db'}"
    upgrade("dispatch", url)
    return url


@pytest.fixture
def session(url):
    engine = make_engine(url)
    with Session(engine) as s:
        yield s
    engine.dispose()


def chief(code):
    return {"id": f"gz-{code}", "name": f"网格长{code}", "phone": "13800138000"}


def county_tree() -> list[Grid]:
    """芦溪县 with one township and two villages side by side."""
    return [
        Grid("360323", "芦溪县", "county", None, b(114.0, 27.5, 114.4, 27.8), chief("360323")),
        Grid("360323101", "宣风镇", "township", "360323", b(114.0, 27.5, 114.2, 27.7),
             chief("360323101")),
        Grid("360323101001", "金鸡村", "village", "360323101", b(114.0, 27.5, 114.1, 27.6),
             chief("360323101001")),
        Grid("360323101002", "马岭村", "village", "360323101", b(114.1, 27.5, 114.2, 27.6),
             chief("360323101002")),
    ]


def _feature(code, name, level, parent, geometry):
    return {"type": "Feature", "geometry": geometry,
            "properties": {"code": code, "name": name, "level": level, "parent_code": parent}}


def _square(x, y, d=0.01):
    return shapely.geometry.mapping(b(x, y, x + d, y + d))


BOWTIE = {"type": "Polygon", "coordinates": [[[114.0, 27.5], [114.1, 27.6], [114.1, 27.5],
                                              [114.0, 27.6], [114.0, 27.5]]]}


def _mixed_file() -> dict:
    """Two good rows (one under a township already in the registry) and one row of each kind
    of mistake; rows are numbered from 1."""
    return {"type": "FeatureCollection", "features": [
        _feature("360323101003", "新村", "village", "360323101", _square(114.0, 27.6)),   # 1 ok
        _feature("360323101004", "蝴蝶村", "village", "360323101", BOWTIE),              # 2
        _feature("360323101005", "线村", "village", "360323101",
                 {"type": "LineString", "coordinates": [[114, 27.6], [114.1, 27.7]]}),   # 3
        _feature("360323102001", "孤村", "village", "360323102", _square(114.2, 27.6)),   # 4
        _feature("360323101003", "重复村", "village", "360323101", _square(114.0, 27.6)),  # 5
        _feature("3603231010", "十位码", "village", "360323101", _square(114.0, 27.6)),   # 6
        _feature("360323101", "镇", "village", "360323", _square(114.0, 27.6)),           # 7
        _feature("360323101006", "错级村", "township", "360323101", _square(114.1, 27.6)),  # 8
        _feature("360323101007", "好村", "village", "360323101", _square(114.1, 27.6)),   # 9 ok
        _feature("PARK-360323-09", "园区", "custom", "360323101007",
                 {"type": "Polygon", "coordinates": "garbage"}),                         # 10
    ]}


EXPECTED = [(2, "360323101004", "invalid_geometry"), (3, "360323101005", "bad_geometry"),
            (4, "360323102001", "unknown_parent"), (5, "360323101003", "duplicate_code"),
            (6, "3603231010", "bad_code"), (7, "360323101", "level_mismatch"),
            (8, "360323101006", "level_mismatch"), (10, "PARK-360323-09", "bad_geometry")]


def test_good_and_each_kind_of_bad_row(session):
    import_grids(session, "geojson", export_geojson(county_tree()), DAY)
    session.commit()
    report = import_grids(session, "geojson", json.dumps(_mixed_file()), DAY)
    session.commit()
    assert [(r.row, r.code, r.reason) for r in report.rejects] == EXPECTED
    assert all(r.detail for r in report.rejects)
    assert (report.rows, sorted(report.added), report.as_dict()["rejected"]) == (
        10, ["360323101003", "360323101007"], 8)
    registry = load(session, DAY)
    assert registry.route_point(114.005, 27.605).code == "360323101003"
    assert "360323101004" not in registry and len(registry) == 6


def test_level_inconsistent_with_parent_and_code_outside_parent(session):
    import_grids(session, "geojson", export_geojson(county_tree()), DAY)
    rows = [Grid("360323101009", "村", "village", "360323", b(114, 27.5, 114.01, 27.51)),
            Grid("360313101001", "外县村", "village", "360323101", b(114, 27.5, 114.01, 27.51)),
            Grid("PARK-360323-01", "园", "custom", "360323101001", b(114, 27.5, 114.01, 27.51)),
            Grid("360323102", "新镇", "township", "PARK-360323-01", None)]
    # A village straight under a county is allowed (no township level); one in another
    # county's code is not; custom nodes hang anywhere.
    report = import_grids(session, "geojson", export_geojson(rows), DAY)
    assert [(r.code, r.reason) for r in report.rejects] == [
        ("360313101001", "code_outside_parent")]
    report = import_grids(session, "geojson", export_geojson(
        [Grid("360323103", "下镇", "township", "360323101001", None)]), DAY)
    assert [(r.code, r.reason) for r in report.rejects] == [
        ("360323103", "level_not_below_parent")]


def test_csv_with_the_same_mistakes(session):
    import_grids(session, "geojson", export_geojson(county_tree()), DAY)
    features = _mixed_file()["features"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["code", "name", "level", "parent_code", "geojson"])
    writer.writeheader()
    for f in features:
        writer.writerow(dict(f["properties"], geojson=json.dumps(f["geometry"])))
    report = import_grids(session, "csv", out.getvalue(), DAY)
    assert [(r.row, r.code, r.reason) for r in report.rejects] == EXPECTED
    with pytest.raises(ValidationError) as err:
        import_grids(session, "csv", "name,level\nx,village\n", DAY)
    assert err.value.code == "bad_file"
    with pytest.raises(ValidationError) as err:
        import_grids(session, "geojson", "{not json", DAY)
    assert err.value.code == "bad_file"


def test_round_trip_gives_the_same_registry(session, tmp_path):
    replace_all(session, demo_grids())
    session.commit()
    for fmt in ("geojson", "csv"):
        text = export_grids(session, fmt, DAY)
        other = f"sqlite:///{tmp_path / (fmt + '.db')}"
        upgrade("dispatch", other)
        engine = make_engine(other)
        with Session(engine) as fresh:
            report = import_grids(fresh, fmt, text, DAY)
            fresh.commit()
            assert report.rejects == [] and len(report.added) == len(demo_grids())
            assert export_grids(fresh, fmt, DAY) == text
            again = import_grids(fresh, fmt, text, DAY)  # the same file again changes nothing
            assert (again.added, again.changed, again.closed) == ([], [], [])
            assert again.unchanged == len(demo_grids())
            assert again.version == report.version  # nothing to reload
        engine.dispose()
    subtree = json.loads(export_grids(session, "geojson", DAY, under="360323101"))
    codes = [f["properties"]["code"] for f in subtree["features"]]
    assert codes[0] == "360323101" and all(c.startswith("360323101") or c.startswith("PARK")
                                           for c in codes)


def test_redistricting_closes_the_old_version_and_keeps_history(session):
    import_grids(session, "geojson", export_geojson(county_tree()), date(2026, 1, 1))
    session.commit()
    version = current_version(session)
    # 2027: 金鸡村 grows east over half of 马岭村's land, 马岭村 is merged away, and a new
    # village takes the rest.
    changed = county_tree()[1:3]
    changed[1] = Grid("360323101001", "金鸡村", "village", "360323101",
                      b(114.0, 27.5, 114.15, 27.6), chief("360323101001"))
    changed.append(Grid("360323101010", "新丰村", "village", "360323101",
                        b(114.15, 27.5, 114.2, 27.6), chief("360323101010")))
    report = import_grids(session, "geojson", export_geojson(changed), date(2027, 1, 1),
                          replace=True, under="360323101")
    session.commit()
    assert (report.added, report.changed, report.closed, report.unchanged) == (
        ["360323101010"], ["360323101001"], ["360323101002"], 1)
    assert report.version == version + 1
    before, after = load(session, date(2026, 12, 31)), load(session, date(2027, 1, 1))
    assert before.route_point(114.12, 27.55).code == "360323101002"
    assert after.route_point(114.12, 27.55).code == "360323101001"
    assert after.route_point(114.17, 27.55).code == "360323101010"
    assert "360323101002" not in after and "360323101010" not in before
    versions = session.scalars(select(GridNode).where(GridNode.code == "360323101001")
                               .order_by(GridNode.id)).all()
    assert [(v.valid_from, v.valid_to) for v in versions] == [
        (None, date(2027, 1, 1)), (date(2027, 1, 1), None)]
    # The export of a past day is the old map.
    old = json.loads(export_grids(session, "geojson", date(2026, 6, 1)))
    assert {f["properties"]["code"] for f in old["features"]} >= {"360323101002"}
    # The same file again: nothing to do.
    again = import_grids(session, "geojson", export_geojson(changed), date(2027, 1, 1),
                         replace=True, under="360323101")
    assert (again.added, again.changed, again.closed) == ([], [], [])


def test_replace_refuses_children_of_closed_grids_and_rows_outside_the_subtree(session):
    import_grids(session, "geojson", export_geojson(county_tree()), date(2026, 1, 1))
    rows = [Grid("360323101", "宣风镇", "township", "360323", b(114.0, 27.5, 114.2, 27.7),
                 chief("360323101")),
            Grid("PARK-360323-02", "园", "custom", "360323101002", b(114.1, 27.5, 114.12, 27.52)),
            Grid("360323", "芦溪县", "county", None, b(114.0, 27.5, 114.5, 27.8))]
    report = import_grids(session, "geojson", export_geojson(rows), date(2027, 1, 1),
                          replace=True, under="360323101")
    assert [(r.code, r.reason) for r in report.rejects] == [
        ("PARK-360323-02", "unknown_parent"), ("360323", "outside_scope")]
    assert sorted(report.closed) == ["360323101001", "360323101002"]
    with pytest.raises(ValidationError):
        import_grids(session, "geojson", export_geojson(rows), DAY, under="999999")


def test_a_rejected_row_leaves_its_grid_as_it_was(session):
    import_grids(session, "geojson", export_geojson(county_tree()), date(2026, 1, 1))
    bad = export_geojson(county_tree())
    bad["features"][3]["geometry"] = BOWTIE
    report = import_grids(session, "geojson", bad, date(2027, 1, 1), replace=True)
    assert [(r.code, r.reason) for r in report.rejects] == [("360323101002", "invalid_geometry")]
    assert report.closed == [] and report.changed == []
    assert load(session, date(2027, 2, 1)).get("360323101002").boundary.equals(
        county_tree()[3].boundary)


def test_dry_run_writes_nothing(session):
    report = import_grids(session, "geojson", export_geojson(county_tree()), DAY, dry_run=True)
    session.commit()
    assert len(report.added) == 4 and report.version is None
    assert session.scalar(select(func.count()).select_from(GridNode)) == 0


def test_end_date_alone_is_written_onto_the_current_version(session):
    import_grids(session, "geojson", export_geojson(county_tree()), date(2026, 1, 1))
    ending = county_tree()
    ending[3].valid_to = date(2027, 7, 1)
    report = import_grids(session, "geojson", export_geojson(ending), DAY)
    assert report.changed == ["360323101002"]
    assert "360323101002" in load(session, date(2027, 6, 30))
    assert "360323101002" not in load(session, date(2027, 7, 1))
    assert session.scalar(select(func.count()).select_from(GridNode)) == 4


# --- the command line -------------------------------------------------------------------------
def test_cli_import_with_progress_and_report_then_export(url, tmp_path, capsys):
    good = synthetic_grids(2500)
    data = export_geojson(good)
    data["features"].append(_feature("990101001999", "坏村", "village", "990101001", BOWTIE))
    data["features"].append(_feature("990101999001", "无主村", "village", "990101999",
                                     _square(100, 30)))
    source = tmp_path / "grids.geojson"
    source.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    status = cli.main(["--database-url", url, "import", str(source), "--effective", "2026-11-23"])
    err = capsys.readouterr()
    assert status == 1
    assert f"{len(good) + 2} rows, {len(good)} added" in err.out
    assert "checking rows" in err.err and "writing" in err.err and "100%" in err.err
    with (tmp_path / "grids.geojson.rejects.csv").open(encoding="utf-8") as f:
        rejected = list(csv.DictReader(f))
    n = len(good)
    assert [(r["row"], r["code"], r["reason"]) for r in rejected] == [
        (str(n + 1), "990101001999", "invalid_geometry"),
        (str(n + 2), "990101999001", "unknown_parent")]

    out = tmp_path / "out.csv"
    assert cli.main(["--database-url", url, "export", str(out), "--on", "2026-11-23"]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == n and rows[0]["code"] == "990000"
    # The exported CSV goes back in unchanged.
    assert cli.main(["--database-url", url, "import", str(out), "--quiet",
                     "--effective", "2026-11-23"]) == 0
    assert f"0 added, 0 changed, {n} unchanged" in capsys.readouterr().out
    assert cli.main(["--database-url", url, "import", str(tmp_path / "missing.csv")]) == 2


def test_cli_refuses_a_file_that_is_not_geojson(url, tmp_path, capsys):
    source = tmp_path / "broken.geojson"
    source.write_text('{"type": "Feature"}', encoding="utf-8")
    assert cli.main(["--database-url", url, "import", str(source), "--quiet"]) == 2
    assert "bad_file" in capsys.readouterr().err
    with Session(make_engine(url)) as s:
        assert s.scalar(select(func.count()).select_from(GridNode)) == 0


def test_export_csv_matches_the_domain_writer(session):
    import_grids(session, "geojson", export_geojson(county_tree()), DAY)
    assert export_grids(session, "csv", DAY) == export_csv(county_tree())
