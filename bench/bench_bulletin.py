"""Monthly bulletin (月通报) over 1,000,000 cases: figure derivation + league + rendering time.

The read model is aggregated, so the bulletin's cost depends on the number of scopes, not cases.
This script builds, directly in aggregate form (fast), the month's counter rows a province with
1,000,000 cases in the month would hold: 100 counties × 100 grids, each grid row with channel,
category, handling, rating, escalation and time-to-close histogram counters summing to 1,000,000
received cases, plus the county, city and province roll-ups. It then times what the service
does for a bulletin: ``figures`` of every county and grid row, the league table, hot spots over
12 months of grid history, laggards, 500 enterprise cards and the HTML rendering (and the CSV
of the league); ``--pdf`` also times the PDF.

    .venv/bin/python bench/bench_bulletin.py [--cases 1000000] [--repeat 3] [--pdf]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.ranking import bulletins, metrics, pdf  # noqa: E402
from services.ranking.hotspots import hot_spots  # noqa: E402
from services.ranking.league import league_table  # noqa: E402

CHANNELS = ("patrol", "hotline", "web", "app", "letter", "monitoring")
CATEGORIES = ("air.odour", "air.dust", "air.industrial", "noise.construction", "water.industrial",
              "waste.solid", "construction.dust", "workshop.sanluanwu")
PERIOD = "2026-11"


def grid_row(rng: random.Random, received: int) -> dict[str, int]:
    """One grid's month of counters for ``received`` cases (aggregate form, no per-case work)."""
    row: dict[str, int] = {"received": received}
    left = received
    for ch in CHANNELS[:-1]:
        n = rng.randint(0, left // 2)
        row[f"received_by_channel:{ch}"] = n
        left -= n
    row[f"received_by_channel:{CHANNELS[-1]}"] = left
    left = received
    for cat in CATEGORIES[:-1]:
        n = rng.randint(0, left // 3)
        row[f"received_by_category:{cat}"] = n
        left -= n
    row[f"received_by_category:{CATEGORIES[-1]}"] = left
    accepted = int(received * rng.uniform(0.85, 0.97))
    closed = int(accepted * rng.uniform(0.7, 1.0))
    on_time = int(closed * rng.uniform(0.6, 0.98))
    rated = int(closed * 0.6)
    row.update(merged=int(received * 0.08), accepted=accepted, declined=received - accepted,
               assigned=accepted, closed=closed, closed_on_time=on_time,
               closed_late=closed - on_time, overdue=closed - on_time,
               escalations=int((closed - on_time) * 1.4), warnings=closed - on_time,
               rated=rated, satisfied=int(rated * rng.uniform(0.6, 0.95)),
               patrols=rng.randint(60, 120), patrol_minutes=rng.randint(3000, 6000),
               ttc_n=closed)
    # Time to close: spread the closures over histogram bins of 0.1 working day up to 30 days.
    milli, left = 0, closed
    while left > 0:
        b = rng.randint(0, 300)
        n = min(left, rng.randint(1, max(1, closed // 20)))
        row[f"ttc_hist:{b}"] = row.get(f"ttc_hist:{b}", 0) + n
        milli += n * (b * metrics.BIN_MILLI + metrics.BIN_MILLI // 2)
        left -= n
    row["ttc_milli"] = milli
    return {k: v for k, v in row.items() if v}


def build(cases: int, seed: int = 7):
    rng = random.Random(seed)
    counties = [f"36{c // 10 + 1:02d}{c % 10 + 21:02d}" for c in range(100)]
    grids = {c: [f"{c}{100 + g:03d}{g:03d}" for g in range(100)] for c in counties}
    cells = sum(len(g) for g in grids.values())
    if cases < cells:
        raise SystemExit(f"--cases must be at least {cells:,}: one case per grid cell of "
                         f"{len(counties)} counties of {cells // len(counties)} cells")
    per_grid = cases // cells
    rows: dict[tuple[str, str], dict[str, int]] = {}
    history: dict[str, list[int]] = {}
    for county in counties:
        total: dict[str, int] = {}
        for grid in grids[county]:
            row = grid_row(rng, per_grid)
            rows[("grid:" + grid, PERIOD)] = row
            total = metrics.merge_counts(total, row)
            history[grid] = [rng.randint(per_grid // 2, per_grid) for _ in range(11)] + [per_grid]
        rows[(county, PERIOD)] = total
    received = sum(rows[(c, PERIOD)].get("received", 0) for c in counties)
    neighbours = {g: [gs[i - 1], gs[(i + 1) % len(gs)]]
                  for gs in grids.values() for i, g in enumerate(gs)}
    sizes = {c: {"grid_cells": 100, "population": rng.randint(150_000, 900_000)} for c in counties}
    return rows, counties, history, neighbours, sizes, received


def card_list(n: int = 500, seed: int = 11) -> tuple[list[dict], list[dict]]:
    """``n`` carded enterprises (a fifth red) and the month's card changes, as the service
    reads them from its card tables."""
    rng = random.Random(seed)
    cards, changes = [], []
    for i in range(n):
        level = "red" if i % 5 == 0 else "yellow"
        cases = [f"36{rng.randint(1, 10):02d}21-202611{rng.randint(1, 30):02d}-{j:04d}"
                 for j in range(2 if level == "red" else 1)]
        cards.append({"enterprise": f"企业{i:04d}有限公司", "level": level, "cases": cases})
        changes.append({"enterprise": f"企业{i:04d}有限公司", "from_level": None,
                        "to_level": level, "at": f"2026-11-{1 + i % 30:02d}T02:00:00+00:00"})
    return cards, changes


def bulletin(rows, counties, history, neighbours, sizes, cfg) -> tuple[str, str]:
    figs = {scope: metrics.figures(row) for (scope, period), row in rows.items()
            if period == PERIOD}
    county_figs = {c: figs[c] for c in counties}
    totals = metrics.figures(
        {k: sum(rows[(c, PERIOD)].get(k, 0) for c in counties)
         for k in set().union(*(rows[(c, PERIOD)] for c in counties))})
    league = league_table(county_figs, sizes, cfg)
    spots = hot_spots(history, neighbours, cfg)[:20]
    lag = bulletins.laggards(league, cfg)
    cards, changes = card_list()
    html = bulletins.render_monthly({
        "region": {"code": "360000", "name": "江西省"}, "period": PERIOD,
        "generated_at": "2026-12-02 09:00", "totals": totals, "league": league,
        "laggards": lag, "cards": cards, "card_changes": changes, "hot_spots": spots})
    csv_text = bulletins.to_csv(league, ["rank", "scope", "score", "ranked", "rank_change"])
    return html, csv_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pdf", action="store_true", help="also time the PDF rendering")
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows, counties, history, neighbours, sizes, received = build(args.cases)
    t_build = time.perf_counter() - t0
    cfg = metrics.load_config()
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        html, _csv = bulletin(rows, counties, history, neighbours, sizes, cfg)
        best = min(best, time.perf_counter() - t)
    print(f"monthly bulletin: {received:,} cases in {len(rows):,} counter rows "
          f"({len(counties)} counties); figures+league+hot spots+cards+render best of "
          f"{args.repeat}: {best:.3f} s (HTML {len(html) // 1024} KiB; counters built in "
          f"{t_build:.1f} s)")
    if args.pdf:
        t = time.perf_counter()
        document = pdf.html_to_pdf(html)
        print(f"its PDF (WeasyPrint, rendered once on first request and kept): "
              f"{time.perf_counter() - t:.2f} s, {len(document) // 1024} KiB")


if __name__ == "__main__":
    main()
