"""Dispatch service (派遣): the grid registry, task assignment with deadlines, closure,
verification and sign-off, extensions, and the warning/escalation sweep. Entrypoints only."""
from __future__ import annotations

from nameko.rpc import rpc

from services.common import events
from services.common.authz import Principal
from services.common.config import policy
from services.common.errors import DomainError
from services.common.messaging import every, on_event
from services.common.unit_of_work import Database
from services.dispatch import handlers, joint_handlers, queries
from services.dispatch.registry import Registry


class DispatchService:
    name = "dispatch"
    db = Database("dispatch")
    registry = Registry()

    # --- events -----------------------------------------------------------------------------
    @on_event("complaints", events.CASE_ACCEPTED)
    def on_case_accepted(self, uow, payload):
        handlers.assign_case(uow, payload, self.registry, policy())

    @on_event("complaints", events.CASE_RATED)
    def on_case_rated(self, uow, payload):
        if payload["reopen"]:
            handlers.reopen(uow, payload["case_no"], "poor_rating", policy())

    # --- timer ------------------------------------------------------------------------------
    @every("SWEEP_INTERVAL_SECONDS", 5)
    def sweep_deadlines(self):
        while True:
            with self.db.unit_of_work({"id": "system", "role": "system"}) as uow:
                count = handlers.sweep(uow, policy(), self.registry)
                uow.commit()
            if count < 500:
                break
        with self.db.unit_of_work({"id": "system", "role": "system"}) as uow:
            joint_handlers.expire_transfers(uow)
            uow.commit()

    # --- commands ---------------------------------------------------------------------------
    @rpc(expected_exceptions=DomainError)
    def close(self, task_id, result, founded, evidence, principal):
        return self._command(principal, handlers.close, task_id, result, founded, evidence)

    @rpc(expected_exceptions=DomainError)
    def verify(self, task_id, approved, note, principal):
        return self._command(principal, handlers.verify, task_id, approved, note)

    @rpc(expected_exceptions=DomainError)
    def reassign(self, task_id, grid_code, assignee, reason, principal):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            task = handlers.reassign(uow, task_id, grid_code, assignee, reason, who,
                                     self.registry)
            uow.commit()
            return handlers.task_view(task, who)

    @rpc(expected_exceptions=DomainError)
    def send_back(self, task_id, reason, principal):
        return self._command(principal, handlers.send_back, task_id, reason)

    @rpc(expected_exceptions=DomainError)
    def request_extension(self, task_id, days, reason, principal):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            req = handlers.request_extension(uow, task_id, days, reason, who, policy())
            uow.commit()
            return {"task_id": task_id, "days": req.days, "status": req.status}

    @rpc(expected_exceptions=DomainError)
    def decide_extension(self, task_id, approve, note, principal):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            task = handlers.decide_extension(uow, task_id, approve, note, who, policy())
            uow.commit()
            return handlers.task_view(task, who)

    def _command(self, principal, fn, *args):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            task = fn(uow, *args, who)
            uow.commit()
            return handlers.task_view(task, who)

    # --- cross-region joint enforcement (左右联动) ---------------------------------------------
    @rpc(expected_exceptions=DomainError)
    def request_transfer(self, cmd, principal):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            view = joint_handlers.request_transfer(uow, cmd, who, self.registry, policy())
            uow.commit()
            return view

    @rpc(expected_exceptions=DomainError)
    def answer_transfer(self, transfer_id, accept, reason, principal):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            view = joint_handlers.answer_transfer(uow, transfer_id, accept, reason, who,
                                                  self.registry)
            uow.commit()
            return view

    @rpc(expected_exceptions=DomainError)
    def record_swap(self, agreement_id, cmd, principal):
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            view = joint_handlers.record_swap(uow, agreement_id, cmd, who)
            uow.commit()
            return view

    @rpc(expected_exceptions=DomainError)
    def list_shared_cases(self, filters, principal):
        # A read that writes: every cross-region read is logged (跨区域查阅记录).
        with self.db.unit_of_work() as uow:
            return joint_handlers.list_shared(uow, filters, Principal.from_dict(principal))

    @rpc(expected_exceptions=DomainError)
    def get_shared_case(self, case_no, principal):
        with self.db.unit_of_work() as uow:
            return joint_handlers.get_shared(uow, case_no, Principal.from_dict(principal))

    @rpc(expected_exceptions=DomainError)
    def joint_access_log(self, filters, principal):
        with self.db.unit_of_work() as uow:
            return joint_handlers.access_log(uow, filters, Principal.from_dict(principal))

    @rpc(expected_exceptions=DomainError)
    def list_transfers(self, filters, principal):
        with self.db.unit_of_work() as uow:
            return joint_handlers.list_transfers(uow, filters, Principal.from_dict(principal))

    @rpc(expected_exceptions=DomainError)
    def list_agreements(self, principal):
        with self.db.unit_of_work() as uow:
            return joint_handlers.list_agreements(uow, Principal.from_dict(principal))

    @rpc(expected_exceptions=DomainError)
    def roster(self, agreement_id, filters, fmt, principal):
        """The host roster as JSON terms, iCalendar text (``ics``) or printable HTML."""
        render = {"json": joint_handlers.roster, "ics": joint_handlers.roster_ics,
                  "html": joint_handlers.roster_html}[fmt]
        with self.db.unit_of_work() as uow:
            return render(uow, agreement_id, filters, Principal.from_dict(principal))

    @rpc(expected_exceptions=DomainError)
    def joint_evaluation(self, agreement_id, filters, principal):
        with self.db.unit_of_work() as uow:
            return joint_handlers.evaluation(uow, agreement_id, filters,
                                             Principal.from_dict(principal))

    # --- queries ----------------------------------------------------------------------------
    @rpc(expected_exceptions=DomainError)
    def get_task(self, task_id, principal):
        with self.db.unit_of_work() as uow:
            return queries.get_task(uow, task_id, Principal.from_dict(principal))

    @rpc(expected_exceptions=DomainError)
    def list_tasks(self, filters, principal):
        with self.db.unit_of_work() as uow:
            return queries.list_tasks(uow, filters, Principal.from_dict(principal))

    @rpc
    def get_grid(self, code):
        return queries.grid_view(self.registry, code)

    @rpc
    def locate(self, lon, lat, address):
        return queries.locate(self.registry, lon, lat, address)

    @rpc
    def find_person(self, person_id):
        return queries.find_person(self.registry, person_id)

    @rpc
    def health(self):
        with self.db.unit_of_work() as uow:
            return queries.health(uow)
