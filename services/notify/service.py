"""Notify service (通知): decides who is told what for every event, records each message before
sending it, and delivers it by SMS, e-mail, in-app or log with retries. Entrypoints only."""
from __future__ import annotations

from nameko.rpc import RpcProxy, rpc
from sqlalchemy import text

from services.common.config import policy
from services.common.errors import DomainError
from services.common.messaging import every, on_event
from services.common.unit_of_work import Database
from services.notify import handlers, replies
from services.notify.delivery import Channels


def _asks_nothing(service, payload) -> bool:
    """No subscription plans a message for this event (most task and case steps)."""
    return not service.outbound.subscriptions.plan(payload)


class NotifyService:
    name = "notify"
    db = Database("notify", relay=False)
    outbound = Channels()
    dispatch = RpcProxy("dispatch")
    complaints = RpcProxy("complaints")

    def _directory(self):
        return handlers.Directory(self.dispatch, self.complaints,
                                  self.outbound.subscriptions.settings.default_language,
                                  staff_cache=self.outbound.staff_cache)

    @on_event("complaints", "#", unless=_asks_nothing, batched=True)
    def on_complaints_event(self, uow, payload):
        handlers.plan_deliveries(uow, payload, self.outbound.subscriptions, self._directory(),
                                 policy().data, set(self.outbound.channels))

    @on_event("dispatch", "#", unless=_asks_nothing, batched=True)
    def on_dispatch_event(self, uow, payload):
        handlers.plan_deliveries(uow, payload, self.outbound.subscriptions, self._directory(),
                                 policy().data, set(self.outbound.channels))

    @on_event("ranking", "bulletin_published", unless=_asks_nothing)
    def on_bulletin_published(self, uow, payload):
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

    @rpc(expected_exceptions=DomainError)
    def delivery_log(self, filters, principal=None):
        with self.db.unit_of_work() as uow:
            return handlers.delivery_log(uow, filters, principal)

    @rpc(expected_exceptions=DomainError)
    def preferences(self, principal, changes=None):
        with self.db.unit_of_work() as uow:
            if changes is None:
                return handlers.get_preferences(uow, principal)
            result = handlers.set_preferences(uow, principal, changes,
                                              self.outbound.subscriptions.settings.languages)
            uow.commit()
            return result

    # --- the satisfaction reply path (满意度回访) ----------------------------------------------
    @rpc(expected_exceptions=DomainError)
    def inbound_sms(self, message):
        with self.db.unit_of_work() as uow:
            status, answer = replies.inbound_sms(uow, message, self._directory().complaints,
                                                 self.outbound.subscriptions.settings)
            uow.commit()
        if status >= 400:
            raise DomainError(answer["error"]["message"], code=answer["error"]["code"],
                              field=answer["error"]["field"], status=status)
        return answer

    @rpc(expected_exceptions=DomainError)
    def rate_by_link(self, token, score, comment=None):
        with self.db.unit_of_work() as uow:
            result = replies.rate_by_link(uow, token, score, comment,
                                          self._directory().complaints)
            uow.commit()
            return result

    @rpc
    def rating_link(self, token):
        with self.db.unit_of_work() as uow:
            return replies.link_status(uow, token)

    @rpc
    def health(self):
        with self.db.unit_of_work() as uow:
            uow.session.execute(text("SELECT 1"))
            return {"ok": True}
