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
moment it leaves. ``timeline`` replays one enterprise's standings (confirmed, possibly later
overturned) into its whole card history; the service stores that as its card history.
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


@dataclass(frozen=True)
class Standing:
    """A founded case of one enterprise over time: each span runs from the sign-off that
    confirmed the violation to the sign-off that overturned it (unfounded), or stays open."""

    case_no: str
    spans: tuple  # ((confirmed_at, overturned_at | None), ...), oldest first
    major: bool = False


def _next_window_edges(standings, after: datetime, until: datetime | None, cfg: dict):
    """Moments in (after, until] at which a violation leaves the window by time alone."""
    cc = cfg.get("cards", cfg)
    out = set()
    if cc.get("window", "calendar_year") == "rolling":
        days = timedelta(days=int(cc.get("rolling_days", 365)))
        out = {as_utc(start) + days for s in standings for start, _ in s.spans}
    else:
        zone = ZoneInfo(cfg.get("timezone") or "Asia/Shanghai")
        years = {as_utc(start).astimezone(zone).year for s in standings for start, _ in s.spans}
        out = {as_utc(datetime(y + 1, 1, 1, tzinfo=zone)) for y in years}
    return sorted(m for m in out if m > after and (until is None or m <= until))


def _active(enterprise: str, standings, moment: datetime) -> list[Violation]:
    return [Violation(enterprise, s.case_no, as_utc(start), s.major)
            for s in standings for start, end in s.spans
            if as_utc(start) <= moment and (end is None or moment < as_utc(end))]


def timeline(enterprise: str, standings: list[Standing], as_of: datetime,
             cfg: dict) -> tuple[list[CardChange], Card, datetime | None]:
    """The card history of one enterprise up to ``as_of``: every level change at the moment it
    happened (a confirmation, an overturn, or a violation leaving the window), the card at
    ``as_of``, and the next moment time alone would change it (None: it cannot).

    A pure function of the standings, so replaying the same sign-offs gives the same history.
    """
    as_of = as_utc(as_of)
    moments = {as_utc(t) for s in standings for span in s.spans for t in span
               if t is not None and as_utc(t) <= as_of}
    first = min(moments, default=as_of)
    moments.update(_next_window_edges(standings, first - timedelta(microseconds=1), as_of, cfg))
    history: list[CardChange] = []
    card = Card(None)
    for moment in sorted(moments):
        new = evaluate(_active(enterprise, standings, moment), moment, cfg).get(
            enterprise, Card(None))
        history += transitions({enterprise: card}, {enterprise: new}, moment)
        card = new
    following = None
    if card.level is not None:
        following = next(iter(_next_window_edges(standings, as_of, None, cfg)), None)
    return history, card, following


__all__ = ["Card", "CardChange", "LEVELS", "Standing", "Violation", "evaluate", "timeline",
           "transitions", "window_start"]
