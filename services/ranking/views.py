"""Read side of the enterprise cards and the bulletin archive, and CSV export of every table
ranking answers. Nothing here carries personal data: cards name enterprises and case numbers,
bulletins are refused at render time if their data holds a person's name or contact."""
from __future__ import annotations

import base64
import logging
import re
import sys
import time

from eventlet.green import subprocess
from eventlet.semaphore import Semaphore
from sqlalchemy import select

from services.common.config import ROOT
from services.common.errors import NotFound, ValidationError
from services.common.regions import prefix
from services.common.workdays import as_utc
from services.ranking import bulletins, dashboard, metrics, queries
from services.ranking.models import Bulletin, CardChange, EnterpriseCard, EnterpriseCase

log = logging.getLogger(__name__)

_LEVELS = ("red", "yellow")
_KINDS = ("daily", "weekly", "monthly")
_REGION = re.compile(r"\d{6}")


def _iso(value) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def _region(filters: dict) -> str | None:
    region = filters.get("region")
    if region in (None, ""):
        return None
    if not _REGION.fullmatch(str(region)):
        raise ValidationError("region must be a 6 digit division code", code="invalid_value",
                              field="region")
    return str(region)


# --- cards ------------------------------------------------------------------------------------

def card_list(uow, filters: dict) -> list[dict]:
    """Current red and yellow cards (红黄牌), red first, each with the cases behind it."""
    level = filters.get("level") or None
    if level is not None and level not in _LEVELS:
        raise ValidationError("level must be red or yellow", code="invalid_value",
                              field="level")
    region = _region(filters)
    query = select(EnterpriseCard).where(EnterpriseCard.level.in_([level] if level else _LEVELS))
    out = []
    for card in uow.session.scalars(query):
        if region and not any((c.get("region_code") or "").startswith(prefix(region))
                              for c in card.cases):
            continue
        out.append({"enterprise": card.enterprise, "enterprise_key": card.enterprise_key,
                    "level": card.level, "since": _iso(card.since),
                    "violations": len(card.cases), "cases": card.cases})
    out.sort(key=lambda c: (_LEVELS.index(c["level"]), c["since"] or "", c["enterprise_key"]))
    return out


def enterprise_history(uow, key: str) -> dict:
    """An enterprise's card now, its violations and every change of its card (card history)."""
    card = uow.session.get(EnterpriseCard, key)
    if card is None:
        raise NotFound(f"no violations recorded for {key}", code="enterprise_not_found",
                       field="enterprise_key")
    cases = uow.session.scalars(select(EnterpriseCase).where(
        EnterpriseCase.enterprise_key == key).order_by(EnterpriseCase.case_no))
    history = uow.session.scalars(select(CardChange).where(CardChange.enterprise_key == key)
                                  .order_by(CardChange.seq))
    return {"enterprise": card.enterprise, "enterprise_key": key, "level": card.level,
            "since": _iso(card.since), "as_of": _iso(card.as_of),
            "violations": [{"case_no": c.case_no, "region_code": c.region_code,
                            "category": c.category, "major": bool(c.major),
                            "spans": [{"confirmed_at": a, "overturned_at": b}
                                      for a, b in c.spans]} for c in cases],
            "history": [{"seq": h.seq, "from_level": h.from_level, "to_level": h.to_level,
                         "at": _iso(h.at), "cases": h.cases} for h in history]}


# --- the bulletin archive ---------------------------------------------------------------------

def _public_kinds() -> list[str]:
    return list((metrics.load_config().get("bulletins") or {}).get("public_kinds") or [])


def _bulletin_meta(b: Bulletin) -> dict:
    return {"id": b.id, "kind": b.kind, "period": b.period, "scope": b.scope, "title": b.title,
            "published_at": _iso(b.published_at),
            "html": f"/api/v1/bulletins/{b.id}.html", "pdf": f"/api/v1/bulletins/{b.id}.pdf"}


def bulletin_list(uow, filters: dict, public: bool) -> list[dict]:
    """Published bulletins, newest period first; the public sees the public kinds only."""
    kind = filters.get("kind") or None
    if kind is not None and kind not in _KINDS:
        raise ValidationError("kind must be daily, weekly or monthly", code="invalid_value",
                              field="kind")
    try:
        limit = min(max(int(filters.get("limit") or 100), 1), 1000)
    except (TypeError, ValueError):
        raise ValidationError("limit must be a number", code="invalid_value", field="limit")
    query = select(Bulletin.id, Bulletin.kind, Bulletin.period, Bulletin.scope, Bulletin.title,
                   Bulletin.published_at).where(Bulletin.title != "")
    if kind:
        query = query.where(Bulletin.kind == kind)
    if public:
        query = query.where(Bulletin.kind.in_(_public_kinds()))
    if filters.get("period"):
        query = query.where(Bulletin.period == str(filters["period"]))
    rows = uow.session.execute(query.order_by(Bulletin.period.desc(), Bulletin.kind,
                                              Bulletin.scope).limit(limit)).all()
    return [_bulletin_meta(r) for r in rows]


def _bulletin(uow, bulletin_id: str, public: bool) -> Bulletin:
    b = uow.session.get(Bulletin, bulletin_id)
    if b is None or not b.title or (public and b.kind not in _public_kinds()):
        raise NotFound(f"no bulletin {bulletin_id}", code="bulletin_not_found",
                       field="bulletin_id")
    return b


def bulletin(uow, bulletin_id: str, public: bool) -> dict:
    """One bulletin: what it is and the data it was built from."""
    b = _bulletin(uow, bulletin_id, public)
    return dict(_bulletin_meta(b), data=b.data)


def bulletin_html(uow, bulletin_id: str, public: bool) -> str:
    return _bulletin(uow, bulletin_id, public).html


_PDF_LOCK = Semaphore(1)


def bulletin_pdf(uow, bulletin_id: str, public: bool) -> str:
    """The printable PDF (base64): the one kept in the archive, else rendered now."""
    b = _bulletin(uow, bulletin_id, public)
    return base64.b64encode(b.pdf if b.pdf is not None else render_pdf(b.html)).decode("ascii")


PDF_SECONDS = 300  # a province's monthly bulletin takes seconds; far longer is a runaway


class PdfFailed(RuntimeError):
    pass


def render_pdf(html: str) -> bytes:
    """Lay out and write a PDF in a child process (``services.ranking.pdf``), off the event
    loop and away from its locks, one at a time per process."""
    with _PDF_LOCK:
        done = subprocess.run([sys.executable, "-m", "services.ranking.pdf"],
                              input=html.encode("utf-8"), capture_output=True,
                              timeout=PDF_SECONDS, cwd=ROOT)
    if done.returncode != 0 or not done.stdout.startswith(b"%PDF"):
        raise PdfFailed(done.stderr.decode("utf-8", "replace")[-2000:])
    return done.stdout


# Bulletins whose PDF failed to render: id → (failures, monotonic time of the next try). In
# memory: a restart tries them all again once, which is what one would want after a fix.
_PDF_FAILURES: dict[str, tuple[int, float]] = {}
PDF_RETRY_SECONDS = (60, 6 * 3600)  # first pause, longest pause


def prepare_pdfs(db, limit: int = 1, now=time.monotonic) -> int:
    """Render and keep the PDF of archived bulletins that have none yet, newest first (the ones
    readers ask for), so that a reader does not wait for it (each instance takes other rows:
    SKIP LOCKED). One that fails waits, longer each time, and does not hold up the others."""
    at = now()
    waiting = [bid for bid, (_n, retry_at) in _PDF_FAILURES.items() if retry_at > at]
    with db.unit_of_work() as uow:
        query = (select(Bulletin).where(Bulletin.pdf.is_(None), Bulletin.title != "")
                 .order_by(Bulletin.published_at.desc(), Bulletin.id.desc()).limit(limit))
        if waiting:
            query = query.where(Bulletin.id.not_in(waiting))
        if uow.session.bind.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = uow.session.scalars(query).all()
        for b in rows:
            try:
                b.pdf = render_pdf(b.html)
            except (PdfFailed, subprocess.TimeoutExpired) as exc:
                failures = _PDF_FAILURES.get(b.id, (0, 0.0))[0] + 1
                pause = min(PDF_RETRY_SECONDS[1], PDF_RETRY_SECONDS[0] * 2 ** (failures - 1))
                _PDF_FAILURES[b.id] = (failures, at + pause)
                log.error("PDF of bulletin %s failed (%d times); next try in %d s: %s", b.id,
                          failures, pause, str(exc)[-500:])
            else:
                _PDF_FAILURES.pop(b.id, None)
        uow.commit()
        return len(rows)


# Tables inside a bulletin's data that can be exported, and how each is found there.
BULLETIN_TABLES = ("totals", "by_region", "league", "laggards", "cards", "card_changes",
                   "overdue", "slow")


def bulletin_table(uow, bulletin_id: str, table: str | None, public: bool) -> list[dict]:
    b = _bulletin(uow, bulletin_id, public)
    table = table or {"daily": "by_region", "weekly": "overdue", "monthly": "league"}[b.kind]
    if table not in BULLETIN_TABLES or table not in b.data:
        raise ValidationError("table must be one of " + ", ".join(
            t for t in BULLETIN_TABLES if t in b.data), code="invalid_value", field="table")
    value = b.data[table]
    if table == "totals":
        return [dict({"scope": b.scope, "period": b.period}, **value)]
    if table == "by_region":
        return [dict({"scope": r["scope"]}, **r["figures"]) for r in value]
    return value


# --- CSV --------------------------------------------------------------------------------------

def columns_of(rows: list[dict]) -> list[str]:
    """Every field of the rows, in first-seen order; a nested object of plain values (figures by
    channel, league components) becomes one ``field.key`` column per key."""
    seen: dict[str, None] = {}
    for row in rows:
        for key, value in _flat(row).items():
            seen.setdefault(key)
    return list(seen)


def _flat(row: dict) -> dict:
    out = {}
    for key, value in row.items():
        if isinstance(value, dict) and value and all(
                not isinstance(v, (dict, list)) for v in value.values()):
            out.update({f"{key}.{sub}": v for sub, v in value.items()})
        elif isinstance(value, list):
            # Lists of cases are given by their numbers.
            out[key] = [x.get("case_no", x) if isinstance(x, dict) else x for x in value]
        else:
            out[key] = value
    return out


def to_csv(rows: list[dict]) -> str:
    """CSV text of JSON rows with a header of every column (``columns_of``)."""
    columns = columns_of(rows)
    # Positional keys: column names may hold dots (air.odour) that to_csv would read as paths.
    index = {name: f"c{i}" for i, name in enumerate(columns)}
    flat = [{index[k]: v for k, v in _flat(r).items()} for r in rows]
    return bulletins.to_csv(flat, [(index[c], c) for c in columns])


_FORMATS = {"json": bulletin, "html": bulletin_html, "pdf": bulletin_pdf}


def bulletin_as(uow, bulletin_id: str, fmt: str, public: bool):
    if fmt not in _FORMATS:
        raise ValidationError("format must be json, html or pdf", code="invalid_value",
                              field="format")
    return _FORMATS[fmt](uow, bulletin_id, public)


def _league(uow, filters, public, sizes):
    return dashboard.league(uow, filters)["rows"]


def _regions(uow, filters, public, sizes):
    return [dict({"scope": r["scope"], "period": r["period"]}, **r["figures"])
            for r in queries.region_counters(uow, filters)]


def _cards(uow, filters, public, sizes):
    return card_list(uow, filters)


def _card_history(uow, filters, public, sizes):
    return enterprise_history(uow, str(filters.get("enterprise_key") or ""))["history"]


def _bulletins(uow, filters, public, sizes):
    return bulletin_list(uow, filters, public)


def _bulletin_rows(uow, filters, public, sizes):
    return bulletin_table(uow, str(filters.get("bulletin_id") or ""), filters.get("table"),
                          public)


# Every table ranking answers, by name: the same rows as its JSON endpoint.
TABLES = {"league": _league, "regions": _regions, "cards": _cards,
          "card_history": _card_history, "bulletins": _bulletins, "bulletin": _bulletin_rows}


def export(uow, table: str, filters: dict, public: bool, sizes: dict) -> str:
    if table not in TABLES:
        raise ValidationError("table must be one of " + ", ".join(TABLES), code="invalid_value",
                              field="table")
    return to_csv(TABLES[table](uow, dict(filters), public, sizes))
