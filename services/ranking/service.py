"""Ranking service (排名): records every event of the other services, folds them into per-region
and per-grid figures, and answers league tables and bulletins. Entrypoints only."""
from __future__ import annotations

from nameko.rpc import rpc

from services.common.errors import DomainError
from services.common.messaging import every, on_event
from services.common.unit_of_work import Database
from services.ranking import handlers, queries


class RankingService:
    name = "ranking"
    db = Database("ranking")

    # Every event of these sources, whatever its type ("#" binds them all).
    @on_event("complaints", "#")
    def record_complaints_event(self, uow, payload):
        handlers.record(uow, payload)

    @on_event("dispatch", "#")
    def record_dispatch_event(self, uow, payload):
        handlers.record(uow, payload)

    @every("PROJECT_INTERVAL_SECONDS", 1)
    def project(self):
        while handlers.project_batch(self.db) >= handlers.BATCH:
            pass

    @rpc(expected_exceptions=DomainError)
    def region_counters(self, filters):
        with self.db.unit_of_work() as uow:
            return queries.region_counters(uow, filters)

    @rpc(expected_exceptions=DomainError)
    def league_table(self, filters):
        with self.db.unit_of_work() as uow:
            return queries.league_table(uow, filters, sizes={})

    @rpc
    def rebuild(self):
        return handlers.rebuild(self.db)

    @rpc
    def health(self):
        with self.db.unit_of_work() as uow:
            return queries.health(uow)
