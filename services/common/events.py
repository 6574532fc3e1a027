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
             "has_complainant", "anonymous", "accept_due"),
    dict(_case_sample, description="Strong odour near the chemical plant at night",
         address="芦溪县宣风镇", lat=27.63, lon=114.03, enterprise="萍乡某化工有限公司",
         received_at="2026-11-23T01:00:00+00:00", has_complainant=True, anonymous=False,
         accept_due="2026-12-14"),
)
CASE_ACCEPTED = _define(
    "complaints", "case_accepted", "Intake accepted the case (受理); dispatch assigns it.",
    _CASE + ("description", "address", "lat", "lon", "enterprise", "accepted_at",
             "has_complainant", "incident", "reported_by"),
    dict(_case_sample, description="Strong odour near the chemical plant at night",
         address="芦溪县宣风镇", lat=27.63, lon=114.03, enterprise="萍乡某化工有限公司",
         accepted_at="2026-11-23T01:05:00+00:00", has_complainant=True, incident=None,
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
    "complaints", "case_referred", "The case was referred (转办) to the region where it happened.",
    _CASE + ("from_region", "to_region", "reason", "has_complainant"),
    dict(_case_sample, from_region="360323", to_region="360313", reason="Location in 湘东区",
         has_complainant=True),
)
CASE_FEEDBACK = _define(
    "complaints", "case_feedback",
    "The verified result was fed back to the case; the reporter is asked to rate it.",
    _CASE + ("result", "founded", "has_complainant", "rating_token", "reported_by"),
    dict(_case_sample, result="Odour source sealed, enterprise fined", founded=True,
         has_complainant=True, rating_token="r-5b1e2c", reported_by=None),
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

# --- dispatch -------------------------------------------------------------------------------
_assignee = {"id": "u-gw-0001", "name": "刘建华", "role": "grid_worker"}
TASK_ASSIGNED = _define(
    "dispatch", "task_assigned", "A task was created and assigned (任务派遣) with a deadline.",
    _TASK + ("assignee", "unit", "deadline", "warn_at", "routed_by"),
    dict(_task_sample, assignee=_assignee, unit="芦溪县宣风镇网格",
         deadline="2026-12-04T09:00:00+00:00", warn_at="2026-12-02T09:00:00+00:00",
         routed_by="grid_code"),
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
    _TASK + _transfer + ("state", "reason", "on_time"),
    dict(_transfer_sample, state="refused", reason="Not within our jurisdiction",
         on_time=True),
)
JOINT_TRANSFER_EXPIRED = _define(
    "dispatch", "joint_transfer_expired",
    "A transfer or help request lapsed unanswered (逾期未答复); the case stays with the sender.",
    _TASK + _transfer,
    dict(_transfer_sample),
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
