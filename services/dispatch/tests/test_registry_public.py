"""What dispatch tells others about the registry: snapshot events once per version, and the
public map, never with a person in them."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import Session

from infra.demo.pingxiang import POPULATION, demo_grids
from services.common import events
from services.common.db import make_engine
from services.common.migrations import upgrade
from services.common.unit_of_work import UnitOfWork
from services.dispatch.grids import GridRegistry
from services.dispatch.registry import replace_all
from services.dispatch.registry_public import public_map, publish, snapshot

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc)
PEOPLE = ("chief", "worker", "phone", "gz-", "gy-")


def _people_in(data) -> list[str]:
    text = json.dumps(data, ensure_ascii=False)
    found = [word for word in PEOPLE if word in text]
    for grid in demo_grids():
        for person in [grid.chief] + list(grid.workers or []):
            if person and (person["phone"] in text or person["name"] in text):
                found.append(person["name"])
    return found


def test_snapshot_of_the_demo_registry():
    registry = GridRegistry(demo_grids())
    payloads = {p["region_code"]: p for p in snapshot(registry, 4)}
    # Five Pingxiang counties and the three Hunan neighbours; each event says how many.
    assert sorted(payloads) == ["360302", "360313", "360321", "360322", "360323",
                                "430181", "430223", "430281"]
    assert {p["region_count"] for p in payloads.values()} == {8}
    luxi = payloads["360323"]
    # Three towns with two villages each, plus the industrial park: seven leaf cells.
    assert luxi["grid_cells"] == 7 and luxi["population"] == POPULATION["360323"]
    assert luxi["ancestors"] == [{"code": "360300", "name": "萍乡市", "level": "city",
                                  "population": POPULATION["360300"]}]
    grids = {g["code"]: g for g in luxi["grids"]}
    assert len(grids) == 10                          # 3 towns + 6 villages + 1 park
    assert grids["360323100"]["cells"] == 3           # 芦溪镇: two villages and the park
    assert grids["360323104001"]["cells"] == 1
    assert grids["360323104001"]["parent_code"] == "360323104"
    # 石门村 is the box 114.195-114.235 E, 27.605-27.725 N.
    assert grids["360323104001"]["centroid"] == [114.215, 27.665]
    assert payloads["430181"]["grid_cells"] == 0 and payloads["430181"]["grids"] == []
    for p in payloads.values():
        events.envelope(events.REGISTRY_PUBLISHED, p, actor=None, now=NOW)  # complete payload
    assert _people_in(list(payloads.values())) == []


def test_public_map_has_boundaries_and_no_people():
    registry = GridRegistry(demo_grids())
    counties = public_map(registry, "360300", "county")
    assert [f["properties"]["code"] for f in counties["features"]] == [
        "360302", "360313", "360321", "360322", "360323"]
    assert counties["features"][4]["properties"] == {
        "code": "360323", "name": "芦溪县", "level": "county", "parent_code": "360300",
        "population": POPULATION["360323"]}
    assert len(public_map(registry, None, "county")["features"]) == 8   # with Hunan's three
    cells = public_map(registry, "360323", "grid")
    assert len(cells["features"]) == 7
    assert {f["geometry"]["type"] for f in cells["features"]} == {"Polygon"}
    assert _people_in(counties) == [] and _people_in(cells) == []


@pytest.fixture
def session(tmp_path):
    url = f"sqlite:///{tmp_path / 'dispatch.db'}"
    upgrade("dispatch", url)
    engine = make_engine(url)
    with Session(engine) as s:
        yield s
    engine.dispose()


def test_each_version_is_announced_once(session):
    def announce(force=False):
        uow = UnitOfWork(session, "dispatch", NOW, None)
        count = publish(uow, force=force)
        session.commit()
        return count, uow.emitted

    assert announce() == (0, [])                      # no registry yet
    replace_all(session, demo_grids())
    session.commit()
    count, emitted = announce()
    assert count == 8 and {e["version"] for e in emitted} == {1}
    assert {e["event_type"] for e in emitted} == {"registry_published"}
    assert announce() == (0, [])                      # nothing new
    assert announce(force=True)[0] == 8               # asked again: announced again
    replace_all(session, demo_grids())                # an import: version 2
    session.commit()
    count, emitted = announce()
    assert count == 8 and {e["version"] for e in emitted} == {2}
