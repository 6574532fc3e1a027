"""The registry dependency reloads once when the service clock passes midnight, however many
workers ask for it meanwhile: the others keep routing with the registry they have (each reload
holds the service's only thread while it builds the spatial index)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import eventlet
import pytest
from sqlalchemy.orm import sessionmaker

from infra import seed
from services.common.clock import ManualClock
from services.common.db import make_engine
from services.common.migrations import upgrade
from services.common.unit_of_work import Database
from services.dispatch import registry as registry_module


@pytest.fixture
def dependency(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'dispatch.db'}"
    upgrade("dispatch", url)
    seed.seed_grids(url)
    db = Database("dispatch", relay=False)
    engine = make_engine(url)
    db.service_name, db.sessionmaker = "dispatch", sessionmaker(engine, expire_on_commit=False)
    db.clock = ManualClock(datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc))  # 23:00 Beijing
    provider = registry_module.Registry()
    provider.container = SimpleNamespace(dependencies=[db])
    provider.setup()
    loads = []
    real_load = registry_module.load

    def slow_load(session, on):
        loads.append(on)
        eventlet.sleep(0.2)   # a province-sized registry takes seconds
        return real_load(session, on)
    monkeypatch.setattr(registry_module, "load", slow_load)
    yield provider, db, loads
    engine.dispose()


def test_past_midnight_one_worker_reloads_and_the_others_route_meanwhile(dependency):
    provider, db, loads = dependency
    first = provider.get_dependency(None)
    assert len(loads) == 1 and first is not None
    db.clock.advance(hours=2)   # 01:00 Beijing: a new day
    workers = [eventlet.spawn(provider.get_dependency, None) for _ in range(10)]
    got = [w.wait() for w in workers]
    assert len(loads) == 2 and loads[1] == loads[0] + timedelta(days=1)
    assert got.count(first) == 9            # served at once with the day's old registry
    assert provider.get_dependency(None) is got[0] is not first   # the reloaded one


def test_workers_before_the_first_load_all_wait_for_it(dependency):
    provider, _db, loads = dependency
    workers = [eventlet.spawn(provider.get_dependency, None) for _ in range(5)]
    got = [w.wait() for w in workers]
    assert len(loads) == 1 and got[0] is not None and all(g is got[0] for g in got)


def test_after_an_import_here_the_next_worker_waits_for_the_new_version(dependency):
    provider, db, loads = dependency
    first = provider.get_dependency(None)
    db.clock.advance(hours=2)
    reloading = eventlet.spawn(provider.get_dependency, None)
    eventlet.sleep(0)                        # the day's reload is under way
    with db.sessionmaker() as session:       # and an import commits here meanwhile
        registry_module.bump_version(session)
        session.commit()
    registry_module.changed_here(db)
    after_import = provider.get_dependency(None)
    reloading.wait()
    assert after_import is not first and len(loads) == 3
