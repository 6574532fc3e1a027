"""The public HTTP API: one route table (method, path, roles, body schema, handler).

The table drives request routing, the role check of every endpoint, body validation and the
OpenAPI document, so the four cannot drift apart. Handlers only translate HTTP to RPC.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import base64
import re
import time

import eventlet
from sqlalchemy import select
from werkzeug.wrappers import Response

from services.common.errors import NotFound, ValidationError
from services.common.regions import within
from services.gateway import audit, media, schemas, sms_callback
from services.gateway.models import Account

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
    max_body: int | None = None  # bytes; None: the gateway's default
    timeout: float | None = None  # seconds; None: the gateway's RPC time limit
    accepts: tuple[str, ...] = ()  # content types of a raw (non-JSON) body the handler reads


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


def record_patrol(ctx, body):
    """A patrol walk of the walker's own grid (巡查记录); a retried post records one walk."""
    return 201, ctx.service.dispatch.patrol_command("record", [body, _idem(ctx)], ctx.who)


def list_patrols(ctx, body):
    return ctx.service.dispatch.patrol_command("list", [dict(ctx.request.args)], ctx.who)


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


def acknowledge_task(ctx, body, task_id):
    return ctx.service.dispatch.acknowledge(task_id, ctx.who)


def recheck_task(ctx, body, task_id):
    return ctx.service.dispatch.recheck(task_id, body["outcome"], body.get("note"), ctx.who)


# A registry file of a few thousand cells with real boundaries runs to megabytes; larger ones
# go through ``python -m infra.grids import``.
GRID_FILE_MAX_BODY = 32 * 1024 * 1024
GRID_IMPORT_SECONDS = 300
_GRID_MEDIA = {"geojson": ("application/geo+json", "geojson"), "csv": ("text/csv", "csv")}


def import_grids(ctx, body):
    options = {k: body[k] for k in ("effective", "replace", "under", "dry_run") if k in body}
    return ctx.service.dispatch.import_grids(body["format"], body["data"], options, ctx.who)


def export_grids(ctx, body):
    fmt = ctx.request.args.get("format", "geojson")
    filters = {k: ctx.request.args.get(k) for k in ("on", "under") if ctx.request.args.get(k)}
    text = ctx.service.dispatch.export_grids(fmt, filters, ctx.who)
    media, ext = _GRID_MEDIA[fmt]  # dispatch refused any other format
    return Response(text.encode("utf-8"), content_type=f"{media}; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="grids.{ext}"'})


def get_grid(ctx, body, code):
    grid = ctx.service.dispatch.get_grid(code)
    if grid is None:
        raise NotFound(f"no grid {code}", code="grid_not_found", field="code")
    return grid


def my_messages(ctx, body):
    return ctx.service.notify.inbox(ctx.who, dict(ctx.request.args))


# --- notify: delivery log, preferences, the SMS gateway's callback ------------------------------
READERS = ("liaison",) + STAFF
DELIVERY_LOG_READERS = ("intake", "dispatcher", "supervisor", "admin")


def delivery_log(ctx, body):
    return ctx.service.notify.delivery_log(dict(ctx.request.args), ctx.who)


def get_preferences(ctx, body):
    return ctx.service.notify.preferences(ctx.who)


def set_preferences(ctx, body):
    return ctx.service.notify.preferences(ctx.who, body)


def sms_inbound(ctx, body):
    """A complainant's SMS reply, relayed and signed by the SMS gateway (上行短信)."""
    sms_callback.verify(ctx.request.headers, body, ctx.service.db.clock.now())
    return ctx.service.notify.inbound_sms(body)


def league_table(ctx, body):
    if _wants_csv(ctx):
        return league_csv(ctx, body)
    return ctx.service.ranking.league_table(dict(ctx.request.args))


def region_stats(ctx, body):
    if _wants_csv(ctx):
        return region_stats_csv(ctx, body)
    return ctx.service.ranking.region_counters(dict(ctx.request.args))


def trends(ctx, body):
    return ctx.service.ranking.trends(dict(ctx.request.args))


def hot_spots(ctx, body):
    return ctx.service.ranking.hot_spots(dict(ctx.request.args))


def public_map(ctx, body):
    return ctx.service.dispatch.public_map(dict(ctx.request.args))


# --- ranking: cards, bulletins, CSV of every table --------------------------------------------
_SAFE_NAME = re.compile(r"[^0-9A-Za-z_-]+")
_STATS_QUERY = ("period", "level", "format")


def _is_public(ctx) -> bool:
    return ctx.principal.role not in STAFF


def _wants_csv(ctx) -> bool:
    return ctx.request.args.get("format") == "csv"


def _export(ctx, table: str, name: str, **extra) -> Response:
    """A ranking table as CSV: UTF-8 with a BOM so that Excel reads the Chinese right."""
    args = {k: v for k, v in ctx.request.args.items() if k != "format"}
    args.update(extra)
    text = ctx.service.ranking.export(table, args, _is_public(ctx))
    filename = _SAFE_NAME.sub("_", "-".join(filter(None, [name, args.get("period")]))) + ".csv"
    return Response(text.encode("utf-8-sig"), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def league_csv(ctx, body):
    return _export(ctx, "league", "league")


def region_stats_csv(ctx, body):
    return _export(ctx, "regions", "regions")


def list_cards(ctx, body):
    if _wants_csv(ctx):
        return list_cards_csv(ctx, body)
    return ctx.service.ranking.cards(dict(ctx.request.args))


def list_cards_csv(ctx, body):
    return _export(ctx, "cards", "cards")


def enterprise_cards(ctx, body, enterprise_key):
    if _wants_csv(ctx):
        return enterprise_cards_csv(ctx, body, enterprise_key)
    return ctx.service.ranking.enterprise_cards(enterprise_key)


def enterprise_cards_csv(ctx, body, enterprise_key):
    return _export(ctx, "card_history", "card-history", enterprise_key=enterprise_key)


def list_bulletins(ctx, body):
    if _wants_csv(ctx):
        return list_bulletins_csv(ctx, body)
    return ctx.service.ranking.bulletins(dict(ctx.request.args), _is_public(ctx))


def list_bulletins_csv(ctx, body):
    return _export(ctx, "bulletins", "bulletins")


def get_bulletin(ctx, body, bulletin_id):
    if _wants_csv(ctx):
        return bulletin_csv(ctx, body, bulletin_id)
    return ctx.service.ranking.bulletin(bulletin_id, "json", _is_public(ctx))


def bulletin_html(ctx, body, bulletin_id):
    html = ctx.service.ranking.bulletin(bulletin_id, "html", _is_public(ctx))
    return Response(html, content_type="text/html; charset=utf-8")


def bulletin_pdf(ctx, body, bulletin_id):
    pdf = base64.b64decode(ctx.service.ranking.bulletin(bulletin_id, "pdf", _is_public(ctx)))
    name = _SAFE_NAME.sub("_", bulletin_id)
    return Response(pdf, content_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})


def bulletin_csv(ctx, body, bulletin_id):
    table = ctx.request.args.get("table")
    return _export(ctx, "bulletin", "-".join(filter(None, [bulletin_id, table])),
                   bulletin_id=bulletin_id)


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


# Consultations (会商), joint operations (联合执法), agreements' upkeep: dispatch's joint_work.
def _joint(ctx, command: str, *args):
    return ctx.service.dispatch.joint_command(command, list(args), ctx.who)


def joint_proposals(ctx, body):
    return _joint(ctx, "proposals", {k: ctx.request.args.get(k) for k in ("level", "on")})


def create_agreement(ctx, body):
    return 201, _joint(ctx, "create_agreement", body)


def join_party(ctx, body, agreement_id):
    return 201, _joint(ctx, "join_party", agreement_id, body)


def leave_party(ctx, body, agreement_id, region_code):
    return _joint(ctx, "leave_party", agreement_id, region_code, body)


def list_consultations(ctx, body, agreement_id):
    return _joint(ctx, "list_consultations", agreement_id, _window(ctx))


def schedule_consultation(ctx, body, agreement_id):
    return 201, _joint(ctx, "schedule_consultation", agreement_id, body)


def get_consultation(ctx, body, meeting_id):
    return _joint(ctx, "get_consultation", meeting_id)


def record_consultation_held(ctx, body, meeting_id):
    return _joint(ctx, "record_consultation_held", meeting_id, body)


def list_operations(ctx, body, agreement_id):
    return _joint(ctx, "list_operations", agreement_id)


def plan_operation(ctx, body, agreement_id):
    return 201, _joint(ctx, "plan_operation", agreement_id,
                       dict(body, officers=_officers(ctx, body["officers"])))


def _officers(ctx, ids: list[str]) -> list[dict]:
    """Each officer with their own region, from their account, never from the request."""
    with ctx.service.db.unit_of_work() as uow:
        found = {a.id: {"id": a.id, "name": a.name, "role": a.role, "region_code": a.scope}
                 for a in uow.session.scalars(select(Account).where(
                     Account.id.in_(ids), Account.active.is_(True)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError(f"no such officers: {', '.join(missing[:5])}",
                              code="unknown_officer", field="officers")
    return [found[i] for i in ids]


def get_operation(ctx, body, operation_id):
    return _joint(ctx, "get_operation", operation_id)


def report_operation(ctx, body, operation_id):
    return _joint(ctx, "report_operation", operation_id, body)


def file_finding(ctx, body, operation_id):
    """A case an officer of the operation finds (交叉执法): filed as a patrol report in the region
    where it is found, which it is credited to (retry with the same Idempotency-Key), or, by
    ``case_no``, a case of the officer's own region filed before."""
    mine = _joint(ctx, "operation_officer", operation_id)
    cmd = dict(body)
    case_no = cmd.pop("case_no", None)
    if case_no is not None:
        if cmd:
            raise ValidationError("give case_no alone, or a report without it",
                                  code="invalid_body", field="case_no")
        # Only a case the officer may read: a number must not open another region's case.
        region = ctx.service.complaints.get_case(case_no, ctx.who)["region_code"]
    else:
        cmd = prepare(ctx.service, dict(cmd, channel="patrol"))
        grid = cmd.get("grid_code") or ""
        region = cmd.get("region_code") or (grid[:6] if grid[:6].isdigit() else "")
        if not any(region and within(region, p) for p in mine["parties"]):
            raise ValidationError("the place is not in a party's region (or could not be "
                                  "placed): give lat/lon", code="outside_agreement",
                                  field="lat")
        case = ctx.service.complaints.submit(dict(cmd, region_code=region), ctx.who,
                                             _idem(ctx))
        case_no, region = case["case_no"], case["region_code"]
    return 201, _joint(ctx, "record_finding", operation_id, case_no, region)


# --- uploads and the audit log ----------------------------------------------------------------
def upload_media(ctx, body):
    return 201, media.upload(ctx.service, ctx.principal, ctx.request)


def read_media(ctx, body, name):
    return media.read(ctx.service, ctx.principal, name)


def audit_log(ctx, body):
    return audit.read(ctx.service, ctx.principal, ctx.request.args)


ROUTES: list[Route] = [
    Route("POST", "/api/v1/reports", "submit_report", ("grid_worker", "grid_chief"),
          submit_report, "File a patrol report (巡查上报)", schemas.REPORT, ok_status=201),
    Route("POST", "/api/v1/patrols", "record_patrol", ("grid_worker", "grid_chief"),
          record_patrol, "Record a patrol walk of your grid (巡查记录)", schemas.PATROL,
          ok_status=201),
    Route("GET", "/api/v1/patrols", "list_patrols", STAFF, list_patrols,
          "Patrol walks in your region (a grid worker: their own)",
          query=("grid", "from", "to", "limit")),
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
          query=("status", "overdue", "limit", "grid_code", "region_code", "category")),
    Route("GET", "/api/v1/tasks/<task_id>", "get_task", ASSIGNEES, get_task,
          "A task with its history", tag="tasks"),
    Route("POST", "/api/v1/tasks/<task_id>/acknowledge", "acknowledge_task", ASSIGNEES,
          acknowledge_task, "Sign for a task and start on it (签收)", schemas.EMPTY,
          tag="tasks"),
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
          ("dispatcher", "supervisor", "admin"), decide_extension,
          "Approve or refuse an extension (the dispatcher's call; supervisors may too)",
          schemas.EXTENSION_DECISION, tag="tasks"),
    Route("POST", "/api/v1/tasks/<task_id>/recheck", "recheck_task", ("supervisor", "admin"),
          recheck_task, "Re-check signed-off work (防止反弹): held, or rebound to reopen it",
          schemas.RECHECK, tag="tasks"),
    Route("GET", "/api/v1/grids/<code>", "get_grid", STAFF, get_grid,
          "A grid with its people", tag="grids"),
    Route("GET", "/api/v1/grids/export", "export_grids", ("admin",), export_grids,
          "The grid registry, or the subtree under a grid, valid on a date, as GeoJSON or CSV",
          tag="grids", query=("format", "under", "on"), media_type="application/geo+json"),
    Route("POST", "/api/v1/grids/import", "import_grids", ("admin",), import_grids,
          "Import grids from GeoJSON or CSV; a changed grid keeps its old version as history; "
          "answers with every rejected row", schemas.GRID_IMPORT, tag="grids",
          max_body=GRID_FILE_MAX_BODY, timeout=GRID_IMPORT_SECONDS),
    Route("GET", "/api/v1/messages", "my_messages", READERS, my_messages,
          "Your in-app messages", tag="notify", query=("limit",)),
    Route("GET", "/api/v1/messages/preferences", "get_preferences", READERS, get_preferences,
          "Your notification language and work e-mail", tag="notify"),
    Route("PUT", "/api/v1/messages/preferences", "set_preferences", READERS, set_preferences,
          "Set your notification language and work e-mail (null clears)", schemas.PREFERENCES,
          tag="notify"),
    Route("GET", "/api/v1/notify/deliveries", "delivery_log", DELIVERY_LOG_READERS,
          delivery_log, "Messages of your region: sent, waiting, failed or unreachable "
          "(addresses masked)", tag="notify", query=("status", "case_no", "limit")),
    Route("POST", "/api/v1/sms/inbound", "sms_inbound", ("public",), sms_inbound,
          "The SMS gateway's callback for a reply (HMAC-signed, see README)",
          schemas.SMS_INBOUND, tag="notify"),
    Route("GET", "/api/v1/stats/league", "league_table", PUBLIC, league_table,
          "League table of counties or grids for a period, sized from the registry (考核排名); "
          "format=csv for CSV", tag="public", query=("period", "level", "region", "format")),
    Route("GET", "/api/v1/stats/league.csv", "league_csv", PUBLIC, league_csv,
          "The league table as CSV (UTF-8 with BOM)", tag="public", query=("period",),
          media_type="text/csv"),
    Route("GET", "/api/v1/stats/regions", "region_stats", PUBLIC, region_stats,
          "Per-region counters for the public; format=csv for CSV", tag="public",
          query=_STATS_QUERY),
    Route("GET", "/api/v1/stats/regions.csv", "region_stats_csv", PUBLIC, region_stats_csv,
          "Per-region figures as CSV (UTF-8 with BOM)", tag="public", query=("period", "level"),
          media_type="text/csv"),
    Route("GET", "/api/v1/stats/trends", "trends", PUBLIC, trends,
          "A region's or grid's figures per month, week or day (趋势)", tag="public",
          query=("region", "grid", "from", "to", "granularity")),
    Route("GET", "/api/v1/stats/hotspots", "hot_spots", PUBLIC, hot_spots,
          "Hot-spot grids against their own history and their neighbours (热点网格)",
          tag="public", query=("period", "measure", "region")),
    Route("GET", "/api/v1/public/map", "public_map", PUBLIC, public_map,
          "Boundaries of counties or grid cells as GeoJSON, no people (网格地图)", tag="public",
          query=("region", "level")),
    Route("GET", "/api/v1/cards", "list_cards", PUBLIC, list_cards,
          "Enterprise red and yellow cards now (红黄牌), with the cases behind each",
          tag="public", query=("level", "region", "format")),
    Route("GET", "/api/v1/cards.csv", "list_cards_csv", PUBLIC, list_cards_csv,
          "The card list as CSV", tag="public", query=("level", "region"),
          media_type="text/csv"),
    Route("GET", "/api/v1/enterprises/<enterprise_key>/cards", "enterprise_cards", PUBLIC,
          enterprise_cards, "An enterprise's violations and card history", tag="public",
          query=("format",)),
    Route("GET", "/api/v1/enterprises/<enterprise_key>/cards.csv", "enterprise_cards_csv",
          PUBLIC, enterprise_cards_csv, "An enterprise's card history as CSV", tag="public",
          media_type="text/csv"),
    Route("GET", "/api/v1/bulletins", "list_bulletins", PUBLIC, list_bulletins,
          "Published bulletins (日汇总/周调度/月通报); the public sees daily and monthly",
          tag="bulletins", query=("kind", "period", "limit", "format")),
    Route("GET", "/api/v1/bulletins.csv", "list_bulletins_csv", PUBLIC, list_bulletins_csv,
          "The bulletin archive as CSV", tag="bulletins", query=("kind", "period", "limit"),
          media_type="text/csv"),
    Route("GET", "/api/v1/bulletins/<bulletin_id>", "get_bulletin", PUBLIC, get_bulletin,
          "One bulletin with the data it was built from", tag="bulletins",
          query=("format", "table")),
    Route("GET", "/api/v1/bulletins/<bulletin_id>.html", "bulletin_html", PUBLIC,
          bulletin_html, "One bulletin as a printable page", tag="bulletins",
          media_type="text/html"),
    Route("GET", "/api/v1/bulletins/<bulletin_id>.pdf", "bulletin_pdf", PUBLIC, bulletin_pdf,
          "One bulletin as PDF", tag="bulletins", media_type="application/pdf"),
    Route("GET", "/api/v1/bulletins/<bulletin_id>.csv", "bulletin_csv", PUBLIC, bulletin_csv,
          "A table of one bulletin as CSV (table=league, by_region, overdue, cards...)",
          tag="bulletins", query=("table",), media_type="text/csv"),
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
    Route("GET", "/api/v1/joint/proposals", "joint_proposals", JOINT_MANAGERS, joint_proposals,
          "Neighbours sharing a grid boundary, proposed as agreements (相邻县区)", tag="joint",
          query=("level", "on")),
    Route("POST", "/api/v1/joint/agreements", "create_agreement", ("admin",), create_agreement,
          "Record a signed linkage agreement", schemas.AGREEMENT, tag="joint", ok_status=201),
    Route("POST", "/api/v1/joint/agreements/<agreement_id>/parties", "join_party", ("admin",),
          join_party, "A region joins an agreement (mid-term too)", schemas.JOIN, tag="joint",
          ok_status=201),
    Route("POST", "/api/v1/joint/agreements/<agreement_id>/parties/<region_code>/leave",
          "leave_party", JOINT_MANAGERS, leave_party, "A party leaves an agreement from a date",
          schemas.LEAVE, tag="joint"),
    Route("GET", "/api/v1/joint/agreements/<agreement_id>/consultations", "list_consultations",
          JOINT_READERS, list_consultations, "Consultations (会商) with their agendas",
          tag="joint", query=_ROSTER_QUERY),
    Route("POST", "/api/v1/joint/agreements/<agreement_id>/consultations",
          "schedule_consultation", JOINT_ANSWERERS, schedule_consultation,
          "Schedule a consultation: regular by the term's host, or at a party's request",
          schemas.CONSULTATION, tag="joint", ok_status=201),
    Route("GET", "/api/v1/joint/consultations/<meeting_id>", "get_consultation", JOINT_READERS,
          get_consultation, "A consultation with its agenda from the shared cases", tag="joint"),
    Route("POST", "/api/v1/joint/consultations/<meeting_id>/held", "record_consultation_held",
          JOINT_ANSWERERS, record_consultation_held,
          "The host records a consultation held: minutes, attendees by party",
          schemas.CONSULTATION_HELD, tag="joint"),
    Route("GET", "/api/v1/joint/agreements/<agreement_id>/operations", "list_operations",
          JOINT_READERS, list_operations, "Joint operations (联合执法) of an agreement",
          tag="joint"),
    Route("POST", "/api/v1/joint/agreements/<agreement_id>/operations", "plan_operation",
          JOINT_SENDERS, plan_operation,
          "The term's host plans a joint operation with officers of several parties",
          schemas.OPERATION, tag="joint", ok_status=201),
    Route("GET", "/api/v1/joint/operations/<operation_id>", "get_operation", JOINT_READERS,
          get_operation, "A joint operation: team, officers' regions, cases found", tag="joint"),
    Route("POST", "/api/v1/joint/operations/<operation_id>/findings", "file_finding",
          ASSIGNEES, file_finding,
          "An officer files a case found in the operation, credited where found (交叉执法)",
          schemas.FINDING, tag="joint", ok_status=201),
    Route("POST", "/api/v1/joint/operations/<operation_id>/report", "report_operation",
          JOINT_SENDERS, report_operation, "The lead reports the operation carried out",
          schemas.OPERATION_REPORT, tag="joint"),
    Route("POST", "/api/v1/media", "upload_media", PUBLIC, upload_media,
          "Upload a photo (证据照片): JPEG, PNG or WebP; metadata such as GPS is removed",
          tag="media", ok_status=201, accepts=("image/jpeg", "image/png", "image/webp",
                                               "multipart/form-data")),
    Route("GET", "/api/v1/media/<name>", "read_media", STAFF, read_media,
          "A photo, for staff who may read the case or task that references it", tag="media",
          media_type="image/*"),
    Route("GET", "/api/v1/audit", "audit_log", ("supervisor", "admin"), audit_log,
          "Who read or changed what in your region (审计日志)", tag="audit",
          query=audit.FILTERS),
]
