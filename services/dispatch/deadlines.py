"""Time limits (限时办结), warnings (逾期预警), the escalation ladder and extensions (延期).

Pure functions over the region's policy dict (``Policy.for_region(code)``): nothing here reads
the clock; every function takes the instant it reasons about.

A time limit is one of
  ``{hours: h}``         calendar hours from the start (urgent work);
  ``{days: d}``          end of day (``end_of_day``) on the local date d calendar days later;
  ``{working_days: n}``  end of day on the n-th Chinese working day after the start's local date
                         (``services.common.workdays.add_working_days``).
Optional policy keys, with defaults: ``time_limits.end_of_day`` ("17:30"), ``timezone``
("Asia/Shanghai").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import NamedTuple

from services.common import workdays
from services.common.errors import ValidationError
from services.common.workdays import as_utc

UNITS = ("hours", "days", "working_days")


@dataclass(frozen=True)
class Deadline:
    """When a task is due, when its assignee is warned, and whether the calendar was guessed."""

    due: datetime
    warn_at: datetime
    estimated: bool = False


class Rung(NamedTuple):
    """One step of the escalation ladder (督办阶梯) and the instant it fires."""

    rung: int
    name: str
    zh: str
    at: datetime


@dataclass(frozen=True)
class Action:
    """An event the sweep must emit now: ``kind`` is ``warning`` or ``escalation``."""

    kind: str
    at: datetime
    rung: int = 0
    name: str = ""
    zh: str = ""


@dataclass
class TaskState:
    """What the sweep knows about a task's clock (the columns of the task row)."""

    due: datetime
    warn_at: datetime
    warned: bool = False
    rung: int = 0
    schedule: list[Rung] = field(default_factory=list)

    @classmethod
    def from_policy(cls, policy: dict, due: datetime, warn_at: datetime, warned: bool = False,
                    rung: int = 0) -> "TaskState":
        return cls(due, warn_at, warned, rung, escalation_schedule(policy, due))


@dataclass(frozen=True)
class Decision:
    """The sweep's verdict: events to emit in order, the task's new flags, when to look again."""

    actions: list[Action]
    warned: bool
    rung: int
    next_check_at: datetime | None


# --- limits -----------------------------------------------------------------------------------
def _tz(policy: dict) -> str:
    return policy.get("timezone") or workdays.DEFAULT_TZ


def _end_of_day(policy: dict):
    return (policy.get("time_limits") or {}).get("end_of_day") or workdays.DEFAULT_END_OF_DAY


def _check_limit(limit, where: str) -> dict:
    if not isinstance(limit, dict) or len(limit) != 1 or next(iter(limit)) not in UNITS:
        raise ValueError(f"policy {where}: a limit is one of {UNITS}, not {limit!r}")
    unit, amount = next(iter(limit.items()))
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or amount < 0 or (
            unit != "hours" and not float(amount).is_integer()):
        raise ValueError(f"policy {where}: bad amount {amount!r}")
    return {unit: int(amount) if unit != "hours" else amount}


def time_limit(policy: dict, category: str, priority: str) -> dict:
    """The limit for a category and priority, e.g. ``{"hours": 24}`` or ``{"working_days": 15}``.

    ``time_limits.by_category`` overrides ``default``; a category ``air.odour`` also takes an
    override written for its family ``air``, the exact code winning.
    """
    if policy.get("categories") and category not in policy["categories"]:
        raise ValidationError(f"unknown category {category!r}", code="unknown_category",
                              field="category")
    limits = policy.get("time_limits") or {}
    default = limits.get("default") or {}
    if priority not in default and priority not in (policy.get("priorities") or ()):
        raise ValidationError(f"unknown priority {priority!r}", code="unknown_priority",
                              field="priority")
    by_category = limits.get("by_category") or {}
    for key in (category, (category or "").split(".")[0]):
        override = (by_category.get(key) or {}).get(priority)
        if override is not None:
            return _check_limit(override, f"time_limits.by_category.{key}.{priority}")
    if priority not in default:
        raise ValueError(f"policy time_limits.default has no {priority!r}")
    return _check_limit(default[priority], f"time_limits.default.{priority}")


def add_limit(policy: dict, start: datetime, limit: dict) -> datetime:
    """``start`` plus a limit (see the module docstring), tz-aware UTC."""
    unit, amount = next(iter(_check_limit(limit, "limit").items()))
    start = as_utc(start)
    if unit == "hours":
        return start + timedelta(hours=amount)
    if unit == "working_days":
        return workdays.add_working_days(start, amount, _tz(policy),
                                         end_of_day=_end_of_day(policy))
    zone = workdays.zone_of(_tz(policy))
    day = start.astimezone(zone).date() + timedelta(days=amount)
    end = workdays.end_of_day_time(_end_of_day(policy))
    return datetime.combine(day, end, tzinfo=zone).astimezone(timezone.utc)


def _estimated(policy: dict, start: datetime, due: datetime, limit: dict) -> bool:
    if "working_days" not in limit:
        return False
    zone = workdays.zone_of(_tz(policy))
    return not workdays.span_covered(start.astimezone(zone).date(), due.astimezone(zone).date())


def compute_deadline(policy: dict, category: str, priority: str, start: datetime) -> Deadline:
    """Due date and warning time for a task started (assigned) at ``start``.

    ``warn_at`` is ``warn_at_fraction`` (default 0.8) of the way from ``start`` to ``due``;
    ``estimated`` is True when working days were counted through a year whose holidays are not
    known yet.
    """
    limit = time_limit(policy, category, priority)
    start = as_utc(start)
    due = add_limit(policy, start, limit)
    fraction = (policy.get("time_limits") or {}).get("warn_at_fraction", 0.8)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
            0 < fraction <= 1):
        raise ValueError(f"policy time_limits.warn_at_fraction must be in (0, 1], not {fraction!r}")
    # Whole seconds: the instant is shown to people and stored in several databases.
    warn_at = (start + (due - start) * fraction).replace(microsecond=0)
    return Deadline(due=due, warn_at=max(warn_at, start), estimated=_estimated(
        policy, start, due, limit))


# --- escalation -------------------------------------------------------------------------------
def escalation_schedule(policy: dict, due: datetime) -> list[Rung]:
    """The ladder after ``due``: ``[(rung, name, zh, at), ...]`` in rung order.

    Each rung's ``after`` is a limit counted from ``due``; rungs must be numbered upwards and
    must not fire before the rung below them.
    """
    return Ladder(policy).at(due)


class Ladder:
    """One policy's escalation ladder (督办阶梯), read and checked once, for many due times.

    A rung counted in days or working days fires at the end of a day that depends only on the
    due time's local date, so its instant is kept per date: a sweep of hundreds of tasks due
    on a few dates counts working days a few times, not once per task and rung."""

    def __init__(self, policy: dict):
        self.policy = policy
        self._zone = workdays.zone_of(_tz(policy))
        self._steps: list[tuple[int, str, str, dict]] = []
        for i, step in enumerate(policy.get("escalation") or []):
            try:
                rung, name = int(step["rung"]), str(step["name"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(f"policy escalation[{i}] needs rung and name") from None
            limit = _check_limit(step.get("after") or {"hours": 0}, f"escalation[{i}].after")
            self._steps.append((rung, name, str(step.get("zh", "")), limit))
        self._by_date: dict = {}

    def at(self, due: datetime) -> list[Rung]:
        """The ladder after ``due`` (see ``escalation_schedule``)."""
        due = as_utc(due)
        day = None
        out: list[Rung] = []
        for i, (rung, name, zh, limit) in enumerate(self._steps):
            if "hours" in limit:
                at = due + timedelta(hours=limit["hours"])
            else:
                day = day or due.astimezone(self._zone).date()
                key = (day, i)
                if key not in self._by_date:
                    self._by_date[key] = add_limit(self.policy, due, limit)
                at = self._by_date[key]
            if out and (rung <= out[-1].rung or at < out[-1].at):
                raise ValueError(f"policy escalation[{i}]: rungs must rise and fire in order")
            out.append(Rung(rung, name, zh, at))
        return out


def next_actions(task_state: TaskState, now: datetime) -> Decision:
    """What the deadline sweep must do for one open task at ``now``.

    * The warning (逾期预警) fires once, when ``warn_at`` has passed and the task is not yet due.
      A task first seen after its due time is marked warned without a warning: the first rung
      says more.
    * Each rung above the task's current one whose time has passed fires once, in rung order,
      so a task far overdue gets every missed rung in one sweep.
    * ``next_check_at`` is the warning time while unwarned, else the next pending rung, else
      None (nothing left to do).
    """
    now = as_utc(now)
    due, warn_at = as_utc(task_state.due), as_utc(task_state.warn_at)
    actions: list[Action] = []
    warned, rung = task_state.warned, task_state.rung
    if not warned and now >= warn_at:
        warned = True
        if now < due:
            actions.append(Action("warning", warn_at))
    for step in sorted(task_state.schedule, key=lambda r: r.rung):
        if step.rung > rung and now >= as_utc(step.at):
            actions.append(Action("escalation", as_utc(step.at), step.rung, step.name, step.zh))
            rung = step.rung
    if not warned:
        next_check = warn_at
    else:
        pending = [as_utc(s.at) for s in task_state.schedule if s.rung > rung]
        next_check = min(pending) if pending else None
    return Decision(actions, warned, rung, next_check)


# --- extensions -------------------------------------------------------------------------------
def extend(policy: dict, due: datetime, days, reason: str, count_so_far: int) -> datetime:
    """The new due date after an approved extension (延期) of ``days``.

    ``extension.max_count`` extensions per task, each of at most ``extension.max_days``
    (national rule: one, 30 days). Days are calendar days unless ``extension.unit`` is
    ``working_days``; a calendar extension keeps the time of day of the old due date.
    """
    rules = policy.get("extension") or {}
    max_count, max_days = int(rules.get("max_count", 1)), int(rules.get("max_days", 30))
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError("a reason is required", code="missing_field", field="reason")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= max_days:
        raise ValidationError(f"days must be 1..{max_days}", code="out_of_range", field="days")
    if count_so_far >= max_count:
        raise ValidationError(f"at most {max_count} extension(s) per task",
                              code="extension_limit", field="days")
    due = as_utc(due)
    if rules.get("unit", "days") == "working_days":
        return add_limit(policy, due, {"working_days": days})
    return due + timedelta(days=days)
