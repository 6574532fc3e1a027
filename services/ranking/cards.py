"""Enterprise red and yellow cards (企业红黄牌警示"黑名单"). Pure.

Rule (``ranking.yaml`` → ``cards``; Pingxiang: two or more violations in a year, or a major
pollution incident, put an enterprise on the red/yellow-card list):

* only violations confirmed in the **window** and not after ``now`` count. The window is
  ``calendar_year`` by default: 1 January 00:00 Beijing time of ``now``'s year up to ``now``, so
  every card lapses when the year rolls over; ``rolling`` counts the last ``rolling_days``
  (``now - rolling_days < confirmed_at <= now``), so a card lapses a year after the violation
  that earned it;
* ``red`` with ``red_at`` (2) or more violations, or any ``major`` one when ``major_is_red``;
  ``yellow`` with ``yellow_at`` (1) or more; otherwise no card (level None).

``evaluate`` returns every enterprise that appears in the input, carded or not, so that
``transitions(old, new, now)`` can report both the moment a card appears (or turns red) and the
moment it leaves; the service stores the changes as its card history.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.common.workdays import as_utc

LEVELS = (None, "yellow", "red")


@dataclass(frozen=True)
class Violation:
    """A confirmed violation (查实违法) of an enterprise, from a founded case."""

    enterprise: str
    case_no: str
    confirmed_at: datetime
    major: bool = False


@dataclass(frozen=True)
class Card:
    level: str | None                       # "red" | "yellow" | None
    cases: list[str] = field(default_factory=list)  # violations in the window, oldest first


@dataclass(frozen=True)
class CardChange:
    enterprise: str
    from_level: str | None
    to_level: str | None
    at: datetime
    cases: list[str] = field(default_factory=list)  # the cases behind the new card (or old one)


def window_start(now: datetime, cfg: dict) -> datetime:
    """Start (UTC) of the window ending at ``now``: 1 January 00:00 local, or now - rolling_days."""
    cc = cfg.get("cards", cfg)
    now = as_utc(now)
    if cc.get("window", "calendar_year") == "rolling":
        return now - timedelta(days=int(cc.get("rolling_days", 365)))
    zone = ZoneInfo(cfg.get("timezone") or "Asia/Shanghai")
    local = now.astimezone(zone)
    return as_utc(datetime(local.year, 1, 1, tzinfo=zone))


def evaluate(violations: list[Violation], now: datetime, cfg: dict) -> dict[str, Card]:
    """``{enterprise: Card}`` as of ``now`` (see module docstring for the rule and the window)."""
    cc = cfg.get("cards", cfg)
    yellow_at, red_at = int(cc.get("yellow_at", 1)), int(cc.get("red_at", 2))
    major_is_red = bool(cc.get("major_is_red", True))
    rolling = cc.get("window", "calendar_year") == "rolling"
    start, now = window_start(now, cfg), as_utc(now)

    by_enterprise: dict[str, list[Violation]] = {}
    for v in violations:
        by_enterprise.setdefault(v.enterprise, [])
        at = as_utc(v.confirmed_at)
        # Rolling windows exclude their first instant so "365 days" never counts a day twice.
        inside = (start < at <= now) if rolling else (start <= at <= now)
        if inside:
            by_enterprise[v.enterprise].append(v)

    out = {}
    for enterprise, found in sorted(by_enterprise.items()):
        found.sort(key=lambda v: (as_utc(v.confirmed_at), v.case_no))
        cases = [v.case_no for v in found]
        if len(found) >= red_at or (major_is_red and any(v.major for v in found)):
            level = "red"
        elif len(found) >= yellow_at:
            level = "yellow"
        else:
            level = None
        out[enterprise] = Card(level, cases if level else [])
    return out


def transitions(old_cards: dict[str, Card], new_cards: dict[str, Card],
                now: datetime) -> list[CardChange]:
    """Level changes between two evaluations, at ``now``, by enterprise name.

    An enterprise missing from one side counts as having no card there.
    """
    out = []
    for enterprise in sorted(set(old_cards) | set(new_cards)):
        old = old_cards.get(enterprise) or Card(None)
        new = new_cards.get(enterprise) or Card(None)
        if old.level != new.level:
            out.append(CardChange(enterprise, old.level, new.level, now,
                                  list(new.cases if new.level else old.cases)))
    return out


__all__ = ["Card", "CardChange", "LEVELS", "Violation", "evaluate", "transitions",
           "window_start"]
