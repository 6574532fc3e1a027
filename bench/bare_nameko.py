"""A bare nameko pipeline: the benchmark's floor for what the framework and the broker alone cost.

Five services in five processes, shaped like envgrid's, passing the same messages per
submission (``run.HOPS``) with nameko's own RPC, event dispatch (persistent, confirmed) and
event handlers, and doing nothing else: no database, no outbox, no domain rules. Whatever
envgrid adds on top of this is its own work; what this costs, no envgrid built on nameko and
this broker can avoid.

    gateway   POST /submit → RPC complaints.submit
    complaints  submit → case_received, case_accepted;  task_assigned → count
    dispatch    case_accepted → task_assigned, case_scheduled
    notify, ranking  each of the four events → count
"""
from __future__ import annotations

import collections
import json

from nameko.events import EventDispatcher, event_handler
from nameko.rpc import RpcProxy, rpc
from nameko.web.handlers import http

SEEN: collections.Counter = collections.Counter()  # events handled by this process


class Counting:
    @rpc
    def seen(self):
        return dict(SEEN)


class BareComplaints(Counting):
    name = "bare_complaints"
    dispatch = EventDispatcher()

    @rpc
    def submit(self, body):
        self.dispatch("case_received", body)
        self.dispatch("case_accepted", body)
        return {"case_no": body["n"]}

    @event_handler("bare_dispatch", "task_assigned")
    def on_task_assigned(self, payload):
        SEEN["task_assigned"] += 1


class BareDispatch(Counting):
    name = "bare_dispatch"
    dispatch = EventDispatcher()

    @event_handler("bare_complaints", "case_accepted")
    def on_case_accepted(self, payload):
        SEEN["case_accepted"] += 1
        self.dispatch("task_assigned", payload)
        self.dispatch("case_scheduled", payload)


class CountsEveryEvent(Counting):
    @event_handler("bare_complaints", "case_received")
    def on_case_received(self, payload):
        SEEN["case_received"] += 1

    @event_handler("bare_complaints", "case_accepted")
    def on_case_accepted(self, payload):
        SEEN["case_accepted"] += 1

    @event_handler("bare_dispatch", "task_assigned")
    def on_task_assigned(self, payload):
        SEEN["task_assigned"] += 1

    @event_handler("bare_dispatch", "case_scheduled")
    def on_case_scheduled(self, payload):
        SEEN["case_scheduled"] += 1


class BareNotify(CountsEveryEvent):
    name = "bare_notify"


class BareRanking(CountsEveryEvent):
    name = "bare_ranking"


class BareGateway:
    name = "bare_gateway"
    complaints = RpcProxy("bare_complaints")
    dispatch_rpc = RpcProxy("bare_dispatch")
    notify_rpc = RpcProxy("bare_notify")
    ranking_rpc = RpcProxy("bare_ranking")

    @http("POST", "/submit")
    def submit(self, request):
        reply = self.complaints.submit(json.loads(request.get_data(as_text=True)))
        return 201, json.dumps(reply)

    @http("GET", "/seen")
    def seen(self, request):
        return json.dumps({"complaints": self.complaints.seen(),
                           "dispatch": self.dispatch_rpc.seen(),
                           "notify": self.notify_rpc.seen(),
                           "ranking": self.ranking_rpc.seen()})


SERVICES = {"gateway": "BareGateway", "complaints": "BareComplaints",
            "dispatch": "BareDispatch", "notify": "BareNotify", "ranking": "BareRanking"}
