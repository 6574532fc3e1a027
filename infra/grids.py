"""Import and export the grid registry (网格) from the command line.

    python -m infra.grids import FILE [--format geojson|csv] [--effective 2027-01-01]
                                      [--replace] [--under CODE] [--dry-run] [--report PATH]
    python -m infra.grids export [FILE] [--format geojson|csv] [--on DATE] [--under CODE]

Works on the dispatch database directly (``DISPATCH_DATABASE_URL`` or the usual settings, or
``--database-url``), in one transaction; running dispatch instances pick the new registry up
within a second. Import shows a progress bar and writes every rejected row (row, code, reason,
detail) to ``FILE.rejects.csv`` unless ``--report`` names another file; rows are counted from 1
(the first feature, or the first record after the CSV header). "Today" is the services' clock
(``ENVGRID_CLOCK``). Exit status: 0 when every row
was taken, 1 when some were rejected (the others are imported unless ``--dry-run``), 2 when
the file could not be read at all.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session
from tqdm import tqdm

from services.common import config
from services.common.clock import clock_from_spec
from services.common.db import make_engine
from services.common.errors import DomainError
from services.dispatch import grid_import
from services.dispatch.registry import local_today


def _today() -> date:
    """Today as the services see it (``ENVGRID_CLOCK``, as in ``infra/nameko.yaml``)."""
    return local_today(clock_from_spec(os.environ.get("ENVGRID_CLOCK")).now())


def _format_of(path: Path, given: str | None) -> str:
    if given:
        return given
    return "csv" if path.suffix.lower() == ".csv" else "geojson"


class _Bars:
    """One tqdm bar per stage of the import (checking rows, writing them)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self.bars.get(stage)
        if bar is None:
            label = {"check": "checking rows", "write": "writing"}.get(stage, stage)
            bar = self.bars[stage] = tqdm(total=total, desc=label, unit=" rows", file=sys.stderr)
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def write_report(path: Path, rejects) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "code", "reason", "detail"])
        for r in rejects:
            writer.writerow([r.row, r.code or "", r.reason, r.detail])


def run_import(args, session) -> int:
    path = Path(args.file)
    fmt = _format_of(path, args.format)
    effective = args.effective or _today()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 2
    bars = _Bars(not args.quiet)
    try:
        report = grid_import.import_grids(
            session, fmt, text, effective,
            replace=args.replace, under=args.under, dry_run=args.dry_run, progress=bars)
    except DomainError as err:
        print(f"{path}: {err.message} ({err.code})", file=sys.stderr)
        return 2
    finally:
        bars.close()
    if not args.dry_run:
        session.commit()
    summary = report.as_dict()
    print(f"{path}: {summary['rows']} rows, {summary['added']} added, {summary['changed']} "
          f"changed, {summary['unchanged']} unchanged, {summary['closed']} closed, "
          f"{summary['rejected']} rejected; effective {summary['effective']}"
          + (" (dry run: nothing written)" if args.dry_run else ""))
    if not report.rejects:
        return 0
    target = Path(args.report) if args.report else path.with_name(path.name + ".rejects.csv")
    write_report(target, report.rejects)
    print(f"rejected rows written to {target}", file=sys.stderr)
    return 1


def run_export(args, session) -> int:
    on = args.on or _today()
    try:
        fmt = _format_of(Path(args.file), args.format) if args.file else (args.format or
                                                                          "geojson")
        text = grid_import.export_grids(session, fmt, on, args.under)
    except DomainError as err:
        print(f"{err.message} ({err.code})", file=sys.stderr)
        return 2
    if args.file:
        Path(args.file).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infra.grids", description=__doc__.split("\n")[0])
    p.add_argument("--database-url", help="the dispatch database (default: settings)")
    sub = p.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="import a GeoJSON or CSV file")
    imp.add_argument("file")
    imp.add_argument("--format", choices=grid_import.FORMATS)
    imp.add_argument("--effective", type=date.fromisoformat,
                     help="date the changes take effect (default: today, Beijing time)")
    imp.add_argument("--replace", action="store_true",
                     help="close grids of the registry (or of --under) missing from the file")
    imp.add_argument("--under", help="only grids inside this grid (its subtree)")
    imp.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    imp.add_argument("--report", help="where to write rejected rows (CSV)")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    exp = sub.add_parser("export", help="write the registry as GeoJSON or CSV")
    exp.add_argument("file", nargs="?", help="output file (default: standard output)")
    exp.add_argument("--format", choices=grid_import.FORMATS)
    exp.add_argument("--on", type=date.fromisoformat, help="the registry as on this date")
    exp.add_argument("--under", help="only this grid and the grids inside it")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    engine = make_engine(args.database_url or config.database_url("dispatch"))
    try:
        with Session(engine) as session:
            run = run_import if args.command == "import" else run_export
            return run(args, session)
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
