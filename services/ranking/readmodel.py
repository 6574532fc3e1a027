"""The read model's shape: per (scope, period) counters, folded from events. Pure functions.

A scope is a county code and its city and province rolled up, or a grid code; a period is a
day ``2026-11-23``, an ISO week ``2026-W48`` or a month ``2026-11`` (Beijing time).
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from services.common.regions import prefix

TZ = ZoneInfo("Asia/Shanghai")


def periods(occurred_at: str) -> list[str]:
    local = datetime.fromisoformat(occurred_at).astimezone(TZ)
    year, week, _ = local.isocalendar()
    return [local.strftime("%Y-%m-%d"), f"{year}-W{week:02d}", local.strftime("%Y-%m")]


def scopes(payload: dict) -> list[str]:
    out = []
    region = (payload.get("region_code") or "")[:6]
    if len(region) == 6 and region.isdigit():
        county = region
        out += [county, county[:4] + "00", county[:2] + "0000"]
        out = list(dict.fromkeys(out))
    grid = payload.get("grid_code")
    if grid and grid not in out:
        out.append("grid:" + grid)
    return out


def fold(payloads: list[dict]) -> dict[tuple[str, str], dict]:
    """Counter deltas of a batch of events, keyed by (scope, period)."""
    out: dict[tuple[str, str], dict] = defaultdict(dict)
    for p in payloads:
        keys = [(s, per) for s in scopes(p) for per in periods(p["occurred_at"])]
        for key in keys:
            counters = out[key]
            counters[p["event_type"]] = counters.get(p["event_type"], 0) + 1
            if p["event_type"] == "case_received":
                channel = "channel:" + str(p.get("channel"))
                counters[channel] = counters.get(channel, 0) + 1
    return dict(out)


def merge(a: dict, b: dict) -> dict:
    out = dict(a)
    for key, value in b.items():
        out[key] = out.get(key, 0) + value
    return out


__all__ = ["fold", "merge", "periods", "scopes", "prefix"]
