"""Tables of the dispatch service (派遣): the grid registry, tasks, their history, extensions."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, Text, \
    UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.common.db import BigId, UTCDateTime


class Base(DeclarativeBase):
    pass


class GridNode(Base):
    """A grid (网格) at any level, with its boundary and its named people."""

    __tablename__ = "grid_node"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    parent_code: Mapped[str | None] = mapped_column(String(32), index=True)
    boundary: Mapped[dict | None] = mapped_column(JSON)
    chief: Mapped[dict | None] = mapped_column(JSON)
    workers: Mapped[list] = mapped_column(JSON, default=list)
    population: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)


class RegistryVersion(Base):
    """Bumped on every import so that each dispatch instance reloads its in-memory index."""

    __tablename__ = "registry_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    # The version last announced to other services (registry_published events).
    published_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Task(Base):
    """A task (任务): a case made somebody's job, with a deadline (限时办结)."""

    __tablename__ = "task"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), unique=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    grid_code: Mapped[str | None] = mapped_column(String(32), index=True)
    category: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), index=True)
    assignee: Mapped[dict] = mapped_column(JSON)
    unit: Mapped[str | None] = mapped_column(String(120))
    routed_by: Mapped[str] = mapped_column(String(16))
    has_complainant: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(300))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    warn_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deadline_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    warned: Mapped[bool] = mapped_column(Boolean, default=False)
    rung: Mapped[int] = mapped_column(Integer, default=0)
    # The next moment the sweep must look at this task; NULL when nothing is pending.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    extensions: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str | None] = mapped_column(Text)
    founded: Mapped[bool | None] = mapped_column(Boolean)
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    history: Mapped[list["TaskHistory"]] = relationship(back_populates="task",
                                                        order_by="TaskHistory.id")


class TaskHistory(Base):
    __tablename__ = "task_history"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("task.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(32))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    task: Mapped[Task] = relationship(back_populates="history")


class ExtensionRequest(Base):
    """An extension request (延期申请), decided by a supervisor."""

    __tablename__ = "extension_request"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("task.id"), index=True)
    days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    requested_by: Mapped[str | None] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# --- cross-region joint enforcement (左右联动) ----------------------------------------------------
class JointAgreement(Base):
    """An enforcement linkage agreement (环境执法联动协议); ``data`` is ``joint.Agreement`` as a
    dict (the shape of ``infra/demo/joint_pingxiang.yaml``)."""

    __tablename__ = "joint_agreement"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JointSwap(Base):
    """A recorded exchange of two host terms (轮值调换)."""

    __tablename__ = "joint_swap"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("joint_agreement.id"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    a: Mapped[str] = mapped_column(String(12))
    b: Mapped[str] = mapped_column(String(12))
    recorded_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SharedCase(Base):
    """A case shared with a partner of an agreement (信息共享): near a border, on a river, or
    offered in a transfer. One row per agreement, case and partner."""

    __tablename__ = "joint_shared_case"
    __table_args__ = (UniqueConstraint("agreement_id", "case_no", "partner_region",
                                       name="uq_joint_shared_case"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("joint_agreement.id"), index=True)
    case_no: Mapped[str] = mapped_column(String(32), index=True)
    task_id: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str] = mapped_column(String(12))  # the handling region when shared
    partner_region: Mapped[str] = mapped_column(String(12), index=True)
    reason: Mapped[str] = mapped_column(String(16))  # border | river | transfer
    shared_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JointTransfer(Base):
    """A case transfer (案件移交) or help request (协助调查取证): ``joint.Transfer`` stored.
    ``reason`` is the sender's, ``answer_reason`` the receiver's (required on refusal)."""

    __tablename__ = "joint_transfer"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("joint_agreement.id"), index=True)
    case_no: Mapped[str] = mapped_column(String(32), index=True)
    task_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    from_region: Mapped[str] = mapped_column(String(12), index=True)
    to_region: Mapped[str] = mapped_column(String(12), index=True)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(12), index=True)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_by: Mapped[str | None] = mapped_column(String(64))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answer_reason: Mapped[str | None] = mapped_column(Text)


class JointOperation(Base):
    """A joint operation (联合执法) or cross inspection (交叉执法), led by the host of its term
    (``host_region``): the officers, each with their own region, planned then reported done."""

    __tablename__ = "joint_operation"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("joint_agreement.id"), index=True)
    date: Mapped[date] = mapped_column(Date)
    host_region: Mapped[str] = mapped_column(String(12))  # the lead: the term's host
    title: Mapped[str] = mapped_column(String(200), server_default="")
    officers: Mapped[list] = mapped_column(JSON, default=list)  # [{id, name, role, region_code}]
    state: Mapped[str] = mapped_column(String(12), server_default="planned")  # planned | done
    planned_by: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JointFinding(Base):
    """A case found in a joint operation: credited to the region where it was found (交叉执法
    的案件计入属地), with the finding officer and their own region."""

    __tablename__ = "joint_finding"
    __table_args__ = (UniqueConstraint("operation_id", "case_no", name="uq_joint_finding"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    operation_id: Mapped[int] = mapped_column(ForeignKey("joint_operation.id"), index=True)
    agreement_id: Mapped[str] = mapped_column(String(64))
    case_no: Mapped[str] = mapped_column(String(32), index=True)
    region_code: Mapped[str] = mapped_column(String(12))  # where found = credited
    officer_id: Mapped[str | None] = mapped_column(String(64))
    officer_region: Mapped[str] = mapped_column(String(12))
    found_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JointMeeting(Base):
    """A joint consultation (会商): regular (chaired by the host of its term) or at a party's
    request; planned, then recorded as held with minutes and attendees by party."""

    __tablename__ = "joint_meeting"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("joint_agreement.id"), index=True)
    date: Mapped[date] = mapped_column(Date)
    host_region: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(16), default="regular")
    requested_by: Mapped[str | None] = mapped_column(String(12))  # the requesting party
    topic: Mapped[str | None] = mapped_column(Text)
    agenda: Mapped[list] = mapped_column(JSON, default=list)  # frozen when held
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    attendees: Mapped[list] = mapped_column(JSON, default=list)  # [{region_code, names}]
    minutes: Mapped[str | None] = mapped_column(Text)
    scheduled_by: Mapped[str | None] = mapped_column(String(64))
    held_recorded_by: Mapped[str | None] = mapped_column(String(64))
    held_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JointCaseClosure(Base):
    """A shared case signed off (销号) under an agreement: what the evaluation counts as a
    shared case closed, and the ``joint_case_closed`` event ranking counts."""

    __tablename__ = "joint_case_closure"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("joint_agreement.id"), index=True)
    case_no: Mapped[str] = mapped_column(String(32), index=True)
    task_id: Mapped[str] = mapped_column(String(32))
    region_code: Mapped[str] = mapped_column(String(12))  # the region that signed it off
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class CrossRegionAccess(Base):
    """Every read of a record by someone outside its region (跨区域查阅记录): who, from where,
    which record of which region, what, when."""

    __tablename__ = "joint_access_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(64))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    actor_region: Mapped[str | None] = mapped_column(String(12))
    case_no: Mapped[str] = mapped_column(String(32), index=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    action: Mapped[str] = mapped_column(String(32))


class Patrol(Base):
    """A patrol walk (巡查记录) of a grid by one of its workers or its chief."""

    __tablename__ = "patrol"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(12), index=True)
    grid_code: Mapped[str] = mapped_column(String(32), index=True)
    worker_id: Mapped[str] = mapped_column(String(64), index=True)
    worker_role: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)
    case_nos: Mapped[list] = mapped_column(JSON, default=list)
    # "<account>:<client key>": a retried post records one patrol.
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
