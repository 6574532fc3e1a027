"""Complaints service (受理): intake of reports and complaints from every channel, the case
record and its history, and the feedback loop to the complainant. Entrypoints only."""
from __future__ import annotations

from nameko.rpc import rpc

from services.common import events
from services.common.authz import Principal
from services.common.config import policy
from services.common.errors import DomainError
from services.common.messaging import every, on_event
from services.common.unit_of_work import Database
from services.complaints import handlers, queries


class ComplaintsService:
    name = "complaints"
    db = Database("complaints")

    # --- commands ---------------------------------------------------------------------------
    @rpc(expected_exceptions=DomainError)
    def submit(self, cmd, principal=None, idempotency_key=None):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            case = handlers.submit(uow, cmd, policy(), idempotency_key)
            uow.commit()
            return handlers.case_view(case, who)

    @rpc(expected_exceptions=DomainError)
    def accept(self, case_no, principal):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            case = handlers.accept(uow, case_no, who)
            uow.commit()
            return handlers.case_view(case, who)

    @rpc(expected_exceptions=DomainError)
    def decline(self, case_no, reason, note, principal):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            case = handlers.decline(uow, case_no, reason, note, who, policy())
            uow.commit()
            return handlers.case_view(case, who)

    @rpc(expected_exceptions=DomainError)
    def refer(self, case_no, to_region, reason, principal):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            case = handlers.refer(uow, case_no, to_region, reason, who, policy())
            uow.commit()
            return handlers.case_view(case, who)

    @rpc(expected_exceptions=DomainError)
    def record_reading(self, reading, principal):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            result = handlers.record_reading(uow, reading, policy(), who)
            uow.commit()
            return result

    @rpc(expected_exceptions=DomainError)
    def rate(self, case_no, score, comment=None, token=None, principal=None):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor() if token is None else None) as uow:
            case = handlers.rate(uow, case_no, score, comment, token, who, policy())
            uow.commit()
            return handlers.case_view(case, who)

    # --- timer ------------------------------------------------------------------------------
    @every("SWEEP_INTERVAL_SECONDS", 5)
    def sweep_acceptance(self):
        """受理时限: warn intake before a case's acceptance limit lapses, alert when it has."""
        swept = handlers.SWEEP_BATCH
        while swept == handlers.SWEEP_BATCH:  # a full batch: there may be more due now
            with self.db.unit_of_work({"id": "system", "role": "system"}) as uow:
                swept = handlers.sweep_acceptance(uow)
                uow.commit()

    # --- queries ----------------------------------------------------------------------------
    @rpc(expected_exceptions=DomainError)
    def get_case(self, case_no, principal=None):
        with self.db.read() as uow:
            return queries.get_case(uow, case_no, Principal.from_dict(principal))

    @rpc(expected_exceptions=DomainError)
    def list_cases(self, filters, principal):
        with self.db.read() as uow:
            return queries.list_cases(uow, filters, Principal.from_dict(principal))

    @rpc(expected_exceptions=DomainError)
    def public_requests(self, filters):
        with self.db.read() as uow:
            return queries.public_requests(uow, filters)

    @rpc
    def contact_for_notification(self, case_no):
        with self.db.unit_of_work() as uow:
            return handlers.contact_for_notification(uow, case_no)

    @rpc
    def health(self):
        with self.db.unit_of_work() as uow:
            return queries.health(uow)

    # --- what dispatch tells us -------------------------------------------------------------
    @on_event("dispatch", events.TASK_ASSIGNED, batched=True)  # one per case: many at once
    def on_task_assigned(self, uow, payload):
        handlers.on_task_event(uow, payload)

    @on_event("dispatch", events.TASK_REASSIGNED)
    def on_task_reassigned(self, uow, payload):
        handlers.on_task_event(uow, payload)

    @on_event("dispatch", events.TASK_RETURNED)
    def on_task_returned(self, uow, payload):
        handlers.on_task_event(uow, payload)

    @on_event("dispatch", events.TASK_CLOSED)
    def on_task_closed(self, uow, payload):
        handlers.on_task_event(uow, payload)

    @on_event("dispatch", events.TASK_SENT_BACK)
    def on_task_sent_back(self, uow, payload):
        handlers.on_task_event(uow, payload)

    @on_event("dispatch", events.TASK_VERIFIED)
    def on_task_verified(self, uow, payload):
        handlers.on_task_event(uow, payload)

    @on_event("dispatch", events.TASK_EXTENDED)
    def on_task_extended(self, uow, payload):
        handlers.on_task_event(uow, payload)

    @on_event("dispatch", events.TASK_ESCALATED)
    def on_task_escalated(self, uow, payload):
        handlers.on_task_event(uow, payload)

    @on_event("dispatch", events.TASK_REOPENED)
    def on_task_reopened(self, uow, payload):
        handlers.on_task_event(uow, payload)

    @on_event("dispatch", events.TASK_ACKNOWLEDGED)
    def on_task_acknowledged(self, uow, payload):
        handlers.on_task_event(uow, payload)

    @on_event("dispatch", events.TASK_EXTENSION_REQUESTED)
    def on_task_extension_requested(self, uow, payload):
        handlers.on_task_event(uow, payload)

    @on_event("dispatch", events.TASK_EXTENSION_REFUSED)
    def on_task_extension_refused(self, uow, payload):
        handlers.on_task_event(uow, payload)

    @on_event("dispatch", events.TASK_RECHECKED)
    def on_task_rechecked(self, uow, payload):
        handlers.on_task_event(uow, payload)
