"""Events no subscription asks about are acked without a transaction; the others are planned."""
from __future__ import annotations

from types import SimpleNamespace
from unittest import mock

from nameko.testing.services import worker_factory

from services.common import events
from services.notify.service import NotifyService


def _service(subs):
    service = worker_factory(NotifyService)
    service.outbound = SimpleNamespace(subscriptions=subs, staff_cache=None, channels={})
    return service


def test_an_event_that_asks_nothing_opens_no_transaction(subs):
    service = _service(subs)
    payload = events.sample_payload("case_accepted")  # a web complaint: nobody is told
    assert subs.plan(payload) == []
    service.on_complaints_event(payload)
    service.db.unit_of_work.assert_not_called()


def test_an_event_someone_is_told_of_is_claimed_and_planned(subs):
    service = _service(subs)
    payload = events.sample_payload("task_assigned")
    assert subs.plan(payload)
    with mock.patch("services.notify.service.handlers.plan_deliveries") as plan:
        service.on_dispatch_event(payload)
    uow = service.db.unit_of_work.return_value.__enter__.return_value
    uow.claim.assert_called_once_with(payload["event_id"], "NotifyService.on_dispatch_event")
    assert plan.call_args.args[:2] == (uow, payload)
    uow.commit.assert_called_once()
