"""The public HTTP API: one route table (method, path, roles, body schema, handler).

The table drives request routing, the role check of every endpoint, body validation and the
OpenAPI document, so the four cannot drift apart. Handlers only translate HTTP to RPC.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import time

import eventlet
from werkzeug.wrappers import Response

from services.common.errors import NotFound, ValidationError
from services.gateway import schemas

GRID_CHECK_SECONDS = 2
# Grid codes dispatch confirmed recently: redistricting is rare, a minute of caching is safe.
_KNOWN_GRIDS: dict[str, float] = {}

STAFF = ("grid_worker", "grid_chief", "intake", "dispatcher", "enforcement", "supervisor", "admin")
ASSIGNEES = ("grid_worker", "grid_chief", "enforcement", "dispatcher", "supervisor", "admin")
PUBLIC = ("public",) + STAFF


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # werkzeug rule syntax
    name: str
    roles: tuple[str, ...]
    handler: Callable
    summary: str
    body: dict | None = None
    tag: str = "cases"
    query: tuple[str, ...] = field(default_factory=tuple)
    ok_status: int = 200
    media_type: str = "application/json"  # others: the handler returns a werkzeug Response


class Ctx:
    """What a handler sees: the principal, the RPC proxies, the request and the client key."""

    def __init__(self, service, principal, request):
        self.service = service
        self.principal = principal
        self.request = request

    @property
    def who(self) -> dict:
        return self.principal.as_dict()


# --- handlers: HTTP -> RPC -------------------------------------------------------------------
def submit_report(ctx, body):
    """Patrol report (网格员巡查上报): grid worker's own grid unless another is named."""
    cmd = dict(body, channel="patrol")
    cmd.setdefault("grid_code", ctx.principal.grid_code)
    return 201, ctx.service.complaints.submit(prepare(ctx.service, cmd), ctx.who, _idem(ctx))


def submit_complaint(ctx, body):
    cmd = dict(body)
    cmd.setdefault("channel", "web")
    return 201, ctx.service.complaints.submit(prepare(ctx.service, cmd), None, _idem(ctx))


def submit_intake(ctx, body):
    return 201, ctx.service.complaints.submit(prepare(ctx.service, dict(body)), ctx.who,
                                              _idem(ctx))


def prepare(service, cmd: dict) -> dict:
    """Check the grid code and find the region of a submission that names none, so the right
    county's intake desk sees it at once. Neither check may turn a submission away when
    dispatch is slow or down: dispatch routes the case when it is back."""
    _check_grid(service, cmd.get("grid_code"))
    if cmd.get("grid_code") or cmd.get("region_code"):
        return cmd
    if cmd.get("lat") is None and not cmd.get("address"):
        return cmd
    try:
        with eventlet.Timeout(GRID_CHECK_SECONDS):
            found = service.dispatch.locate(cmd.get("lon"), cmd.get("lat"), cmd.get("address"))
    except eventlet.Timeout:
        return cmd
    if found and found.get("region_code"):
        cmd["region_code"] = found["region_code"]
    return cmd


def _idem(ctx) -> str | None:
    key = ctx.request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 8 <= len(key) <= 100:
        raise ValidationError("Idempotency-Key must be 8 to 100 characters",
                              code="invalid_value", field="Idempotency-Key")
    return f"{ctx.principal.id or 'public'}:{key}"


def _check_grid(service, grid_code):
    """Refuse an unknown grid code, unless dispatch cannot answer right now: a submission is
    never turned away because another service is down (dispatch routes it when it is back)."""
    if grid_code is None or _KNOWN_GRIDS.get(grid_code, 0) > time.monotonic():
        return
    try:
        with eventlet.Timeout(GRID_CHECK_SECONDS):
            grid = service.dispatch.get_grid(grid_code)
    except eventlet.Timeout:
        return
    if grid is not None:
        if len(_KNOWN_GRIDS) > 100_000:
            _KNOWN_GRIDS.clear()
        _KNOWN_GRIDS[grid_code] = time.monotonic() + 60
    else:
        raise ValidationError(f"unknown grid {grid_code}", code="unknown_grid", field="grid_code")


def list_cases(ctx, body):
    return ctx.service.complaints.list_cases(dict(ctx.request.args), ctx.who)


def get_case(ctx, body, case_no):
    return ctx.service.complaints.get_case(case_no, ctx.who)


def track_case(ctx, body, case_no):
    """Follow a case by its number (no personal data)."""
    return ctx.service.complaints.get_case(case_no, None)


def accept_case(ctx, body, case_no):
    return ctx.service.complaints.accept(case_no, ctx.who)


def decline_case(ctx, body, case_no):
    return ctx.service.complaints.decline(case_no, body["reason"], body.get("note"), ctx.who)


def refer_case(ctx, body, case_no):
    return ctx.service.complaints.refer(case_no, body["to_region"], body["reason"], ctx.who)


def monitoring_reading(ctx, body):
    return 202, ctx.service.complaints.record_reading(body, ctx.who)


def rate_case(ctx, body, case_no):
    who = None if body.get("token") else ctx.who
    return ctx.service.complaints.rate(case_no, body["score"], body.get("comment"),
                                       body.get("token"), who)


def list_tasks(ctx, body):
    return ctx.service.dispatch.list_tasks(dict(ctx.request.args), ctx.who)


def get_task(ctx, body, task_id):
    return ctx.service.dispatch.get_task(task_id, ctx.who)


def close_task(ctx, body, task_id):
    return ctx.service.dispatch.close(task_id, body["result"], body["founded"],
                                      body.get("evidence", []), ctx.who)


def verify_task(ctx, body, task_id):
    return ctx.service.dispatch.verify(task_id, body["approved"], body.get("note"), ctx.who)


def reassign_task(ctx, body, task_id):
    return ctx.service.dispatch.reassign(task_id, body.get("grid_code"), body.get("assignee"),
                                         body["reason"], ctx.who)


def return_task(ctx, body, task_id):
    return ctx.service.dispatch.send_back(task_id, body["reason"], ctx.who)


def request_extension(ctx, body, task_id):
    return 201, ctx.service.dispatch.request_extension(task_id, body["days"], body["reason"],
                                                       ctx.who)


def decide_extension(ctx, body, task_id):
    return ctx.service.dispatch.decide_extension(task_id, body["approve"], body.get("note"),
                                                 ctx.who)


def get_grid(ctx, body, code):
    grid = ctx.service.dispatch.get_grid(code)
    if grid is None:
        raise NotFound(f"no grid {code}", code="grid_not_found", field="code")
    return grid


def my_messages(ctx, body):
    return ctx.service.notify.inbox(ctx.who, dict(ctx.request.args))


def league_table(ctx, body):
    return ctx.service.ranking.league_table(dict(ctx.request.args))


def region_stats(ctx, body):
    return ctx.service.ranking.region_counters(dict(ctx.request.args))


# --- cross-region joint enforcement (左右联动) -------------------------------------------------
JOINT_READERS = ("liaison", "dispatcher", "enforcement", "supervisor", "admin")
JOINT_SENDERS = ("dispatcher", "supervisor", "admin")
JOINT_ANSWERERS = ("liaison", "dispatcher", "supervisor", "admin")
JOINT_MANAGERS = ("supervisor", "admin")
_ROSTER_QUERY = ("start", "end")


def shared_cases(ctx, body):
    return ctx.service.dispatch.list_shared_cases(dict(ctx.request.args), ctx.who)


def shared_case(ctx, body, case_no):
    return ctx.service.dispatch.get_shared_case(case_no, ctx.who)


def joint_access_log(ctx, body):
    return ctx.service.dispatch.joint_access_log(dict(ctx.request.args), ctx.who)


def request_transfer(ctx, body):
    return 201, ctx.service.dispatch.request_transfer(body, ctx.who)


def answer_transfer(ctx, body, transfer_id):
    return ctx.service.dispatch.answer_transfer(transfer_id, body["accept"], body.get("reason"),
                                                ctx.who)


def list_transfers(ctx, body):
    return ctx.service.dispatch.list_transfers(dict(ctx.request.args), ctx.who)


def list_agreements(ctx, body):
    return ctx.service.dispatch.list_agreements(ctx.who)


def roster(ctx, body, agreement_id):
    return ctx.service.dispatch.roster(agreement_id, _window(ctx), "json", ctx.who)


def roster_ics(ctx, body, agreement_id):
    text = ctx.service.dispatch.roster(agreement_id, _window(ctx), "ics", ctx.who)
    return Response(text.encode("utf-8"), content_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="roster-{agreement_id}.ics"'})


def roster_html(ctx, body, agreement_id):
    html = ctx.service.dispatch.roster(agreement_id, _window(ctx), "html", ctx.who)
    return Response(html, content_type="text/html; charset=utf-8")


def _window(ctx) -> dict:
    return {k: ctx.request.args.get(k) for k in _ROSTER_QUERY if ctx.request.args.get(k)}


def record_swap(ctx, body, agreement_id):
    return 201, ctx.service.dispatch.record_swap(agreement_id, body, ctx.who)


def joint_evaluation(ctx, body, agreement_id):
    return ctx.service.dispatch.joint_evaluation(agreement_id, _window(ctx), ctx.who)


ROUTES: list[Route] = [
    Route("POST", "/api/v1/reports", "submit_report", ("grid_worker", "grid_chief"),
          submit_report, "File a patrol report (巡查上报)", schemas.REPORT, ok_status=201),
    Route("POST", "/api/v1/complaints", "submit_complaint", PUBLIC, submit_complaint,
          "File a complaint from the web form or an app (公众举报)", schemas.COMPLAINT,
          ok_status=201),
    Route("POST", "/api/v1/intake", "submit_intake", ("intake", "admin"), submit_intake,
          "Enter a hotline call or a letter (12369 受理员录入)", schemas.INTAKE, ok_status=201),
    Route("GET", "/api/v1/cases", "list_cases", STAFF, list_cases,
          "List cases in your region", query=("status", "limit")),
    Route("GET", "/api/v1/cases/<case_no>", "get_case", STAFF, get_case,
          "A case with its history; the complainant only for intake staff"),
    Route("GET", "/api/v1/public/cases/<case_no>", "track_case", PUBLIC, track_case,
          "Follow a case by its number (no personal data)", tag="public"),
    Route("POST", "/api/v1/cases/<case_no>/accept", "accept_case", ("intake", "admin"),
          accept_case, "Accept a case (受理)", schemas.EMPTY),
    Route("POST", "/api/v1/cases/<case_no>/decline", "decline_case", ("intake", "admin"),
          decline_case, "Decline a case with a defined reason (不予受理)", schemas.DECLINE),
    Route("POST", "/api/v1/cases/<case_no>/refer", "refer_case", ("intake", "admin"),
          refer_case, "Refer a case to the region where it happened (转办)", schemas.REFER),
    Route("POST", "/api/v1/monitoring/readings", "monitoring_reading", ("monitor", "admin"),
          monitoring_reading, "An hourly-average reading from online monitoring (小时均值)",
          schemas.READING, tag="monitoring", ok_status=202),
    Route("POST", "/api/v1/cases/<case_no>/rating", "rate_case", PUBLIC, rate_case,
          "Rate the result: the complainant with the rating token, or the grid chief",
          schemas.RATING),
    Route("GET", "/api/v1/tasks", "list_tasks", ASSIGNEES, list_tasks,
          "Open tasks in your region, soon-due first", tag="tasks",
          query=("status", "overdue", "limit", "grid_code")),
    Route("GET", "/api/v1/tasks/<task_id>", "get_task", ASSIGNEES, get_task,
          "A task with its history", tag="tasks"),
    Route("POST", "/api/v1/tasks/<task_id>/close", "close_task", ASSIGNEES, close_task,
          "Record the result and close (办结)", schemas.CLOSE, tag="tasks"),
    Route("POST", "/api/v1/tasks/<task_id>/verify", "verify_task", ("supervisor", "admin"),
          verify_task, "Verify and sign off (销号), or send back", schemas.VERIFY, tag="tasks"),
    Route("POST", "/api/v1/tasks/<task_id>/reassign", "reassign_task",
          ("dispatcher", "supervisor", "admin"), reassign_task, "Reassign a task",
          schemas.REASSIGN, tag="tasks"),
    Route("POST", "/api/v1/tasks/<task_id>/return", "return_task", ASSIGNEES, return_task,
          "Send a wrongly routed task back (退回)", schemas.RETURN, tag="tasks"),
    Route("POST", "/api/v1/tasks/<task_id>/extension", "request_extension", ASSIGNEES,
          request_extension, "Request an extension (延期申请)", schemas.EXTENSION, tag="tasks",
          ok_status=201),
    Route("POST", "/api/v1/tasks/<task_id>/extension/decision", "decide_extension",
          ("supervisor", "admin"), decide_extension, "Approve or refuse an extension",
          schemas.EXTENSION_DECISION, tag="tasks"),
    Route("GET", "/api/v1/grids/<code>", "get_grid", STAFF, get_grid,
          "A grid with its people", tag="grids"),
    Route("GET", "/api/v1/messages", "my_messages", STAFF, my_messages,
          "Your in-app messages", tag="notify", query=("limit",)),
    Route("GET", "/api/v1/stats/league", "league_table", PUBLIC, league_table,
          "League table of counties for a period (考核排名)", tag="public", query=("period",)),
    Route("GET", "/api/v1/stats/regions", "region_stats", PUBLIC, region_stats,
          "Per-region counters for the public", tag="public", query=("period",)),
    Route("GET", "/api/v1/joint/cases", "shared_cases", JOINT_READERS, shared_cases,
          "Cases shared with your region under a linkage agreement (信息共享), progress only",
          tag="joint", query=("status", "limit")),
    Route("GET", "/api/v1/joint/cases/<case_no>", "shared_case", JOINT_READERS, shared_case,
          "A case shared with your region: progress, never the complainant", tag="joint"),
    Route("GET", "/api/v1/joint/access-log", "joint_access_log", JOINT_MANAGERS,
          joint_access_log, "Cross-region reads of your region's records (跨区域查阅记录)",
          tag="joint", query=("case_no", "limit")),
    Route("POST", "/api/v1/joint/transfers", "request_transfer", JOINT_SENDERS,
          request_transfer, "Transfer a case to a partner (案件移交) or ask it for help",
          schemas.TRANSFER, tag="joint", ok_status=201),
    Route("POST", "/api/v1/joint/transfers/<transfer_id>/answer", "answer_transfer",
          JOINT_ANSWERERS, answer_transfer,
          "Accept or refuse (with a reason) a transfer or help request", schemas.TRANSFER_ANSWER,
          tag="joint"),
    Route("GET", "/api/v1/joint/transfers", "list_transfers", JOINT_ANSWERERS, list_transfers,
          "Transfers and help requests sent or received by your region", tag="joint",
          query=("state",)),
    Route("GET", "/api/v1/joint/agreements", "list_agreements", JOINT_READERS, list_agreements,
          "Linkage agreements your region is party to (联动协议)", tag="joint"),
    Route("GET", "/api/v1/joint/agreements/<agreement_id>/roster", "roster", JOINT_READERS,
          roster, "The rotating-host roster (轮值表) and planned consultations", tag="joint",
          query=_ROSTER_QUERY),
    Route("GET", "/api/v1/joint/agreements/<agreement_id>/roster.ics", "roster_ics",
          JOINT_READERS, roster_ics, "The roster as an iCalendar file", tag="joint",
          query=_ROSTER_QUERY, media_type="text/calendar"),
    Route("GET", "/api/v1/joint/agreements/<agreement_id>/roster.html", "roster_html",
          JOINT_READERS, roster_html, "The roster as a printable page", tag="joint",
          query=_ROSTER_QUERY, media_type="text/html"),
    Route("POST", "/api/v1/joint/agreements/<agreement_id>/swaps", "record_swap",
          JOINT_MANAGERS, record_swap, "Record an exchange of two host terms (轮值调换)",
          schemas.SWAP, tag="joint", ok_status=201),
    Route("GET", "/api/v1/joint/agreements/<agreement_id>/evaluation", "joint_evaluation",
          JOINT_READERS, joint_evaluation, "Linkage evaluation per party (联动工作评估)",
          tag="joint", query=_ROSTER_QUERY),
]
