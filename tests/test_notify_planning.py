"""Notify plans a batch's deliveries without flushing each one (no autoflush), and still
records each (event, recipient, channel) once: within one event, within one batch, and when the
same event is planned again later. On PostgreSQL, whose unique key would refuse a second row."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from services.common import events
from services.common.config import ROOT
from services.common.db import make_engine
from services.common.unit_of_work import UnitOfWork
from services.notify import handlers
from services.notify.messages import Subscriptions
from services.notify.models import Delivery
from tests.fixtures import create_databases, drop_databases

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def factory():
    dbs = create_databases("np" + uuid.uuid4().hex[:6], ("notify",))
    engine = make_engine(dbs["notify"])
    yield sessionmaker(engine, expire_on_commit=False)
    engine.dispose()
    drop_databases(dbs)


@pytest.fixture(scope="module")
def subs():
    """task_returned tells the region's intake desk, twice over (two rules, one recipient)."""
    data = yaml.safe_load((ROOT / "infra" / "config" / "notify.yaml").read_text("utf-8"))
    rule = {"role": "intake", "kind": "task_returned", "channels": ["in_app"],
            "scope": "region_code"}
    data["subscriptions"]["task_returned"] = [rule, dict(rule)]
    return Subscriptions.from_dict(data)


def _event(region: str) -> dict:
    return events.envelope(events.TASK_RETURNED, {
        "case_no": "C-" + uuid.uuid4().hex[:8], "task_id": "T-" + uuid.uuid4().hex[:8],
        "region_code": region, "grid_code": None, "category": "air.dust",
        "priority": "normal", "reason": "不属本网格"}, actor={"id": "gz-1", "role": "grid_chief"},
        now=NOW)


def _plan(factory, subs, *payloads) -> int:
    directory = handlers.Directory(None, None, "zh-CN")
    with UnitOfWork(factory(), "notify", NOW, None) as uow:
        made = sum(handlers.plan_deliveries(uow, p, subs, directory, {}, {"in_app", "log"})
                   for p in payloads)
        uow.commit()
    return made


def _rows(factory, *payloads) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.event_id.in_([p["event_id"] for p in payloads])))


def test_one_message_per_recipient_and_channel_in_a_batch_and_after(factory, subs):
    first, second = _event("360323"), _event("360313")
    assert _plan(factory, subs, first, second) == 2  # one desk message per event, not two
    assert _rows(factory, first, second) == 2
    assert _plan(factory, subs, first) == 0  # planned again later: nothing more
    assert _rows(factory, first, second) == 2


def test_a_rolled_back_plan_forgets_what_it_had_planned(factory, subs):
    event = _event("360323")
    directory = handlers.Directory(None, None, "zh-CN")
    with UnitOfWork(factory(), "notify", NOW, None) as uow:
        assert handlers.plan_deliveries(uow, event, subs, directory, {}, {"in_app"}) == 1
        uow.rollback()
        assert handlers.plan_deliveries(uow, event, subs, directory, {}, {"in_app"}) == 1
        uow.commit()
    assert _rows(factory, event) == 1
