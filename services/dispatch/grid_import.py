"""Import and export of the grid registry as GeoJSON or CSV, with history (区划调整).

Export writes the grids valid on a date (default: today), the whole registry or one subtree,
parent-first. Import checks every row (``grids.validate``; a parent may also be a grid already
in the registry) and then, for each good row, against the registry's latest version of its code:

* a code not in the registry is added (from its ``valid_from``; when the registry already has
  grids and the row gives none, from the effective date);
* an identical grid is left alone, so importing the same file twice changes nothing;
* a changed grid closes its current version (``valid_to``) and opens a new one from the row's
  ``valid_from`` when that is later than the current version's start, else from the effective
  date; a version that had not started yet is replaced in place. A change of ``valid_to``
  alone is written onto the current version;
* with ``replace``, grids of the registry (or of the subtree ``under``) missing from the file
  are closed on the effective date: they were abolished or merged.

A rejected row leaves its grid as it was. Rows are numbered from 1 (the first feature, or the
first CSV record after the header); the report lists every rejected row with its code and why.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Callable

from sqlalchemy import select

from services.common.authz import Principal
from services.common.errors import Forbidden, NotFound, ValidationError, parse_date
from services.dispatch import grids as gridlib
from services.dispatch.grids import Grid, GridRegistry, Reject
from services.dispatch.models import GridNode
from services.dispatch.registry import grids_from_rows, load, local_today, lock_version, \
    row_from_grid

FORMATS = ("geojson", "csv")
# progress(stage, done, total); stage is "check" (reading and validating) or "write".
StageProgress = Callable[[str, int, int], None]


@dataclass
class ImportReport:
    """What an import did, and every row it refused."""

    format: str
    effective: date
    dry_run: bool
    rows: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    closed: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    version: int | None = None

    def as_dict(self) -> dict:
        return {"format": self.format, "effective": self.effective.isoformat(),
                "dry_run": self.dry_run, "rows": self.rows, "added": len(self.added),
                "changed": len(self.changed), "unchanged": self.unchanged,
                "closed": len(self.closed), "rejected": len(self.rejects),
                "version": self.version, "rejects": [asdict(r) for r in self.rejects]}


# --- export -------------------------------------------------------------------------------------
def registry_on(session, on: date, under: str | None = None) -> list[Grid]:
    registry = load(session, on)
    if under is not None and under not in registry:
        raise NotFound(f"no grid {under} on {on}", code="grid_not_found", field="under")
    return registry.walk(under)


def export_grids(session, fmt: str, on: date, under: str | None = None) -> str:
    """The registry (or the subtree ``under``) valid on ``on`` as GeoJSON or CSV text."""
    _check_format(fmt)
    grids = registry_on(session, on, under)
    if fmt == "csv":
        return gridlib.export_csv(grids)
    return json.dumps(gridlib.export_geojson(grids), ensure_ascii=False)


# --- import -------------------------------------------------------------------------------------
def import_grids(session, fmt: str, data, effective: date, *, replace: bool = False,
                 under: str | None = None, dry_run: bool = False,
                 progress: StageProgress | None = None,
                 every: int = gridlib.PROGRESS_EVERY) -> ImportReport:
    """Import ``data`` (GeoJSON text or object, or CSV text) into the registry in the caller's
    transaction; the caller commits (or not, for a dry run)."""
    _check_format(fmt)
    # Taken first: the row lock makes concurrent imports queue.
    version = None if dry_run else lock_version(session)
    versions = _versions(session)
    # Validated when they were imported: trusted here.
    current = GridRegistry([g for rows in versions.values() for _row, g in rows
                            if g.valid_on(effective)])
    if under is not None and under not in current:
        raise ValidationError(f"no grid {under} on {effective}", code="unknown_grid",
                              field="under")
    known = {g.code: g for g in current}
    check = (lambda done, total: progress("check", done, total)) if progress else None
    kept, rejects = _parse(fmt, data, check, every, known)
    report = ImportReport(fmt, effective, dry_run)
    report.rows = len(kept) + len({r.row for r in rejects})
    in_file = {g.code for g in kept} | {r.code for r in rejects if r.code}
    scope = {g.code for g in current.walk(under)} if under is not None else set(known)
    closing = scope - in_file if replace else set()
    kept, more = _check_against_registry(kept, current, closing, under)
    plan = _plan(kept, versions, effective, bool(versions))
    report.rejects = sorted(rejects + more + plan.rejects, key=lambda r: (r.row, r.code or ""))
    report.added, report.changed, report.unchanged = plan.added, plan.changed, plan.unchanged
    report.closed = sorted(closing)
    if dry_run:
        return report
    closed_rows = [row for code in report.closed for row, _grid in versions[code]]
    _write(session, plan, closed_rows, effective, progress, every)
    if plan.added or plan.changed or closed_rows:
        version.version += 1  # every instance reloads
    report.version = version.version
    return report


# --- the RPC side: options from the API, admin only -------------------------------------------
def _require_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise Forbidden("only an administrator may import or export the grid registry",
                        code="forbidden_role")


def import_request(uow, fmt: str, data, options: dict, principal: Principal) -> dict:
    _require_admin(principal)
    effective = parse_date(options.get("effective"), "effective", local_today(uow.now))
    return import_grids(uow.session, fmt, data, effective,
                        replace=bool(options.get("replace")), under=options.get("under") or None,
                        dry_run=bool(options.get("dry_run"))).as_dict()


def export_request(uow, fmt: str, filters: dict, principal: Principal) -> str:
    _require_admin(principal)
    on = parse_date(filters.get("on"), "on", local_today(uow.now))
    return export_grids(uow.session, fmt, on, filters.get("under") or None)


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValidationError(f"format must be one of {FORMATS}", code="invalid_value",
                              field="format")


def _parse(fmt, data, progress, every, known):
    if fmt == "csv":
        if not isinstance(data, str):
            raise ValidationError("CSV data must be text", code="bad_file", field="data")
        header = data.lstrip("\ufeff").split("\n", 1)[0]
        if "code" not in [h.strip() for h in header.split(",")]:
            raise ValidationError("the CSV header has no code column", code="bad_file",
                                  field="data")
        return gridlib.import_csv(data, progress, every, known)
    try:
        kept, rejects = gridlib.import_geojson(data, progress, every, known)
    except ValueError as exc:  # text that is not JSON at all
        raise ValidationError(f"not GeoJSON: {exc}", code="bad_file", field="data") from None
    if rejects and rejects[0].reason == "bad_file":
        raise ValidationError(rejects[0].detail, code="bad_file", field="data")
    return kept, rejects


Version = tuple[GridNode, Grid]


def _versions(session) -> dict[str, list[Version]]:
    """Every version of every code with its row, oldest first."""
    rows = session.scalars(select(GridNode)).all()
    out: dict[str, list[Version]] = {}
    for row, grid in zip(rows, grids_from_rows(rows)):
        out.setdefault(row.code, []).append((row, grid))
    for items in out.values():
        items.sort(key=lambda v: (v[0].valid_from or date.min, v[0].id or 0))
    return out


def _check_against_registry(kept: list[Grid], current: GridRegistry, closing: set[str],
                            under: str | None) -> tuple[list[Grid], list[Reject]]:
    """Rows whose parent this import closes are refused, and their children in the file with
    them; so are rows outside ``under`` (their grids stay as they are)."""
    by_code = {g.code: g for g in kept}
    refused: dict[str, tuple[str, str]] = {}

    def inside(code: str) -> bool:
        seen = set()
        while code is not None and code not in seen:
            if code == under:
                return True
            seen.add(code)
            grid = by_code.get(code) or current.get(code)
            code = grid.parent_code if grid else None
        return False

    for g in kept:
        if g.parent_code in closing and g.parent_code not in by_code:
            refused[g.code] = ("unknown_parent", f"{g.parent_code} is closed by this import")
        elif under is not None and not inside(g.code):
            refused[g.code] = ("outside_scope", f"not inside {under}")
    changed = True
    while changed:
        changed = False
        for g in kept:
            if g.code not in refused and refused.get(g.parent_code, ("",))[0] in (
                    "unknown_parent", "parent_rejected"):
                refused[g.code] = ("parent_rejected", f"parent {g.parent_code}")
                changed = True
    return ([g for g in kept if g.code not in refused],
            [Reject(g.row or 0, g.code, *refused[g.code]) for g in kept if g.code in refused]
            if refused else [])


@dataclass
class _Plan:
    new_rows: list[Grid] = field(default_factory=list)
    updates: list[tuple[GridNode, Grid]] = field(default_factory=list)  # (row, new content)
    closes: list[tuple[GridNode, date]] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    rejects: list[Reject] = field(default_factory=list)


def _plan(kept: list[Grid], versions: dict[str, list[Version]], effective: date,
          registry_has_grids: bool) -> _Plan:
    plan = _Plan()
    for grid in kept:
        latest, old = versions[grid.code][-1] if grid.code in versions else (None, None)
        if latest is None or (latest.valid_to is not None and latest.valid_to <= effective):
            start = grid.valid_from
            if start is None and registry_has_grids:
                start = effective
            if latest is not None and latest.valid_to is not None and (
                    start is None or start < latest.valid_to):
                start = max(latest.valid_to, effective)
            if not _fits(plan, grid, start):
                continue
            plan.new_rows.append(_with_validity(grid, start, grid.valid_to))
            plan.added.append(grid.code)
            continue
        if _same(old, grid) and old.valid_to == grid.valid_to:
            plan.unchanged += 1
            continue
        if _same(old, grid):  # only the end date moved
            if not _fits(plan, grid, latest.valid_from):
                continue
            plan.updates.append((latest, _with_validity(old, latest.valid_from, grid.valid_to)))
            plan.changed.append(grid.code)
            continue
        start = grid.valid_from if grid.valid_from and (
            latest.valid_from is None or grid.valid_from > latest.valid_from) else effective
        if not _fits(plan, grid, start):
            continue
        if latest.valid_from is not None and start <= latest.valid_from:
            # That version has not started yet (or starts today): replace it in place.
            plan.updates.append((latest, _with_validity(grid, latest.valid_from,
                                                        grid.valid_to)))
        else:
            plan.closes.append((latest, start))
            plan.new_rows.append(_with_validity(grid, start, grid.valid_to))
        plan.changed.append(grid.code)
    return plan


def _fits(plan: _Plan, grid: Grid, start: date | None) -> bool:
    if start is not None and grid.valid_to is not None and grid.valid_to <= start:
        plan.rejects.append(Reject(grid.row or 0, grid.code, "bad_validity",
                                   f"valid_to {grid.valid_to} is not after {start}"))
        return False
    return True


def _with_validity(grid: Grid, start: date | None, end: date | None) -> Grid:
    return Grid(grid.code, grid.name, grid.level, grid.parent_code, grid.boundary, grid.chief,
                list(grid.workers or []), start, end, grid.population)


def _same(a: Grid, b: Grid) -> bool:
    """Same grid apart from its validity (boundaries compared as shapes, not as text)."""
    if (a.name, a.level, a.parent_code, a.chief or None, list(a.workers or []),
            a.population) != (b.name, b.level, b.parent_code, b.chief or None,
                              list(b.workers or []), b.population):
        return False
    if a.boundary is None or b.boundary is None:
        return a.boundary is None and b.boundary is None
    return a.boundary.wkb == b.boundary.wkb or a.boundary.equals(b.boundary)


def _write(session, plan: _Plan, closed_rows: list[GridNode], effective: date,
           progress: StageProgress | None, every: int) -> None:
    total = len(plan.new_rows) + len(plan.updates) + len(plan.closes) + len(closed_rows)
    done = 0

    def step():
        nonlocal done
        done += 1
        if progress is not None and (done % every == 0 or done == total):
            progress("write", done, total)

    for row, end in plan.closes:
        row.valid_to = end
        step()
    for row in closed_rows:
        if row.valid_from is not None and row.valid_from >= effective:
            session.delete(row)  # a version that would only have started later
        elif row.valid_to is None or row.valid_to > effective:
            row.valid_to = effective
        step()
    for row, grid in plan.updates:
        fresh = row_from_grid(grid)
        for attr in ("name", "level", "parent_code", "boundary", "chief", "workers",
                     "population", "valid_from", "valid_to"):
            setattr(row, attr, getattr(fresh, attr))
        step()
    for i, grid in enumerate(plan.new_rows, start=1):
        session.add(row_from_grid(grid))
        if i % every == 0:
            session.flush()
        step()
    session.flush()
