"""The event catalogue: every event that crosses the broker, its source and its payload.

Events are published by each service's outbox relay to the nameko exchange
``<source>.events`` with the event type as routing key. Every payload is a flat JSON
object that carries the envelope fields below plus the fields listed for its type.

Confidentiality rule: no event ever carries a complainant's name or contact. A service that
must reach the complainant (notify) asks complaints for the contact over RPC, at the moment
of sending, and only for that purpose.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

ENVELOPE = ("event_id", "event_type", "occurred_at", "source", "actor")


@dataclass(frozen=True)
class EventType:
    source: str
    name: str
    doc: str
    fields: tuple[str, ...]
    sample: dict = field(default_factory=dict)


_CASE = ("case_no", "region_code", "grid_code", "channel", "category", "priority")
_TASK = ("task_id", "case_no", "region_code", "grid_code", "category", "priority")

CATALOGUE: dict[str, EventType] = {}


def _define(source, name, doc, fields, sample):
    CATALOGUE[name] = EventType(source, name, doc, tuple(fields), sample)
    return name


_case_sample = {
    "case_no": "360323-20261123-0001",
    "region_code": "360323",
    "grid_code": "360323100001",
    "channel": "hotline",
    "category": "air.odour",
    "priority": "normal",
}
_task_sample = {
    "task_id": "T-9f2c1a",
    "case_no": "360323-20261123-0001",
    "region_code": "360323",
    "grid_code": "360323100001",
    "category": "air.odour",
    "priority": "normal",
}

# --- complaints -----------------------------------------------------------------------------
CASE_RECEIVED = _define(
    "complaints", "case_received", "A report or complaint was received and numbered (登记).",
    _CASE + ("description", "address", "lat", "lon", "enterprise", "received_at",
             "has_complainant", "anonymous", "accept_due", "river"),
    dict(_case_sample, description="Strong odour near the chemical plant at night",
         address="芦溪县宣风镇", lat=27.63, lon=114.03, enterprise="萍乡某化工有限公司",
         river="萍水河", received_at="2026-11-23T01:00:00+00:00", has_complainant=True,
         anonymous=False, accept_due="2026-12-14"),
)
CASE_ACCEPTED = _define(
    "complaints", "case_accepted", "Intake accepted the case (受理); dispatch assigns it.",
    _CASE + ("description", "address", "lat", "lon", "enterprise", "accepted_at",
             "has_complainant", "incident", "reported_by", "river"),
    dict(_case_sample, description="Strong odour near the chemical plant at night",
         address="芦溪县宣风镇", lat=27.63, lon=114.03, enterprise="萍乡某化工有限公司",
         river="萍水河", accepted_at="2026-11-23T01:05:00+00:00", has_complainant=True, incident=None,
         reported_by=None),
)
CASE_DECLINED = _define(
    "complaints", "case_declined", "Intake declined the case (不予受理) with a defined reason.",
    _CASE + ("reason_code", "reason_text", "next_step", "has_complainant", "reported_by"),
    dict(_case_sample, reason_code="not_environmental",
         reason_text="Not an environmental matter", next_step="Contact the market regulator",
         has_complainant=True, reported_by=None),
)
CASE_MERGED = _define(
    "complaints", "case_merged", "A repeat was merged into an open case and counted.",
    _CASE + ("merged_into", "repeat_count", "has_complainant"),
    dict(_case_sample, case_no="360323-20261124-000002", merged_into="360323-20261123-0001",
         repeat_count=2, has_complainant=True),
)
CASE_REFERRED = _define(
    "complaints", "case_referred", "The case was referred (转办) to the region where it happened; "
    "that region's intake decides by ``accept_due``.",
    _CASE + ("from_region", "to_region", "reason", "has_complainant", "accept_due"),
    dict(_case_sample, from_region="360323", to_region="360313", reason="Location in 湘东区",
         has_complainant=True, accept_due="2026-12-14"),
)
CASE_SCHEDULED = _define(
    "complaints", "case_scheduled",
    "The accepted case got its first task, so its expected closing date is known: the "
    "complainant's receipt (受理回执) carries it.",
    _CASE + ("description", "address", "enterprise", "accepted_at", "expected_by",
             "has_complainant", "reported_by"),
    dict(_case_sample, description="Strong odour near the chemical plant at night",
         address="芦溪县宣风镇", enterprise="萍乡某化工有限公司",
         accepted_at="2026-11-23T01:05:00+00:00", expected_by="2026-12-04T09:00:00+00:00",
         has_complainant=True, reported_by=None),
)
CASE_FEEDBACK = _define(
    "complaints", "case_feedback",
    "The verified result was fed back to the case; the reporter is asked to rate it.",
    _CASE + ("result", "founded", "has_complainant", "rating_token", "reported_by",
             "enterprise", "enterprise_key", "incident", "verified_at"),
    dict(_case_sample, result="Odour source sealed, enterprise fined", founded=True,
         has_complainant=True, rating_token="r-5b1e2c", reported_by=None,
         enterprise="萍乡某化工有限公司", enterprise_key="萍乡某化工有限公司", incident=None,
         verified_at="2026-12-01T08:00:00+00:00"),
)
CASE_RATED = _define(
    "complaints", "case_rated", "The reporter rated the result; a poor rating reopens the task.",
    _CASE + ("score", "satisfied", "reopen", "comment"),
    dict(_case_sample, score=2, satisfied=False, reopen=True, comment="Still smells"),
)
CASE_CLOSED = _define(
    "complaints", "case_closed", "The case is closed for good (办结).",
    _CASE + ("founded", "satisfied"),
    dict(_case_sample, founded=True, satisfied=True),
)

_acceptance = ("received_at", "accept_due", "accept_deadline")
_acceptance_sample = dict(_case_sample, received_at="2026-11-23T01:00:00+00:00",
                          accept_due="2026-12-14", accept_deadline="2026-12-14T09:30:00+00:00")
CASE_ACCEPT_WARNING = _define(
    "complaints", "case_accept_warning",
    "Acceptance warning (受理预警): the case is neither accepted nor declined and most of its "
    "acceptance limit has passed (``intake.accept_warn_at_fraction``). No complainant data.",
    _CASE + _acceptance, dict(_acceptance_sample),
)
CASE_ACCEPT_OVERDUE = _define(
    "complaints", "case_accept_overdue",
    "Acceptance overdue (受理超期): the acceptance limit lapsed with the case still undecided. "
    "No complainant data.",
    _CASE + _acceptance, dict(_acceptance_sample),
)

# --- dispatch -------------------------------------------------------------------------------
_assignee = {"id": "u-gw-0001", "name": "刘建华", "role": "grid_worker"}
TASK_ASSIGNED = _define(
    "dispatch", "task_assigned", "A task was created and assigned (任务派遣) with a deadline.",
    _TASK + ("assignee", "unit", "deadline", "warn_at", "routed_by", "channel"),
    dict(_task_sample, assignee=_assignee, unit="芦溪县宣风镇网格",
         deadline="2026-12-04T09:00:00+00:00", warn_at="2026-12-02T09:00:00+00:00",
         routed_by="grid_code", channel="hotline"),
)
TASK_REASSIGNED = _define(
    "dispatch", "task_reassigned", "A dispatcher reassigned the task.",
    _TASK + ("assignee", "previous_assignee", "reason", "deadline"),
    dict(_task_sample, assignee=_assignee, previous_assignee={"id": "u-gw-0002"},
         reason="Wrong township", deadline="2026-12-04T09:00:00+00:00"),
)
TASK_RETURNED = _define(
    "dispatch", "task_returned", "The assignee sent a wrongly routed task back (退回).",
    _TASK + ("reason",),
    dict(_task_sample, reason="Not in my grid"),
)
TASK_CLOSED = _define(
    "dispatch", "task_closed", "The assignee recorded the result and closed the task.",
    _TASK + ("result", "founded", "closed_at", "on_time"),
    dict(_task_sample, result="Odour source sealed", founded=True,
         closed_at="2026-11-30T08:00:00+00:00", on_time=True),
)
TASK_VERIFIED = _define(
    "dispatch", "task_verified", "A supervisor verified and signed the task off (销号).",
    _TASK + ("result", "founded", "closed_at", "on_time", "verified_at"),
    dict(_task_sample, result="Odour source sealed", founded=True,
         closed_at="2026-11-30T08:00:00+00:00", on_time=True,
         verified_at="2026-12-01T08:00:00+00:00"),
)
TASK_SENT_BACK = _define(
    "dispatch", "task_sent_back", "Verification failed; the task goes back to the assignee.",
    _TASK + ("assignee", "note"),
    dict(_task_sample, assignee=_assignee, note="Photo evidence missing"),
)
TASK_WARNING = _define(
    "dispatch", "task_warning", "Overdue warning (逾期预警) before the deadline.",
    _TASK + ("assignee", "deadline"),
    dict(_task_sample, assignee=_assignee, deadline="2026-12-04T09:00:00+00:00"),
)
TASK_ESCALATED = _define(
    "dispatch", "task_escalated", "The task is overdue and climbed one rung of the ladder.",
    _TASK + ("rung", "rung_name", "to_grid_code", "deadline"),
    dict(_task_sample, rung=1, rung_name="listed_supervision", to_grid_code="360323",
         deadline="2026-12-04T09:00:00+00:00"),
)
TASK_EXTENDED = _define(
    "dispatch", "task_extended", "A supervisor approved an extension (延期); new deadline.",
    _TASK + ("deadline", "previous_deadline", "reason", "has_complainant"),
    dict(_task_sample, deadline="2027-01-04T09:00:00+00:00",
         previous_deadline="2026-12-04T09:00:00+00:00", reason="Lab results pending",
         has_complainant=True),
)
TASK_REOPENED = _define(
    "dispatch", "task_reopened", "A poor rating or a rebound reopened signed-off work.",
    _TASK + ("assignee", "reason", "deadline"),
    dict(_task_sample, assignee=_assignee, reason="poor_rating",
         deadline="2026-12-10T09:00:00+00:00"),
)
TASK_ACKNOWLEDGED = _define(
    "dispatch", "task_acknowledged", "The assignee acknowledged the task (签收) and works on it.",
    _TASK + ("assignee", "deadline"),
    dict(_task_sample, assignee=_assignee, deadline="2026-12-04T09:00:00+00:00"),
)
TASK_EXTENSION_REQUESTED = _define(
    "dispatch", "task_extension_requested",
    "The assignee asked for an extension (延期申请) with a reason; a supervisor decides.",
    _TASK + ("days", "reason", "deadline"),
    dict(_task_sample, days=10, reason="Lab results pending",
         deadline="2026-12-04T09:00:00+00:00"),
)
TASK_EXTENSION_REFUSED = _define(
    "dispatch", "task_extension_refused",
    "A supervisor refused an extension request; the deadline stands.",
    _TASK + ("assignee", "days", "reason", "note", "deadline"),
    dict(_task_sample, assignee=_assignee, days=10, reason="Lab results pending",
         note="The lab answers within the limit", deadline="2026-12-04T09:00:00+00:00"),
)
TASK_RECHECKED = _define(
    "dispatch", "task_rechecked",
    "A supervisor re-checked signed-off work (防止反弹): outcome ``held``, or ``rebound``, which "
    "also reopens the task (task_reopened, reason rebound).",
    _TASK + ("outcome", "note", "verified_at"),
    dict(_task_sample, outcome="rebound", note="Odour back at night",
         verified_at="2026-12-01T08:00:00+00:00"),
)


# --- dispatch: cross-region joint enforcement (左右联动) ------------------------------------------
CASE_SHARED = _define(
    "dispatch", "case_shared",
    "A case was shared with a partner of a linkage agreement (信息共享): near a shared border, "
    "or on a river of the agreement. No complainant data.",
    _TASK + ("partner_region", "agreement_id", "reason"),
    dict(_task_sample, partner_region="360313", agreement_id="PX-COUNTIES", reason="border"),
)
_transfer = ("transfer_id", "agreement_id", "kind", "from_region", "to_region")
_transfer_sample = dict(_task_sample, transfer_id="X-3c1d2e4f5a6b", agreement_id="PX-COUNTIES",
                        kind="transfer", from_region="360323", to_region="360313")
JOINT_TRANSFER_REQUESTED = _define(
    "dispatch", "joint_transfer_requested",
    "The handling county transfers a case (案件移交) to a partner, or asks it for help "
    "(协助调查取证), to be answered by ``due``.",
    _TASK + _transfer + ("reason", "due"),
    dict(_transfer_sample, reason="The source is on the other side of the border",
         due="2026-11-30T09:30:00+00:00"),
)
JOINT_TRANSFER_ANSWERED = _define(
    "dispatch", "joint_transfer_answered",
    "The receiving party accepted or refused (with a reason) a transfer or help request; the "
    "sender is told. An accepted transfer also moves the task (task_reassigned).",
    _TASK + _transfer + ("state", "reason", "on_time", "requested_at"),
    dict(_transfer_sample, state="refused", reason="Not within our jurisdiction",
         on_time=True, requested_at="2026-11-23T01:30:00+00:00"),
)
JOINT_TRANSFER_EXPIRED = _define(
    "dispatch", "joint_transfer_expired",
    "A transfer or help request lapsed unanswered (逾期未答复); the case stays with the sender.",
    _TASK + _transfer,
    dict(_transfer_sample),
)
_meeting = ("agreement_id", "meeting_id", "kind", "region_code", "host_region", "date")
_meeting_sample = {"agreement_id": "PX-COUNTIES", "meeting_id": 12, "kind": "regular",
                   "region_code": "360313", "host_region": "360313", "date": "2026-12-15"}
JOINT_CONSULTATION_SCHEDULED = _define(
    "dispatch", "joint_consultation_scheduled",
    "A consultation (会商) was scheduled: a regular one by the host of its term, or one at a "
    "party's request (``requested_by``), chaired by the host; the agenda comes from the shared "
    "cases.",
    _meeting + ("requested_by", "agenda_items", "parties"),
    dict(_meeting_sample, requested_by=None, agenda_items=3, parties=["360313", "360323"]),
)
JOINT_CONSULTATION_HELD = _define(
    "dispatch", "joint_consultation_held",
    "The host recorded a consultation as held, with minutes and the attending parties "
    "(``held_at``: the meeting day; ``attendees``: party codes, the host included).",
    _meeting + ("held_at", "attendees"),
    dict(_meeting_sample, held_at="2026-12-15T12:00:00+08:00", attendees=["360313", "360323"]),
)
_operation = ("agreement_id", "operation_id", "region_code", "lead_region", "date", "parties")
_operation_sample = {"agreement_id": "PX-COUNTIES", "operation_id": 7, "region_code": "360313",
                     "lead_region": "360313", "date": "2026-12-10",
                     "parties": ["360313", "360323"]}
JOINT_OPERATION_PLANNED = _define(
    "dispatch", "joint_operation_planned",
    "The host of the term planned a joint operation (联合执法) with officers of several parties, "
    "each with their own region.",
    _operation + ("officers",),
    dict(_operation_sample, officers=[{"id": "enforcement-360313", "region_code": "360313"},
                                      {"id": "enforcement-360323", "region_code": "360323"}]),
)
JOINT_OPERATION_DONE = _define(
    "dispatch", "joint_operation_done",
    "The lead reported a joint operation carried out (``held_at``: its day; ``findings``: the "
    "cases found in it).",
    _operation + ("held_at", "findings"),
    dict(_operation_sample, held_at="2026-12-10T12:00:00+08:00", findings=1),
)
JOINT_CASE_FOUND = _define(
    "dispatch", "joint_case_found",
    "An officer found a case in a joint operation or cross inspection (交叉执法); it is credited "
    "to the region where it was found (``region_code``), whatever the officer's own region.",
    ("agreement_id", "operation_id", "case_no", "region_code", "officer_id", "officer_region"),
    {"agreement_id": "PX-COUNTIES", "operation_id": 7, "case_no": "360323-20261210-0003",
     "region_code": "360323", "officer_id": "enforcement-360313", "officer_region": "360313"},
)
JOINT_CASE_CLOSED = _define(
    "dispatch", "joint_case_closed",
    "A case shared under an agreement was signed off (销号): a shared case closed, for the "
    "linkage evaluation (one per agreement it is shared under).",
    _TASK + ("agreement_id", "partners", "closed_at"),
    dict(_task_sample, agreement_id="PX-COUNTIES", partners=["360313"],
         closed_at="2026-12-01T08:00:00+00:00"),
)

# --- the grid registry, without people ---------------------------------------------------------
REGISTRY_PUBLISHED = _define(
    "dispatch", "registry_published",
    "One county of a registry version (网格台账): its size and its grids' sizes and positions, "
    "so other services can normalise and find neighbours without reading dispatch's tables. "
    "One event per county; ``region_count`` events make the version complete. No people.",
    ("version", "region_code", "region_count", "name", "level", "population", "grid_cells",
     "ancestors", "grids"),
    dict(version=3, region_code="360323", region_count=8, name="芦溪县", level="county",
         population=264000, grid_cells=7,
         ancestors=[{"code": "360300", "name": "萍乡市", "level": "city", "population": None}],
         grids=[{"code": "360323100001", "name": "新屋村", "level": "village",
                 "parent_code": "360323100", "population": 3581, "cells": 1,
                 "centroid": [114.03, 27.63]}]),
)

# --- patrols (巡查记录) ---------------------------------------------------------------------------
PATROL_RECORDED = _define(
    "dispatch", "patrol_recorded",
    "A grid worker or chief recorded a patrol walk of their grid (巡查记录): ranking counts it "
    "on the day it was walked (``started_at``, local time) for the problem-discovery rate; "
    "``case_nos``: the patrol reports they filed during it.",
    ("patrol_id", "region_code", "grid_code", "worker_id", "started_at", "ended_at", "minutes",
     "case_nos"),
    {"patrol_id": "P-3e1f0a9c", "region_code": "360323", "grid_code": "360323100001",
     "worker_id": "w-360323100001-1", "started_at": "2026-11-23T01:00:00+00:00",
     "ended_at": "2026-11-23T02:30:00+00:00", "minutes": 90,
     "case_nos": ["360323-20261123-0002"]},
)

# --- ranking --------------------------------------------------------------------------------
BULLETIN_PUBLISHED = _define(
    "ranking", "bulletin_published",
    "A bulletin (日汇总 / 周调度 / 月通报) was rendered when its period closed and archived. "
    "No personal data.",
    ("bulletin_id", "kind", "period", "scope", "title", "published_at", "figures"),
    dict(bulletin_id="monthly-2026-11-360300", kind="monthly", period="2026-11",
         scope="360300", title="萍乡市网格化环境监管工作月通报 2026-11",
         published_at="2026-12-02T01:00:00+00:00",
         figures={"received": 448, "closed": 430, "red_cards": 1, "yellow_cards": 2}),
)


def envelope(event_type: str, data: dict, *, actor: dict | None, now: datetime,
             event_id: str | None = None) -> dict:
    """Build a full event payload. Unknown types or missing fields are programming errors."""
    spec = CATALOGUE[event_type]
    missing = [f for f in spec.fields if f not in data]
    if missing:
        raise ValueError(f"{event_type} missing fields: {missing}")
    payload = dict(data)
    payload.update(
        event_id=event_id or str(uuid.uuid4()),
        event_type=event_type,
        occurred_at=now.astimezone(timezone.utc).isoformat(),
        source=spec.source,
        actor=actor,
    )
    return payload


def sample_payload(event_type: str) -> dict:
    """A complete example payload, used by template and documentation tests."""
    return envelope(event_type, CATALOGUE[event_type].sample,
                    actor={"id": "u-demo", "role": "dispatcher"},
                    now=datetime(2026, 11, 23, 1, 0, tzinfo=timezone.utc),
                    event_id="00000000-0000-0000-0000-000000000000")
