"""Notify service (通知): decides who is told what for every event, records each message before
sending it, and delivers it by SMS, e-mail, in-app or log with retries. Entrypoints only."""
from __future__ import annotations

from nameko.rpc import RpcProxy, rpc
from sqlalchemy import text

from services.common.config import policy
from services.common.messaging import every, on_event
from services.common.unit_of_work import Database
from services.notify import handlers
from services.notify.delivery import Channels


class NotifyService:
    name = "notify"
    db = Database("notify", relay=False)
    outbound = Channels()
    dispatch = RpcProxy("dispatch")
    complaints = RpcProxy("complaints")

    def _directory(self):
        return handlers.Directory(self.dispatch, self.complaints,
                                  self.outbound.subscriptions.settings.default_language)

    @on_event("complaints", "#")
    def on_complaints_event(self, uow, payload):
        handlers.plan_deliveries(uow, payload, self.outbound.subscriptions, self._directory(),
                                 policy().data, set(self.outbound.channels))

    @on_event("dispatch", "#")
    def on_dispatch_event(self, uow, payload):
        handlers.plan_deliveries(uow, payload, self.outbound.subscriptions, self._directory(),
                                 policy().data, set(self.outbound.channels))

    @every("DELIVERY_INTERVAL_SECONDS", 1)
    def deliver(self):
        while True:
            with self.db.unit_of_work() as uow:
                count = handlers.deliver_due(uow, self.outbound.subscriptions,
                                             self._directory(), self.outbound.channels)
                uow.commit()
            if count < 100:
                return

    @rpc
    def inbox(self, principal, filters):
        with self.db.unit_of_work() as uow:
            return handlers.inbox(uow, principal, filters)

    @rpc
    def delivery_log(self, filters):
        with self.db.unit_of_work() as uow:
            return handlers.delivery_log(uow, filters)

    @rpc
    def health(self):
        with self.db.unit_of_work() as uow:
            uow.session.execute(text("SELECT 1"))
            return {"ok": True}
