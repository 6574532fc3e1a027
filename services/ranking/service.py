"""Ranking service (排名): records every event of the other services, folds them into per-region
and per-grid figures, and answers league tables and bulletins. Entrypoints only."""
from __future__ import annotations

import logging

import eventlet
from nameko.rpc import RpcProxy, rpc

from services.common.errors import DomainError
from services.common.messaging import every, on_events
from services.common.unit_of_work import Database
from services.ranking import books, dashboard, handlers, publishing, queries, registry_view, views

log = logging.getLogger(__name__)


class RankingService:
    name = "ranking"
    db = Database("ranking")
    dispatch = RpcProxy("dispatch")

    # Every event of these sources, whatever its type ("#" binds them all), recorded once by
    # its id; the events that arrive together in one transaction.
    @on_events("complaints", "#")
    def record_complaints_events(self, uow, payloads):
        handlers.record(uow, payloads)

    @on_events("dispatch", "#")
    def record_dispatch_events(self, uow, payloads):
        handlers.record(uow, payloads)

    @every("PROJECT_INTERVAL_SECONDS", 1)
    def project(self):
        while handlers.project_batch(self.db) >= handlers.BATCH:
            pass
        books.catch_up(self.db)
        books.record_window_passes(self.db)
        # Bulletins come after the folding, so a due one reads an up-to-date model.
        publishing.publish_due(self.db, sizes={})

    @every("PDF_INTERVAL_SECONDS", 5, limit=900)
    def prepare_pdfs(self):
        views.prepare_pdfs(self.db)

    @rpc(expected_exceptions=DomainError)
    def region_counters(self, filters):
        with self.db.read() as uow:
            return queries.region_counters(uow, filters)

    @every("REGISTRY_ASK_SECONDS", 30)
    def ask_for_registry(self):
        """Sizes and neighbours come from dispatch's registry_published events; with none
        recorded (a fresh database, or dispatch announced before ranking listened), ask."""
        with self.db.unit_of_work() as uow:
            if registry_view.has_any(uow.session):
                return
        try:
            with eventlet.Timeout(5):
                self.dispatch.publish_registry(True)
        except (eventlet.Timeout, Exception) as exc:  # asked again next tick
            log.warning("could not ask dispatch for its registry: %r", exc)

    @rpc(expected_exceptions=DomainError)
    def league_table(self, filters):
        with self.db.read() as uow:
            return dashboard.league(uow, filters)

    @rpc(expected_exceptions=DomainError)
    def trends(self, filters):
        with self.db.read() as uow:
            return dashboard.trends(uow, filters)

    @rpc(expected_exceptions=DomainError)
    def hot_spots(self, filters):
        with self.db.read() as uow:
            return dashboard.hotspots(uow, filters)

    @rpc(expected_exceptions=DomainError)
    def cards(self, filters):
        with self.db.read() as uow:
            return views.card_list(uow, filters)

    @rpc(expected_exceptions=DomainError)
    def enterprise_cards(self, enterprise_key):
        with self.db.read() as uow:
            return views.enterprise_history(uow, enterprise_key)

    @rpc(expected_exceptions=DomainError)
    def bulletins(self, filters, public):
        with self.db.read() as uow:
            return views.bulletin_list(uow, filters, public)

    @rpc(expected_exceptions=DomainError)
    def bulletin(self, bulletin_id, fmt, public):
        """One archived bulletin as ``json`` (with its data), ``html`` or ``pdf`` (base64)."""
        with self.db.read() as uow:
            return views.bulletin_as(uow, bulletin_id, fmt, public)

    @rpc(expected_exceptions=DomainError)
    def export(self, table, filters, public):
        """CSV text of one of ranking's tables (``views.TABLES``)."""
        with self.db.read() as uow:
            return views.export(uow, table, filters, public, sizes={})

    @rpc
    def rebuild(self):
        total = handlers.rebuild(self.db)
        books.rebuild(self.db)
        return total

    @rpc
    def health(self):
        with self.db.unit_of_work() as uow:
            return queries.health(uow)
