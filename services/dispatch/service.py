"""Dispatch service (派遣): the grid registry, task assignment with deadlines, closure,
verification and sign-off, extensions, and the warning/escalation sweep. Entrypoints only."""
from __future__ import annotations

import functools

from nameko.rpc import rpc

from services.common import events
from services.common.authz import Principal
from services.common.config import policy
from services.common.errors import DomainError, NotFound
from services.common.messaging import every, on_event
from services.common.unit_of_work import Database
from services.dispatch import (grid_import, handlers, joint_handlers, joint_work, patrols,
                               queries, registry_public)
from services.dispatch import registry as registry_module
from services.dispatch.registry import Registry


class DispatchService:
    name = "dispatch"
    db = Database("dispatch")
    registry = Registry()

    # --- events -----------------------------------------------------------------------------
    @on_event("complaints", events.CASE_ACCEPTED, batched=True)  # one per case: many at once
    def on_case_accepted(self, uow, payload):
        handlers.assign_case(uow, payload, self.registry, policy())

    @on_event("complaints", events.CASE_RATED)
    def on_case_rated(self, uow, payload):
        if payload["reopen"]:
            handlers.reopen(uow, payload["case_no"], "poor_rating", policy())

    @on_event("dispatch", events.TASK_VERIFIED)
    def on_task_verified(self, uow, payload):
        # A shared case signed off counts for the linkage evaluation (joint_case_closed).
        joint_work.on_task_verified(uow, payload)

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

    @every("REGISTRY_PUBLISH_SECONDS", 5)
    def publish_registry_snapshot(self):
        """Announce a new registry version (registry_published events, no people)."""
        self.publish_registry(force=False)

    @rpc
    def publish_registry(self, force=True):
        """Announce the registry again: ranking asks when it has no snapshot of it."""
        with self.db.unit_of_work({"id": "system", "role": "system"}) as uow:
            count = registry_public.publish(uow, force=force)
            uow.commit()
            return count

    # --- commands ---------------------------------------------------------------------------
    @rpc(expected_exceptions=DomainError)
    def close(self, task_id, result, founded, evidence, principal):
        return self._command(principal, handlers.close, task_id, result, founded, evidence)

    @rpc(expected_exceptions=DomainError)
    def verify(self, task_id, approved, note, principal):
        return self._command(principal, handlers.verify, task_id, approved, note)

    @rpc(expected_exceptions=DomainError)
    def acknowledge(self, task_id, principal):
        return self._command(principal, handlers.acknowledge, task_id)

    @rpc(expected_exceptions=DomainError)
    def recheck(self, task_id, outcome, note, principal):
        return self._command(principal, functools.partial(handlers.recheck, policy=policy()),
                             task_id, outcome, note)

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
        with self.db.read() as uow:
            return joint_handlers.evaluation(uow, agreement_id, filters,
                                             Principal.from_dict(principal))

    # Consultations (会商), joint operations (联合执法), agreements' upkeep: joint_work.py.
    @rpc(expected_exceptions=DomainError)
    def joint_command(self, command, args, principal):
        """The joint-work commands and reads (``JOINT_COMMANDS``), each in a unit of work as the
        principal, committed (reads log cross-region access); returns the handler's view."""
        if command not in JOINT_COMMANDS:
            raise NotFound(f"no command {command}", code="not_found", field="command")
        fn, needs_registry = JOINT_COMMANDS[command]
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            extra = (self.registry,) if needs_registry else ()
            view = fn(uow, *args, who, *extra)
            uow.commit()
            return view

    # --- the grid registry: import and export (GeoJSON, CSV) --------------------------------
    @rpc(expected_exceptions=DomainError)
    def import_grids(self, fmt, data, options, principal):
        """Import a registry file; the report lists every rejected row. This instance routes
        with the new grids from the next call on, other instances within a second."""
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            report = grid_import.import_request(uow, fmt, data, options, who)
            uow.commit()
        registry_module.changed_here(self.db)
        return report

    @rpc(expected_exceptions=DomainError)
    def export_grids(self, fmt, filters, principal):
        with self.db.unit_of_work() as uow:
            return grid_import.export_request(uow, fmt, filters, Principal.from_dict(principal))

    # --- patrol walks (巡查记录) ---------------------------------------------------------------
    @rpc(expected_exceptions=DomainError)
    def patrol_command(self, command, args, principal):
        """``record`` (a walk, args: cmd, idempotency key) or ``list`` (args: filters)."""
        who = Principal.from_dict(principal)
        with self.db.unit_of_work(who.as_actor()) as uow:
            if command == "record":
                cmd, key = args
                view = patrols.record(uow, cmd, who, self.registry, policy(), key)
                uow.commit()
                return view
            if command == "list":
                return patrols.list_patrols(uow, args[0], who, policy())
        raise NotFound(f"no command {command}", code="not_found", field="command")

    # --- queries ----------------------------------------------------------------------------
    @rpc(expected_exceptions=DomainError)
    def get_task(self, task_id, principal):
        with self.db.read() as uow:
            return queries.get_task(uow, task_id, Principal.from_dict(principal))

    @rpc(expected_exceptions=DomainError)
    def list_tasks(self, filters, principal):
        with self.db.read() as uow:
            return queries.list_tasks(uow, filters, Principal.from_dict(principal))

    @rpc
    def get_grid(self, code):
        return queries.grid_view(self.registry, code)

    @rpc(expected_exceptions=DomainError)
    def public_map(self, filters):
        return queries.public_map(self.registry, filters)

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


# name -> (handler, takes the grid registry). Reads are here too: they log cross-region reads.
JOINT_COMMANDS = {
    "schedule_consultation": (joint_work.schedule_consultation, False),
    "list_consultations": (joint_work.list_consultations, False),
    "get_consultation": (joint_work.get_consultation, False),
    "record_consultation_held": (joint_work.record_consultation_held, False),
    "plan_operation": (joint_work.plan_operation, False),
    "list_operations": (joint_work.list_operations, False),
    "get_operation": (joint_work.get_operation, False),
    "operation_officer": (joint_work.operation_officer, False),
    "record_finding": (joint_work.record_finding, False),
    "report_operation": (joint_work.report_operation, False),
    "proposals": (joint_work.proposals, True),
    "create_agreement": (joint_work.create_agreement, True),
    "join_party": (joint_work.join_party, True),
    "leave_party": (joint_work.leave_party, True),
}
