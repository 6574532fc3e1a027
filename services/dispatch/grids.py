"""The grid registry (网格): a tree of grid cells with boundaries and named people.

A grid is a node of the tree, not only a division code: province 省 → city 市 → county/district
县/区 → township/street 乡镇/街道 → village/community 村/社区, plus custom nodes (parks and
development zones 园区/开发区) hung anywhere in the tree, e.g. ``PARK-360323-01`` inside a
township. Each grid names its chief (网格长) and workers (网格员).

Routing a point (``route_point``) returns the *deepest* grid whose boundary covers the point:

* depth is the grid's depth in the tree (a park under a township is deeper than the township);
  at equal depth a custom grid beats an administrative one (a park cut out of a village's area
  handles what happens in the park);
* boundaries are closed: a point on an edge is inside both grids sharing it. **Edge rule:**
  among equally deep candidates the smallest code (string order) wins, so the answer never
  depends on load order;
* with ``on`` given, only grids valid that day count (``valid_from <= on < valid_to``; a
  missing bound is open). With ``on=None`` validity is ignored.

Coordinates are WGS84 longitude/latitude. Rows of imports are numbered from 1 (the first
feature or the first CSV record after the header).
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Iterable, Mapping

import numpy as np
import shapely
from shapely import wkt as shapely_wkt
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape

from services.common import regions

LEVELS = ("province", "city", "county", "township", "village", "custom")
CUSTOM_CODE = re.compile(r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)+$")
MAX_CODE_LENGTH = 32  # grid_node.code column
PROGRESS_EVERY = 1000
# Name endings dropped to also match short forms ("芦溪" for 芦溪县); longest first.
NAME_SUFFIXES = ("街道办事处", "自治县", "街道", "社区", "居委会", "村委会", "省", "市", "县",
                 "区", "镇", "乡", "村")
CSV_FIELDS = ("code", "name", "level", "parent_code", "chief_id", "chief_name", "chief_phone",
              "workers", "valid_from", "valid_to", "population", "wkt")

Progress = Callable[[int, int], None]


@dataclass
class Grid:
    """A grid cell (网格) at any level, with its boundary and its named people."""

    code: str
    name: str
    level: str
    parent_code: str | None = None
    boundary: Polygon | MultiPolygon | None = None
    chief: dict | None = None  # 网格长 {id, name, phone}
    workers: list[dict] = field(default_factory=list)  # 网格员 [{id, name, phone}]
    valid_from: date | None = None
    valid_to: date | None = None  # first day no longer valid
    population: int | None = None
    row: int | None = field(default=None, compare=False, repr=False)  # where an import read it

    def valid_on(self, day: date | None) -> bool:
        if day is None:
            return True
        return ((self.valid_from is None or self.valid_from <= day)
                and (self.valid_to is None or day < self.valid_to))


@dataclass(frozen=True)
class Reject:
    """A row that could not be loaded: its 1-based position, its code if known, and why."""

    row: int
    code: str | None
    reason: str  # snake_case machine code
    detail: str = ""


# --- validation ---------------------------------------------------------------------------------
def _check_code(grid: Grid) -> tuple[str, str] | None:
    code = grid.code
    if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH:
        return "bad_code", f"code {code!r}"
    if code.isdigit():
        try:
            expected = regions.level_of(code)
        except ValueError:
            return "bad_code", f"{code} is not a 6, 9 or 12 digit division code"
        if grid.level != expected:
            return "level_mismatch", f"{code} is a {expected} code, not {grid.level}"
    elif not CUSTOM_CODE.match(code):
        return "bad_code", f"{code!r} is neither a division code nor like PARK-360323-01"
    elif grid.level != "custom":
        return "level_mismatch", f"{code} is a custom code, level must be custom"
    return None


def _check_fields(grid: Grid) -> tuple[str, str] | None:
    if grid.level not in LEVELS:
        return "bad_level", f"level {grid.level!r} not in {LEVELS}"
    problem = _check_code(grid)
    if problem:
        return problem
    if not isinstance(grid.name, str) or not grid.name.strip():
        return "missing_name", "name is empty"
    if grid.parent_code == grid.code:
        return "bad_parent", "a grid cannot be its own parent"
    for person in ([grid.chief] if grid.chief else []) + list(grid.workers or []):
        if not isinstance(person, dict) or not person.get("id") or not person.get("name"):
            return "bad_person", f"a chief or worker needs id and name: {person!r}"
    if grid.valid_from and grid.valid_to and grid.valid_to <= grid.valid_from:
        return "bad_validity", f"valid_to {grid.valid_to} is not after {grid.valid_from}"
    if grid.population is not None and (isinstance(grid.population, bool) or not isinstance(
            grid.population, int) or grid.population < 0):
        return "bad_population", f"population {grid.population!r}"
    geom = grid.boundary
    if geom is not None:
        if not isinstance(geom, (Polygon, MultiPolygon)):
            return "bad_geometry", f"{geom.geom_type} is not a polygon"
        if geom.is_empty:
            return "bad_geometry", "empty polygon"
        minx, miny, maxx, maxy = geom.bounds
        if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
            return "bad_geometry", "coordinates are not WGS84 lon/lat"
        if not geom.is_valid:
            return "invalid_geometry", shapely.is_valid_reason(geom)
    return None


def _check_parent(grid: Grid, parent: Grid) -> tuple[str, str] | None:
    # Division codes nest by prefix; custom nodes may sit anywhere.
    if grid.code.isdigit() and parent.code.isdigit():
        if LEVELS.index(grid.level) <= LEVELS.index(parent.level):
            return "level_not_below_parent", f"a {grid.level} cannot sit under a {parent.level}"
        if not regions.within(grid.code, parent.code):
            return "code_outside_parent", f"{grid.code} is not inside {parent.code}"
    return None


def validate(grids: Iterable[Grid], rows: Iterable[int] | None = None,
             known: Mapping[str, Grid] | None = None) -> tuple[list[Grid], list[Reject]]:
    """Split ``grids`` into loadable grids and rejects (never raises on bad data).

    A grid whose parent is unknown or rejected is rejected too, so the kept set is a forest.
    ``known`` are grids already in the registry that rows may name as parent (an import of
    one county's villages under the townships already there); a row of the file wins.
    """
    known = known or {}
    grids = list(grids)
    rows = list(rows) if rows is not None else list(range(1, len(grids) + 1))
    rejects: list[Reject] = []
    first: dict[str, int] = {}
    candidates: list[tuple[int, Grid]] = []
    for row, grid in zip(rows, grids):
        problem = _check_fields(grid)
        if problem:
            rejects.append(Reject(row, grid.code if isinstance(grid.code, str) else None,
                                  *problem))
            continue
        if grid.code in first:
            rejects.append(Reject(row, grid.code, "duplicate_code",
                                  f"also in row {first[grid.code]}"))
            continue
        first[grid.code] = row
        candidates.append((row, grid))
    by_code = {g.code: (row, g) for row, g in candidates}
    state: dict[str, bool] = {}  # code -> accepted; resolved parents first

    def resolve(code: str) -> bool:
        chain = []
        while code not in state:
            if code in chain:  # a cycle: everything on it is rejected
                for c in chain[chain.index(code):]:
                    state[c] = False
                    rejects.append(Reject(by_code[c][0], c, "parent_cycle", "parent loop"))
                break
            chain.append(code)
            parent = by_code[code][1].parent_code
            if parent is None:
                state[code] = True
                break
            if parent not in by_code:
                if parent in known:
                    problem = _check_parent(by_code[code][1], known[parent])
                    state[code] = problem is None
                    if problem:
                        rejects.append(Reject(by_code[code][0], code, *problem))
                else:
                    state[code] = False
                    rejects.append(Reject(by_code[code][0], code, "unknown_parent",
                                          f"no grid {parent}"))
                break
            code = parent
        # Walk back down the chain: each accepted only when its parent is.
        for c in reversed(chain):
            if c in state:
                continue
            row, grid = by_code[c]
            if not state[grid.parent_code]:
                state[c] = False
                rejects.append(Reject(row, c, "parent_rejected", f"parent {grid.parent_code}"))
                continue
            problem = _check_parent(grid, by_code[grid.parent_code][1])
            state[c] = problem is None
            if problem:
                rejects.append(Reject(row, c, *problem))
        return state[chain[0]] if chain else state[code]

    kept = [g for row, g in candidates if resolve(g.code)]
    rejects.sort(key=lambda r: r.row)
    return kept, rejects


# --- the registry -------------------------------------------------------------------------------
class GridRegistry:
    """The grid tree in memory with a spatial index (STRtree) and a name index."""

    def __init__(self, grids: Iterable[Grid]):
        """Index already valid grids (use ``build`` for untrusted data)."""
        self._grids: dict[str, Grid] = {}
        self._children: dict[str | None, list[str]] = {}
        for g in grids:
            self._grids[g.code] = g
        for g in self._grids.values():
            self._children.setdefault(g.parent_code, []).append(g.code)
        for codes in self._children.values():
            codes.sort()
        self._depth = {code: self._depth_of(code) for code in self._grids}
        self._people: dict[str, dict] = {}
        for code in sorted(self._grids):
            g = self._grids[code]
            for person in ([g.chief] if g.chief else []) + list(g.workers or []):
                self._people.setdefault(str(person["id"]), person)
        self._build_spatial_index()
        self._build_name_index()

    @classmethod
    def build(cls, grids: Iterable[Grid]) -> tuple["GridRegistry", list[Reject]]:
        """Validate and index; bad rows come back as rejects instead of raising."""
        kept, rejects = validate(grids)
        return cls(kept), rejects

    def _depth_of(self, code: str) -> int:
        depth, parent = 0, self._grids[code].parent_code
        while parent is not None and parent in self._grids:
            depth, parent = depth + 1, self._grids[parent].parent_code
        return depth

    def _build_spatial_index(self) -> None:
        routable = [g for g in self._grids.values() if g.boundary is not None]
        routable.sort(key=lambda g: g.code)
        self._routable = routable
        geoms = np.array([g.boundary for g in routable], dtype=object)
        shapely.prepare(geoms)  # prepared polygons make the covers test several times faster
        self._tree = shapely.STRtree(geoms)
        # Preference of a candidate: deeper first, custom before administrative at equal
        # depth, then the smallest code (index in code order; ``routable`` is sorted).
        n = len(routable)
        depth = np.array([self._depth[g.code] for g in routable], dtype=np.int64)
        custom = np.array([g.level == "custom" for g in routable], dtype=np.int64)
        self._score = (depth * 2 + custom) * (n + 1) + (n - np.arange(n, dtype=np.int64))
        self._score_list = self._score.tolist()
        lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
        self._from = np.array([g.valid_from.toordinal() if g.valid_from else lo
                               for g in routable], dtype=np.int64)
        self._to = np.array([g.valid_to.toordinal() if g.valid_to else hi for g in routable],
                            dtype=np.int64)
        self._always_valid = bool(np.all(self._from == lo) and np.all(self._to == hi))

    def _build_name_index(self) -> None:
        # name -> [(code, is_full_name)]; lookups by every substring length present.
        self._names: dict[str, list[tuple[str, bool]]] = {}
        for code in sorted(self._grids):
            name = self._grids[code].name.strip()
            self._names.setdefault(name, []).append((code, True))
            for suffix in NAME_SUFFIXES:
                if name.endswith(suffix) and len(name) - len(suffix) >= 2:
                    self._names.setdefault(name[: -len(suffix)], []).append((code, False))
                    break
        self._name_lengths = sorted({len(n) for n in self._names}, reverse=True)

    # --- tree ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._grids)

    def __iter__(self):
        return iter(self._grids.values())

    def __contains__(self, code) -> bool:
        return code in self._grids

    def get(self, code: str | None) -> Grid | None:
        return self._grids.get(code) if code else None

    def roots(self) -> list[Grid]:
        return [self._grids[c] for c in self._children.get(None, [])]

    def children(self, code: str) -> list[Grid]:
        """Direct children in code order."""
        return [self._grids[c] for c in self._children.get(code, [])]

    def ancestors(self, code: str) -> list[Grid]:
        """Parent, grandparent, ... up to the root (nearest first); [] for a root or unknown."""
        out, grid = [], self._grids.get(code)
        while grid is not None and grid.parent_code in self._grids:
            grid = self._grids[grid.parent_code]
            out.append(grid)
        return out

    def walk(self, under: str | None = None) -> list[Grid]:
        """Every grid parent-first (children in code order); only ``under`` and its
        descendants when given (``[]`` for an unknown code)."""
        if under is not None and under not in self._grids:
            return []
        out, stack = [], [under] if under is not None else list(reversed(
            self._children.get(None, [])))
        while stack:
            code = stack.pop()
            out.append(self._grids[code])
            stack.extend(reversed(self._children.get(code, [])))
        return out

    def depth(self, code: str) -> int:
        return self._depth[code]

    def person(self, person_id: str | None) -> dict | None:
        """A grid chief or worker by id (the first grid in code order naming them)."""
        return self._people.get(str(person_id)) if person_id else None

    # --- routing ------------------------------------------------------------------------------
    def _valid_mask(self, idx: np.ndarray, on: date | None) -> np.ndarray:
        if on is None or self._always_valid:
            return np.ones(len(idx), dtype=bool)
        day = on.toordinal()
        return (self._from[idx] <= day) & (day < self._to[idx])

    def route_point(self, lon: float, lat: float, on: date | None = None) -> Grid | None:
        """The deepest grid covering (lon, lat) (see the module docstring), or None."""
        # Hot path: a Point and plain-list max beat numpy ufuncs on the few candidates.
        idx = self._tree.query(Point(lon, lat), predicate="intersects")
        if on is not None and not self._always_valid and len(idx):
            idx = idx[self._valid_mask(idx, on)]
        if len(idx) == 0:
            return None
        return self._routable[max(idx.tolist(), key=self._score_list.__getitem__)]

    def route_points(self, lons, lats, on: date | None = None) -> list[Grid | None]:
        """``route_point`` for many points at once (one index query; for imports and batches)."""
        pts = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        out: list[Grid | None] = [None] * len(pts)
        if len(pts) == 0:
            return out
        pt_idx, geom_idx = self._tree.query(pts, predicate="intersects")
        keep = self._valid_mask(geom_idx, on)
        pt_idx, geom_idx = pt_idx[keep], geom_idx[keep]
        if len(pt_idx) == 0:
            return out
        # Best candidate per point: sort by (point, score) and take each point's last row.
        order = np.lexsort((self._score[geom_idx], pt_idx))
        pt_sorted, geom_sorted = pt_idx[order], geom_idx[order]
        last = np.r_[pt_sorted[1:] != pt_sorted[:-1], True]
        for p, g in zip(pt_sorted[last], geom_sorted[last]):
            out[p] = self._routable[g]
        return out

    def route_address(self, text: str, on: date | None = None) -> Grid | None:
        """The grid an address names, e.g. "芦溪县宣风镇某村" -> 宣风镇.

        Every grid name (and its short form without 县/镇/村..., as in "萍乡芦溪") found in the
        text is a candidate. A candidate scores the characters of text covered by names along
        its own chain (itself and its ancestors), so "芦溪县宣风镇" prefers the 宣风镇 under
        芦溪县 over a namesake elsewhere; then the deeper grid wins. A match inside a longer
        match is ignored ("芦溪" inside "芦溪镇") and a bare short form means the shallowest
        grid of that short name ("芦溪" is 芦溪县). Equal best candidates that disagree give
        their deepest common ancestor (or None).
        """
        if not text:
            return None
        text = re.sub(r"\s+", "", text)
        spans: list[tuple[int, int, str, bool]] = []
        for start in range(len(text)):
            for length in self._name_lengths:
                piece = text[start:start + length]
                if len(piece) == length and piece in self._names:
                    for code, full in self._names[piece]:
                        if self._grids[code].valid_on(on):
                            spans.append((start, start + length, code, full))
        # Drop matches strictly inside a longer one.
        spans = [s for s in spans if not any(
            o[0] <= s[0] and s[1] <= o[1] and (o[1] - o[0]) > (s[1] - s[0]) for o in spans)]
        # A bare short form names the larger unit: "芦溪" is 芦溪县, not 芦溪镇.
        shallowest: dict[tuple[int, int], int] = {}
        for start, end, code, full in spans:
            if not full:
                key = (start, end)
                shallowest[key] = min(shallowest.get(key, 1 << 30), self._depth[code])
        spans = [s for s in spans if s[3] or self._depth[s[2]] == shallowest[(s[0], s[1])]]
        if not spans:
            return None
        covered: dict[str, set[int]] = {}
        for start, end, code, _full in spans:
            covered.setdefault(code, set()).update(range(start, end))

        def score(code: str) -> tuple[int, int]:
            chars: set[int] = set()
            for c in [code] + [g.code for g in self.ancestors(code)]:
                chars |= covered.get(c, set())
            return len(chars), self._depth[code]

        scored = sorted(((score(c), c) for c in covered), reverse=True)
        best = [c for s, c in scored if s == scored[0][0]]
        if len(best) == 1:
            return self._grids[best[0]]
        return self._common_ancestor(best)

    def _common_ancestor(self, codes: list[str]) -> Grid | None:
        chains = [[c] + [g.code for g in self.ancestors(c)] for c in codes]
        shared = set(chains[0]).intersection(*map(set, chains[1:]))
        for code in chains[0]:
            if code in shared:
                return self._grids[code]
        return None


# --- GeoJSON ------------------------------------------------------------------------------------
def _report(progress: Progress | None, done: int, total: int, every: int) -> None:
    if progress is not None and (done % every == 0 or done == total):
        progress(done, total)


def _date(value) -> date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _population(value) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return int(value)
    raise ValueError(f"population {value!r}")


def _workers(value) -> list[dict]:
    if value in (None, ""):
        return []
    items = json.loads(value) if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ValueError("workers must be a JSON list")
    return items


def _chief(props: dict) -> dict | None:
    if not props.get("chief_id"):
        return None
    return {"id": str(props["chief_id"]), "name": props.get("chief_name") or "",
            "phone": props.get("chief_phone") or None}


def _grid_from_props(props: dict, boundary, row: int | None = None) -> Grid:
    parent = props.get("parent_code")
    return Grid(code=str(props.get("code") or ""), name=str(props.get("name") or ""),
                level=str(props.get("level") or ""),
                parent_code=str(parent) if parent not in (None, "") else None,
                boundary=boundary, chief=_chief(props), workers=_workers(props.get("workers")),
                valid_from=_date(props.get("valid_from")), valid_to=_date(props.get("valid_to")),
                population=_population(props.get("population")), row=row)


def _props(grid: Grid) -> dict:
    chief = grid.chief or {}
    return {"code": grid.code, "name": grid.name, "level": grid.level,
            "parent_code": grid.parent_code, "chief_id": chief.get("id"),
            "chief_name": chief.get("name"), "chief_phone": chief.get("phone"),
            "workers": json.dumps(list(grid.workers or []), ensure_ascii=False),
            "valid_from": grid.valid_from.isoformat() if grid.valid_from else None,
            "valid_to": grid.valid_to.isoformat() if grid.valid_to else None,
            "population": grid.population}


def import_geojson(data, progress: Progress | None = None, every: int = PROGRESS_EVERY,
                   known: Mapping[str, Grid] | None = None) -> tuple[list[Grid], list[Reject]]:
    """Grids from a GeoJSON FeatureCollection (dict or text), validated; ``(grids, rejects)``.

    ``progress(done, total)`` is called every ``every`` features and at the end; ``known`` as
    for ``validate``.
    """
    if isinstance(data, (str, bytes)):
        data = json.loads(data)
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        return [], [Reject(0, None, "bad_file", "not a GeoJSON FeatureCollection")]
    features = data.get("features") or []
    if not isinstance(features, list):
        return [], [Reject(0, None, "bad_file", "features is not a list")]
    features = [f if isinstance(f, dict) else {} for f in features]
    shapes = _shapes([f.get("geometry") for f in features])
    parsed, rows, rejects = [], [], []
    for i, (feature, boundary) in enumerate(zip(features, shapes), start=1):
        props = feature.get("properties")
        props = props if isinstance(props, dict) else {}
        if isinstance(boundary, Exception):
            rejects.append(Reject(i, props.get("code"), "bad_geometry", str(boundary)))
        else:
            try:
                parsed.append(_grid_from_props(props, boundary, i))
                rows.append(i)
            except (ValueError, TypeError) as exc:
                rejects.append(Reject(i, props.get("code"), "bad_value", str(exc)))
        _report(progress, i, len(features), every)
    kept, invalid = validate(parsed, rows, known)
    return kept, sorted(rejects + invalid, key=lambda r: r.row)


def _shapes(geoms: list) -> list:
    """Each GeoJSON geometry as a shapely geometry, None when absent, or the exception that
    says why it is malformed. Parsed in one call; only failures are parsed again one by one,
    for the message (and the leniency of ``shape``, which closes an open ring)."""
    out: list = [None] * len(geoms)
    idx = [i for i, g in enumerate(geoms) if g]
    try:
        parsed = list(shapely.from_geojson([json.dumps(geoms[i]) for i in idx],
                                           on_invalid="ignore"))
    except Exception:  # something even the lenient batch reader refuses: one by one
        parsed = [None] * len(idx)
    for i, geom in zip(idx, parsed):
        if geom is None:
            try:
                geom = shape(geoms[i])
            except Exception as exc:  # shapely raises several types for malformed geometry
                geom = exc
        out[i] = geom
    return out


def export_geojson(grids: Iterable[Grid]) -> dict:
    """A GeoJSON FeatureCollection (properties as ``import_geojson`` reads them)."""
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": _props(g),
         "geometry": mapping(g.boundary) if g.boundary is not None else None}
        for g in grids]}


# --- CSV ----------------------------------------------------------------------------------------
def import_csv(text: str, progress: Progress | None = None, every: int = PROGRESS_EVERY,
               known: Mapping[str, Grid] | None = None) -> tuple[list[Grid], list[Reject]]:
    """Grids from CSV with a header row (``CSV_FIELDS``): geometry as WKT in ``wkt``, or as
    GeoJSON geometry text in a ``geojson`` column instead."""
    # Real boundaries exceed csv's default 128 KiB field limit.
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    records = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    parsed, rows, rejects = [], [], []
    for i, rec in enumerate(records, start=1):
        try:
            boundary = _csv_boundary(rec)
        except Exception as exc:  # shapely's WKT reader raises GEOSException and others
            rejects.append(Reject(i, rec.get("code"), "bad_geometry", str(exc)))
        else:
            try:
                parsed.append(_grid_from_props(rec, boundary, i))
                rows.append(i)
            except (ValueError, TypeError) as exc:
                rejects.append(Reject(i, rec.get("code"), "bad_value", str(exc)))
        _report(progress, i, len(records), every)
    kept, invalid = validate(parsed, rows, known)
    return kept, sorted(rejects + invalid, key=lambda r: r.row)


def _csv_boundary(rec: dict):
    if (rec.get("wkt") or "").strip():
        return shapely_wkt.loads(rec["wkt"])
    if (rec.get("geojson") or "").strip():
        return shape(json.loads(rec["geojson"]))
    return None


def export_csv(grids: Iterable[Grid]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for g in grids:
        row = _props(g)
        row["wkt"] = g.boundary.wkt if g.boundary is not None else ""
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()
