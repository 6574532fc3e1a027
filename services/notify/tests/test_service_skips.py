"""Events arrive in batches. Those no subscription asks about are acked without a transaction;
the others are claimed and planned, each with its own actor, in one transaction per batch."""
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


def test_a_batch_that_asks_nothing_opens_no_transaction(subs):
    service = _service(subs)
    payload = events.sample_payload("case_accepted")  # a web complaint: nobody is told
    assert subs.plan(payload) == []
    service.on_complaints_event([payload, dict(payload, event_id="another")])
    service.db.unit_of_work.assert_not_called()


def test_the_events_someone_is_told_of_are_claimed_and_planned_in_one_transaction(subs):
    service = _service(subs)
    told = events.sample_payload("task_assigned")
    assert subs.plan(told)
    quiet = dict(events.sample_payload("task_assigned"), event_id="quiet", category="none")
    uow = service.db.unit_of_work.return_value.__enter__.return_value
    uow.first_claims.return_value = {told["event_id"]}  # the batch's claims, in one go
    with mock.patch.object(type(subs), "plan", lambda self, p: [] if p is quiet else ["x"]), \
            mock.patch("services.notify.service.handlers.plan_deliveries") as plan:
        service.on_dispatch_event([told, quiet])
    service.db.unit_of_work.assert_called_once()
    uow.first_claims.assert_called_once_with([told["event_id"]],
                                             "NotifyService.on_dispatch_event")
    assert [c.args[:2] for c in plan.call_args_list] == [(uow, told)]
    assert uow.actor == told.get("actor")
    uow.commit.assert_called_once()
