"""Ranking's read model (考核统计): per (scope, period) counters folded from events. Pure.

Scopes and periods
------------------
Every counted event lands in up to 4 scopes × 3 periods:

* scopes: the county ``360323``, its city ``360300`` and province ``360000`` (rolled up), and
  the grid ``grid:360323100001`` (prefixed so region queries can skip grids);
* periods: day ``2026-11-23``, ISO week ``2026-W48``, month ``2026-11``, cut in local time
  (``Counters.tz``, Beijing by default) from the event's *business* timestamp (``received_at``,
  ``accepted_at``, ``verified_at``, ``started_at``) and otherwise its ``occurred_at``, so a
  patrol uploaded a day late still counts on the day it was walked.

State (``Counters``) and its JSON form
--------------------------------------
``Counters.buckets``: ``{(scope, period): {name: int}}`` — flat integer counters only, so adding
two of them is element-wise addition (``merge_counts``), the form the service keeps in its
``counter_set.data`` rows. Names (absent = 0)::

    received  received_by_channel:<ch>  received_by_category:<cat>   case_received (登记)
    merged                                                            case_merged (重复举报)
    accepted  declined  assigned                                      受理 / 不予受理 / 派遣
    assigned_by_channel:<ch>                                          派遣, by the case's channel
    closed  closed_on_time  closed_late                               task_verified (销号)
    overdue   escalations  escalated_rung:<n>  warnings               逾期 / 升级督办 / 预警
    rated  satisfied                                                  case_rated
    patrols  patrol_minutes                                           patrol_recorded (巡查)
    transfers_received  transfers_answered  transfers_on_time         joint_transfer_* (移交)
    consultations_held  consultations_attended                        joint_consultation_held
    joint_operations  shared_cases_closed              joint_operation_done, joint_case_closed
    ttc_n  ttc_milli  ttc_hist:<bin>                                  time to close, see below

``Counters.cases``: ``{case_no: {"acc": iso|None, "ver": [[verified_at, region, grid], ...]}}``
— the only per-case state, kept because time to close joins two events (acceptance and sign-off)
that may arrive in either order or in different replay chunks.

JSON (``to_json``)::

    {"v": 1, "tz": "Asia/Shanghai",
     "buckets": {"360323|2026-11": {"received": 12, "received_by_channel:hotline": 7, ...}},
     "cases": {"360323-20261123-0001": {"acc": "2026-11-23T01:05:00+00:00",
                                        "ver": [["2026-12-01T08:00:00+00:00", "360323",
                                                 "360323100001"]]}}}

Time to close (办结用时)
-----------------------
Working days (``services.common.workdays.working_days_between``) from the case's earliest
acceptance to each sign-off of one of its tasks, counted in the sign-off's buckets. A reopened
case signed off twice gives two samples, as it gives two ``closed``. Stored in integer
thousandths of a working day (``ttc_milli``) so sums do not depend on addition order, plus a
histogram of 0.1-working-day bins (``ttc_hist:<bin>``, bin = floor(days / 0.1)): a bounded,
mergeable digest that also allows exact removal. p90 is read from it by nearest rank and
reported as the upper edge of its bin, i.e. exact to 0.1 working day, never under-stated.

Order tolerance and merging
---------------------------
Every counter except time to close comes from one event alone, so order cannot matter. Time to
close is a function of the case's track (earliest acceptance, set of sign-offs); whenever a track
changes (acceptance after sign-off, an earlier acceptance, two chunks' tracks merged) the old
contribution is subtracted and the new one added. Hence any split and order of the same events
gives the same buckets (tested with hypothesis). Event ids are not recorded: dedup is the
service's job (a duplicate delivered twice would count twice).

Incremental use by the service: make a ``Counters`` whose ``cases`` hold the stored tracks of the
batch's case numbers and whose ``buckets`` are empty, ``apply`` the batch, then add each bucket
(a delta, possibly negative) to its stored row with ``merge_counts`` and write the tracks back.
"""
from __future__ import annotations

import copy
import functools
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from services.common.workdays import DEFAULT_TZ, as_utc, working_days_between

CONFIG_FILE = Path(__file__).resolve().parents[2] / "infra" / "config" / "ranking.yaml"

MILLI = 1000          # time to close is stored in thousandths of a working day
BIN_MILLI = 100       # histogram bin width: 0.1 working day
# The first rung of the escalation ladder fires at the deadline itself (policy.yaml
# `escalation`, rung 1 after 0 hours), so a rung-1 escalation is the moment a task went overdue.
OVERDUE_RUNG = 1

Key = tuple[str, str]


_PARSED: dict[str, tuple[tuple, dict]] = {}


def load_config(path: str | os.PathLike | None = None) -> dict:
    """``infra/config/ranking.yaml`` (or ``ENVGRID_RANKING_CONFIG``) as a dict (a copy the
    caller may change). Parsed again only when the file changes: the projector asks on every
    batch, and parsing YAML was a third of ranking's time under load."""
    path = Path(path or os.environ.get("ENVGRID_RANKING_CONFIG", CONFIG_FILE))
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    known = _PARSED.get(str(path))
    if known is None or known[0] != version:
        known = _PARSED[str(path)] = (version, yaml.safe_load(path.read_text(encoding="utf-8")))
    return copy.deepcopy(known[1])


@dataclass
class Counters:
    """The read model: integer counters per (scope, period) plus per-case tracks (see module doc)."""

    buckets: dict[Key, dict[str, int]] = field(default_factory=dict)
    cases: dict[str, dict] = field(default_factory=dict)
    tz: str = DEFAULT_TZ


# --- keys -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=65536)
def scopes_of(region_code: str | None, grid_code: str | None) -> tuple[str, ...]:
    """County, city, province (deduplicated for a city- or province-level code), then the grid."""
    out: list[str] = []
    code = (region_code or "")[:6]
    if len(code) == 6 and code.isdigit():
        for scope in (code, code[:4] + "00", code[:2] + "0000"):
            if scope not in out:
                out.append(scope)
    if grid_code:
        out.append("grid:" + str(grid_code))
    return tuple(out)


@functools.lru_cache(maxsize=65536)
def periods_of(timestamp: str, tz: str = DEFAULT_TZ) -> tuple[str, str, str]:
    """Day, ISO week and month of an ISO timestamp in ``tz``: ``2026-11-23, 2026-W48, 2026-11``."""
    local = as_utc(datetime.fromisoformat(timestamp)).astimezone(ZoneInfo(tz))
    year, week, _ = local.isocalendar()
    return (f"{local.year:04d}-{local.month:02d}-{local.day:02d}", f"{year:04d}-W{week:02d}",
            f"{local.year:04d}-{local.month:02d}")


def keys_of(region_code, grid_code, timestamp: str, tz: str = DEFAULT_TZ) -> list[Key]:
    return [(s, p) for s in scopes_of(region_code, grid_code) for p in periods_of(timestamp, tz)]


def key_to_str(key: Key) -> str:
    return f"{key[0]}|{key[1]}"


def key_from_str(text: str) -> Key:
    scope, period = text.split("|", 1)
    return scope, period


# --- counting -------------------------------------------------------------------------------

def _add(state: Counters, keys, deltas: dict[str, int]) -> None:
    buckets = state.buckets
    for key in keys:
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = {}
        for name, n in deltas.items():
            value = bucket.get(name, 0) + n
            if value:
                bucket[name] = value
            else:
                bucket.pop(name, None)  # canonical form: zeros are absent
        if not bucket:
            del buckets[key]


def _stamp(event: dict, name: str) -> str:
    return event.get(name) or event["occurred_at"]


def _utc_text(timestamp: str) -> str:
    # Tracks hold one spelling per instant, so merged tracks serialise identically.
    return as_utc(datetime.fromisoformat(timestamp)).isoformat()


def _primary(category) -> str:
    # A report may carry several categories; the first is the primary one (policy.yaml).
    if isinstance(category, (list, tuple)):
        category = category[0] if category else None
    return str(category or "unknown")


def _ttc_deltas(accepted_at: str, verified_at: str, sign: int) -> dict[str, int]:
    days = working_days_between(datetime.fromisoformat(accepted_at),
                                datetime.fromisoformat(verified_at))
    milli = max(0, round(days * MILLI))  # a sign-off stamped before acceptance counts as 0
    return {"ttc_n": sign, "ttc_milli": sign * milli, f"ttc_hist:{milli // BIN_MILLI}": sign}


def _contribute(state: Counters, track: dict, sign: int) -> None:
    """Add (sign=1) or remove (sign=-1) the time-to-close samples a case track implies."""
    if not track.get("acc"):
        return
    for verified_at, region, grid in track["ver"]:
        _add(state, keys_of(region, grid, verified_at, state.tz),
             _ttc_deltas(track["acc"], verified_at, sign))


def _track(state: Counters, case_no: str) -> dict:
    track = state.cases.get(case_no)
    if track is None:
        track = state.cases[case_no] = {"acc": None, "ver": []}
    return track


def _earlier(a: str | None, b: str | None) -> str | None:
    if not a or not b:
        return a or b
    return a if as_utc(datetime.fromisoformat(a)) <= as_utc(datetime.fromisoformat(b)) else b


def _on_accepted(state: Counters, event: dict) -> None:
    track = _track(state, event["case_no"])
    new = _earlier(track["acc"], _utc_text(_stamp(event, "accepted_at")))
    if new != track["acc"]:
        # The clock starts at the earliest acceptance (a referred case is accepted twice).
        _contribute(state, track, -1)
        track["acc"] = new
        _contribute(state, track, +1)


def _on_verified(state: Counters, event: dict) -> None:
    track = _track(state, event["case_no"])
    entry = [_utc_text(_stamp(event, "verified_at")), event.get("region_code"),
             event.get("grid_code")]
    track["ver"].append(entry)
    track["ver"].sort(key=_ver_sort)
    if track["acc"]:
        _add(state, keys_of(entry[1], entry[2], entry[0], state.tz),
             _ttc_deltas(track["acc"], entry[0], +1))


def _ver_sort(entry):
    return tuple("" if x is None else str(x) for x in entry)


def apply(state: Counters, event: dict) -> None:
    """Fold one catalogue event into ``state`` (in place). Unknown event types are ignored.

    Handled: case_received, case_accepted, case_declined, case_merged, task_assigned,
    task_verified, task_escalated, task_warning, case_rated, the joint-enforcement events
    (joint_transfer_requested/answered, joint_consultation_held, joint_operation_done,
    joint_case_closed) and, when it appears in the catalogue, patrol_recorded.
    """
    kind = event.get("event_type")
    region, grid = event.get("region_code"), event.get("grid_code")
    if kind == "case_received":
        _add(state, keys_of(region, grid, _stamp(event, "received_at"), state.tz), {
            "received": 1,
            f"received_by_channel:{event.get('channel') or 'unknown'}": 1,
            f"received_by_category:{_primary(event.get('category'))}": 1})
    elif kind == "case_accepted":
        _add(state, keys_of(region, grid, _stamp(event, "accepted_at"), state.tz),
             {"accepted": 1})
        _on_accepted(state, event)
    elif kind == "case_declined":
        _add(state, keys_of(region, grid, event["occurred_at"], state.tz), {"declined": 1})
    elif kind == "case_merged":
        # A merged repeat emits no case_received: submissions = received + merged.
        _add(state, keys_of(region, grid, event["occurred_at"], state.tz), {"merged": 1})
    elif kind == "task_assigned":
        # In the grid dispatch routed it to (the case may have named none): hot spots use it.
        deltas = {"assigned": 1}
        if event.get("channel"):
            deltas[f"assigned_by_channel:{event['channel']}"] = 1
        _add(state, keys_of(region, grid, event["occurred_at"], state.tz), deltas)
    elif kind == "task_verified":
        on_time = bool(event.get("on_time"))
        _add(state, keys_of(region, grid, _stamp(event, "verified_at"), state.tz), {
            "closed": 1, "closed_on_time" if on_time else "closed_late": 1})
        _on_verified(state, event)
    elif kind == "task_escalated":
        rung = int(event.get("rung") or 0)
        deltas = {"escalations": 1, f"escalated_rung:{rung}": 1}
        if rung == OVERDUE_RUNG:
            deltas["overdue"] = 1
        _add(state, keys_of(region, grid, event["occurred_at"], state.tz), deltas)
    elif kind == "task_warning":
        _add(state, keys_of(region, grid, event["occurred_at"], state.tz), {"warnings": 1})
    elif kind == "case_rated":
        # Counted when rated, independent of the sign-off, so a rating may arrive first.
        _add(state, keys_of(region, grid, event["occurred_at"], state.tz),
             {"rated": 1, "satisfied": 1 if event.get("satisfied") else 0})
    elif kind == "patrol_recorded":
        started = _stamp(event, "started_at")
        minutes = 0
        if event.get("ended_at"):
            minutes = max(0, round((as_utc(datetime.fromisoformat(event["ended_at"]))
                                    - as_utc(datetime.fromisoformat(started))
                                    ).total_seconds() / 60))
        _add(state, keys_of(region, grid, started, state.tz),
             {"patrols": 1, "patrol_minutes": minutes})
    # Joint enforcement (左右联动), counted as the linkage evaluation counts them: a transfer
    # for the receiving party in the period it was requested; meetings and operations on
    # their day for each party taking part; a shared case closed when signed off.
    elif kind == "joint_transfer_requested":
        _add(state, keys_of(event.get("to_region"), None, event["occurred_at"], state.tz),
             {"transfers_received": 1})
    elif kind == "joint_transfer_answered":
        _add(state, keys_of(event.get("to_region"), None, _stamp(event, "requested_at"),
                            state.tz),
             {"transfers_answered": 1, "transfers_on_time": 1 if event.get("on_time") else 0})
    elif kind == "joint_consultation_held":
        day = _stamp(event, "held_at")
        _add(state, keys_of(event.get("host_region"), None, day, state.tz),
             {"consultations_held": 1})
        for code in event.get("attendees") or ():
            _add(state, keys_of(code, None, day, state.tz), {"consultations_attended": 1})
    elif kind == "joint_operation_done":
        for code in event.get("parties") or ():
            _add(state, keys_of(code, None, _stamp(event, "held_at"), state.tz),
                 {"joint_operations": 1})
    elif kind == "joint_case_closed":
        _add(state, keys_of(region, grid, _stamp(event, "closed_at"), state.tz),
             {"shared_cases_closed": 1})


def forget_cases(state: Counters, case_nos) -> None:
    """Drop per-case tracks (e.g. closed for good and past the reopen window); counts stay.

    A sign-off or acceptance of a forgotten case arriving later is counted, but its time to
    close is only known once both halves are in the same track again.
    """
    for case_no in case_nos:
        state.cases.pop(case_no, None)


# --- merge and JSON ---------------------------------------------------------------------------

def merge_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Element-wise sum of two flat counter dicts (zeros dropped)."""
    out = dict(a)
    for name, n in b.items():
        value = out.get(name, 0) + n
        if value:
            out[name] = value
        else:
            out.pop(name, None)
    return out


def merge(a: Counters, b: Counters) -> Counters:
    """The state of the events of ``a`` and ``b`` together (disjoint event sets), as a new value."""
    if a.tz != b.tz:
        raise ValueError(f"cannot merge counters cut in {a.tz} and {b.tz}")
    out = Counters(buckets={k: dict(v) for k, v in a.buckets.items()},
                   cases={k: {"acc": v["acc"], "ver": [list(e) for e in v["ver"]]}
                          for k, v in a.cases.items()},
                   tz=a.tz)
    for key, bucket in b.buckets.items():
        merged = merge_counts(out.buckets.get(key, {}), bucket)
        if merged:
            out.buckets[key] = merged
        else:
            out.buckets.pop(key, None)
    for case_no, tb in b.cases.items():
        ta = out.cases.get(case_no)
        if ta is None:
            out.cases[case_no] = {"acc": tb["acc"], "ver": [list(e) for e in tb["ver"]]}
            continue
        # Replace both halves' time-to-close samples by those of the joined track.
        _contribute(out, ta, -1)
        _contribute(out, tb, -1)
        ta["acc"] = _earlier(ta["acc"], tb["acc"])
        ta["ver"] = sorted(ta["ver"] + [list(e) for e in tb["ver"]], key=_ver_sort)
        _contribute(out, ta, +1)
    return out


def to_json(state: Counters) -> dict:
    """JSON-ready form (see module docstring); keys sorted so equal states serialise equally."""
    return {"v": 1, "tz": state.tz,
            "buckets": {key_to_str(k): dict(sorted(state.buckets[k].items()))
                        for k in sorted(state.buckets)},
            "cases": {c: {"acc": t["acc"], "ver": [list(e) for e in t["ver"]]}
                      for c, t in sorted(state.cases.items())}}


def from_json(data: dict) -> Counters:
    if data.get("v") != 1:
        raise ValueError(f"unknown counters version {data.get('v')!r}")
    return Counters(buckets={key_from_str(k): dict(v) for k, v in data["buckets"].items()},
                    cases={c: {"acc": t["acc"], "ver": [list(e) for e in t["ver"]]}
                           for c, t in data["cases"].items()},
                    tz=data.get("tz", DEFAULT_TZ))


# --- derived figures --------------------------------------------------------------------------

def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def _prefixed(counts: dict[str, int], prefix: str) -> dict[str, int]:
    n = len(prefix)
    return dict(sorted((k[n:], v) for k, v in counts.items() if k.startswith(prefix)))


def p90_days(counts: dict[str, int]) -> float | None:
    """90th percentile of time to close (nearest rank) from the histogram, as its bin's upper edge."""
    total = counts.get("ttc_n", 0)
    if total <= 0:
        return None
    rank = math.ceil(0.9 * total)
    bins = sorted((int(k[9:]), v) for k, v in counts.items() if k.startswith("ttc_hist:"))
    seen = 0
    for b, n in bins:
        seen += n
        if seen >= rank:
            return round((b + 1) * BIN_MILLI / MILLI, 3)
    return round((bins[-1][0] + 1) * BIN_MILLI / MILLI, 3)


def figures(counters: dict[str, int]) -> dict:
    """The derived figures of one (scope, period) bucket. Rates are None when undefined (0/0).

    * ``submissions`` = received + merged; ``repeat_rate`` = merged / submissions (重复举报率)
    * ``case_handling_rate`` = closed / accepted (案件查办率; can exceed 1 in a period that signs
      off work accepted earlier); ``on_time_rate`` = closed_on_time / closed
    * ``satisfaction_rate`` = satisfied / rated (满意率)
    * ``problem_discovery_rate`` = cases received from channel ``patrol`` / patrols (发现问题率)
    * ``transfer_on_time_rate`` = transfers_on_time / transfers_answered
    * ``avg_days_to_close`` (exact, working days) and ``p90_days_to_close`` (to 0.1 working day)
    """
    c = counters.get
    by_channel = _prefixed(counters, "received_by_channel:")
    received, merged = c("received", 0), c("merged", 0)
    closed, accepted, patrols = c("closed", 0), c("accepted", 0), c("patrols", 0)
    patrol_cases = by_channel.get("patrol", 0)
    ttc_n = c("ttc_n", 0)
    return {
        "received": received,
        "received_by_channel": by_channel,
        "received_by_category": _prefixed(counters, "received_by_category:"),
        "merged": merged,
        "submissions": received + merged,
        "accepted": accepted,
        "declined": c("declined", 0),
        "assigned": c("assigned", 0),
        "assigned_by_channel": _prefixed(counters, "assigned_by_channel:"),
        "closed": closed,
        "closed_on_time": c("closed_on_time", 0),
        "closed_late": c("closed_late", 0),
        "overdue": c("overdue", 0),
        "warnings": c("warnings", 0),
        "escalations": c("escalations", 0),
        "escalations_by_rung": {int(k): v for k, v in
                                _prefixed(counters, "escalated_rung:").items()},
        "rated": c("rated", 0),
        "satisfied": c("satisfied", 0),
        "patrols": patrols,
        "patrol_minutes": c("patrol_minutes", 0),
        "patrol_cases": patrol_cases,
        "transfers_received": c("transfers_received", 0),
        "transfers_answered": c("transfers_answered", 0),
        "transfers_on_time": c("transfers_on_time", 0),
        "consultations_held": c("consultations_held", 0),
        "consultations_attended": c("consultations_attended", 0),
        "joint_operations": c("joint_operations", 0),
        "shared_cases_closed": c("shared_cases_closed", 0),
        "satisfaction_rate": _ratio(c("satisfied", 0), c("rated", 0)),
        "repeat_rate": _ratio(merged, received + merged),
        "problem_discovery_rate": _ratio(patrol_cases, patrols),
        "case_handling_rate": _ratio(closed, accepted),
        "on_time_rate": _ratio(c("closed_on_time", 0), closed),
        "transfer_on_time_rate": _ratio(c("transfers_on_time", 0), c("transfers_answered", 0)),
        "closed_with_time": ttc_n,
        "avg_days_to_close": (round(c("ttc_milli", 0) / ttc_n / MILLI, 3) if ttc_n else None),
        "p90_days_to_close": p90_days(counters),
    }


def figures_for(state: Counters, period: str, scopes=None) -> dict[str, dict]:
    """``{scope: figures}`` of one period, for all scopes or the given ones (missing ones skipped)."""
    wanted = None if scopes is None else set(scopes)
    return {scope: figures(bucket) for (scope, per), bucket in sorted(state.buckets.items())
            if per == period and (wanted is None or scope in wanted)}


__all__ = ["Counters", "apply", "figures", "figures_for", "forget_cases", "from_json",
           "keys_of", "load_config", "merge", "merge_counts", "p90_days", "periods_of",
           "scopes_of", "to_json"]
