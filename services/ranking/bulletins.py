"""Bulletins (日汇总 / 周调度 / 月通报) as printable HTML, and CSV export of any table. Pure.

The service gathers the ``data`` dicts from aggregated counters (``metrics.figures_for``), the
league table, hot spots, cards and its open-task rows; rendering reads only those, never per-case
rows, so a monthly bulletin costs the same for 1,000 or 1,000,000 cases.

Common keys of every ``data``::

    region:       {"code": "360300", "name": "萍乡市"}      the bulletin's issuing scope
    period:       "2026-11-23" | "2026-W48" | "2026-11"
    generated_at: "2026-11-24 08:00"                       text, local time, as printed
    names:        {scope: display name}                     optional, e.g. {"360323": "芦溪县"}
    categories:   {category code: label}                    optional (policy.yaml categories)

``render_daily`` (日汇总)::

    totals:    metrics.figures(...) of ``region`` for the day
    by_region: [{"scope": "360323", "figures": metrics.figures(...)}, ...]  sub-regions
    hot_spots: [hotspots.HotSpot | dict, ...]                               optional

``render_weekly`` (周调度, overdue and slow work)::

    totals, by_region                                                   as daily, for the week
    overdue: [{"task_id", "case_no", "scope", "grid_code", "category", "unit", "deadline",
               "days_overdue", "rung"}, ...]
    slow:    [{"task_id", "case_no", "scope", "grid_code", "category", "unit", "assigned_at",
               "days_open"}, ...]

``render_monthly`` (月通报)::

    totals:       metrics.figures(...) of ``region`` for the month
    league:       [league.Row | dict, ...]                              league.league_table
    components:   {component name: label}                               optional column titles
    laggards:     [{"scope", "rank", "score", "weak": [component, ...], "deadline"}, ...]
                  (``laggards()`` builds all but ``deadline``)
    cards:        [{"enterprise", "level", "cases": [case_no, ...]}, ...]  current red/yellow
    card_changes: [cards.CardChange | dict, ...]                         this month, optional
    hot_spots:    [hotspots.HotSpot | dict, ...]                         optional

No personal data: a bulletin carries no complainant and no person's name or contact. ``data``
holding any such key (``complainant``, ``phone``, ``email``, ``assignee``, ...) is refused with
a ValidationError rather than rendered.
"""
from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import jinja2

from services.common.errors import ValidationError

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Keys that could carry a person's identity or contact; staff names are left out too.
PERSONAL_KEYS = frozenset({"complainant", "complainant_name", "phone", "phone_raw", "phone_e164",
                           "mobile", "email", "contact", "id_number", "assignee",
                           "previous_assignee", "reported_by", "person", "worker_name"})

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                          autoescape=jinja2.select_autoescape(["html"]),
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _pct(value) -> str:
    return "—" if value is None else f"{100.0 * value:.1f}%"


def _num(value, decimals: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{decimals}f}"


def _signed(value) -> str:
    if value is None:
        return "—"
    return f"▲{value}" if value > 0 else (f"▼{-value}" if value < 0 else "–")


_env.filters.update(pct=_pct, num=_num, signed=_signed)


def _plain(value):
    """Dataclasses (Row, HotSpot, CardChange) to dicts, recursively, for templates and CSV."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _refuse_personal(value, path: str = "data") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in PERSONAL_KEYS:
                raise ValidationError(f"bulletins carry no personal data ({path}.{key})",
                                      code="personal_data", field=f"{path}.{key}")
            _refuse_personal(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _refuse_personal(item, f"{path}[{i}]")


def _render(template: str, data: dict, defaults: dict) -> str:
    data = _plain(data)
    _refuse_personal(data)
    context = dict(defaults)
    context.update(data)
    context.setdefault("names", {})
    context.setdefault("categories", {})
    return _env.get_template(template).render(**context)


def render_daily(data: dict) -> str:
    """日汇总: the day's intake, handling and hot spots (``data`` shape in the module docstring)."""
    return _render("daily.html", data, {"by_region": [], "hot_spots": []})


def render_weekly(data: dict) -> str:
    """周调度: the week's figures and the dispatch list of overdue and slow work."""
    return _render("weekly.html", data, {"by_region": [], "overdue": [], "slow": []})


def render_monthly(data: dict) -> str:
    """月通报: league table, named laggards (通报), enterprise red/yellow cards."""
    return _render("monthly.html", data, {"laggards": [], "cards": [], "card_changes": [],
                                          "hot_spots": [], "components": {}})


def laggards(rows: list, cfg: dict) -> list[dict]:
    """The ``bulletins.laggards.bottom`` lowest ranked rows, each with its weakest components.

    ``weak`` lists the components below the row's own average, weakest first, so the bulletin can
    say *why* a region is named (e.g. low case-handling rate 案件查办率).
    """
    bottom = int(((cfg.get("bulletins") or cfg).get("laggards") or {}).get("bottom", 3))
    ranked = [r for r in (_plain(r) for r in rows) if r.get("ranked") and r.get("rank")]
    ranked.sort(key=lambda r: (r["rank"], r["scope"]))
    named = ranked[-bottom:] if bottom > 0 else []
    out = []
    for row in reversed(named):
        parts = {k: v for k, v in (row.get("components") or {}).items() if v is not None}
        mean = sum(parts.values()) / len(parts) if parts else 0.0
        weak = [k for k, v in sorted(parts.items(), key=lambda kv: (kv[1], kv[0])) if v < mean]
        out.append({"scope": row["scope"], "rank": row["rank"], "score": row["score"],
                    "weak": weak})
    return out


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "; ".join(str(_cell(v)) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}={_cell(v)}" for k, v in value.items())
    text = str(value)
    # Spreadsheet formula injection: text starting like a formula is quoted (numbers are not).
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


def _lookup(row: dict, key: str):
    value = row
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def to_csv(rows: list, columns: list) -> str:
    """CSV text of ``rows`` (dicts or dataclasses) with a header line.

    ``columns``: names, dotted paths into nested dicts (``components.on_time_rate``), or
    ``(path, header)`` pairs. None is empty; floats to 4 decimals; lists joined with ``; ``.
    Lines end in CRLF (RFC 4180); serve as UTF-8 with BOM (``utf-8-sig``) for Excel.
    """
    spec = [(c, c) if isinstance(c, str) else (c[0], c[1]) for c in columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([header for _, header in spec])
    for row in rows:
        row = _plain(row)
        writer.writerow([_cell(_lookup(row, path)) for path, _ in spec])
    return out.getvalue()


__all__ = ["laggards", "render_daily", "render_monthly", "render_weekly", "to_csv"]
