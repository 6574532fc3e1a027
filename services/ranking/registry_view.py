"""Ranking's copy of the grid registry: sizes, names and neighbours, from dispatch's
``registry_published`` events (never from dispatch's tables).

How the registry reaches ranking
--------------------------------
Dispatch announces every new registry version as one ``registry_published`` event per county
(population, grid-cell count, and each grid's level, parent, population, cells and centroid; no
people). Ranking records those events with all the others and folds them here into
``registry_snapshot`` rows, so a rebuild from the recorded history rebuilds them too. When
ranking has never seen one (a fresh ranking database, or it started after dispatch announced),
its timer asks dispatch to announce again (``dispatch.publish_registry``, with a time limit).

Which version a period uses
---------------------------
A version is *complete* once all ``region_count`` of its events are in. A period is sized by the
latest complete version published before the period ended (sizes as they stood then); a period
that ended before the first announcement uses the earliest complete version.

Sizes (``sizes``)
-----------------
``{scope: {"population": int | None, "grid_cells": int}}`` with the read model's scope names:
a county as announced; a city or province the population the registry gives it, else the sum of
its counties', and the sum of their grid cells; a grid ``grid:<code>`` its own population and
its cell count (1 for a leaf grid, the leaves below it otherwise).

Neighbours (``neighbours``)
---------------------------
The ``nearest`` grids of the same kind (leaf grids with leaf grids, otherwise the same level)
whose centroids lie within ``within_km`` (``ranking.yaml`` → ``hotspots.neighbours``), nearest
first, equal distances by code. Distance between centroids, not shared edges: real grid maps
have gaps (rivers, hills, unmapped land) and inset boundaries, where "shares an edge" would miss
the obvious neighbours. The distance is along the sphere of the Earth's mean radius (within
0.5 % of the ellipsoid's); a k-d tree of the centroids on that sphere finds the nearest, so a
province of 50,000 grids takes a second, not the minutes of comparing grids pairwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select

from services.common.workdays import as_utc
from services.ranking.models import RegistrySnapshot

EVENT = "registry_published"
EARTH_RADIUS_KM = 6371.0088   # mean radius (IUGG)


@dataclass
class RegistryView:
    """One complete registry version: regions (counties and their ancestors) and grids."""

    version: int | None = None
    published_at: datetime | None = None
    regions: dict[str, dict] = field(default_factory=dict)
    grids: dict[str, dict] = field(default_factory=dict)

    def name(self, scope: str) -> str | None:
        if scope.startswith("grid:"):
            return (self.grids.get(scope[5:]) or {}).get("name")
        return (self.regions.get(scope) or {}).get("name")

    def region_of(self, grid_code: str) -> str | None:
        """The county a grid belongs to."""
        return (self.grids.get(grid_code) or {}).get("region_code")


# --- folding the recorded history -------------------------------------------------------------

def record(session, rows) -> int:
    """Fold the ``registry_published`` rows among recorded events into snapshots (an announced
    version and county is stored once; announcing again overwrites it with the same data)."""
    count = 0
    for row in rows:
        if row.event_type != EVENT:
            continue
        p = row.payload
        data = {k: p.get(k) for k in ("name", "level", "population", "grid_cells", "ancestors",
                                      "grids")}
        snap = session.get(RegistrySnapshot, (int(p["version"]), p["region_code"]))
        if snap is None:
            session.add(RegistrySnapshot(version=int(p["version"]), region_code=p["region_code"],
                                         region_count=int(p["region_count"]),
                                         published_at=as_utc(row.occurred_at), data=data))
        else:
            snap.region_count, snap.data = int(p["region_count"]), data
            snap.published_at = min(as_utc(snap.published_at), as_utc(row.occurred_at))
        session.flush()
        count += 1
    return count


def clear(session) -> None:
    session.execute(delete(RegistrySnapshot))


def has_any(session) -> bool:
    return session.scalars(select(RegistrySnapshot.version).limit(1)).first() is not None


# --- choosing and reading a version ---------------------------------------------------------

def _complete_versions(session) -> list[tuple[int, datetime]]:
    """(version, published_at) of complete versions, oldest first."""
    rows = session.execute(select(RegistrySnapshot.version, RegistrySnapshot.region_count,
                                  RegistrySnapshot.published_at)).all()
    counts: dict[int, list] = {}
    for version, expected, published in rows:
        entry = counts.setdefault(version, [0, expected, as_utc(published)])
        entry[0] += 1
        entry[2] = max(entry[2], as_utc(published))
    done = [(v, e[2]) for v, e in counts.items() if e[0] >= e[1]]
    return sorted(done, key=lambda x: (x[1], x[0]))


def choose_version(versions: list[tuple[int, datetime]], before: datetime | None) -> int | None:
    """The latest version published before ``before`` (None: the latest of all), else the
    earliest. ``versions`` oldest first."""
    if not versions:
        return None
    if before is None:
        return versions[-1][0]
    earlier = [v for v, at in versions if at < before]
    return earlier[-1] if earlier else versions[0][0]


def load(session, before: datetime | None = None) -> RegistryView:
    """The registry as it stood at ``before`` (see module doc); an empty view when ranking has
    no complete version."""
    versions = _complete_versions(session)
    version = choose_version(versions, before)
    if version is None:
        return RegistryView()
    snaps = session.scalars(select(RegistrySnapshot).where(
        RegistrySnapshot.version == version)).all()
    return build(version, dict(versions)[version], [(s.region_code, s.data) for s in snaps])


def build(version: int | None, published_at: datetime | None,
          counties: list[tuple[str, dict]]) -> RegistryView:
    """A view from the counties of one version (``(region_code, payload data)``). Pure."""
    view = RegistryView(version=version, published_at=published_at)
    totals: dict[str, dict] = {}
    for code, data in sorted(counties):
        view.regions[code] = {"name": data.get("name"), "level": data.get("level") or "county",
                              "population": data.get("population"),
                              "grid_cells": int(data.get("grid_cells") or 0)}
        for anc in data.get("ancestors") or []:
            view.regions.setdefault(anc["code"], {"name": anc.get("name"),
                                                  "level": anc.get("level"),
                                                  "population": anc.get("population"),
                                                  "grid_cells": None})
            total = totals.setdefault(anc["code"], {"population": 0, "grid_cells": 0,
                                                    "complete": True})
            if data.get("population") is None:
                total["complete"] = False
            total["population"] += data.get("population") or 0
            total["grid_cells"] += int(data.get("grid_cells") or 0)
        for g in data.get("grids") or []:
            view.grids[g["code"]] = dict(g, region_code=code)
    for code, total in totals.items():
        region = view.regions[code]
        region["grid_cells"] = total["grid_cells"]
        if region["population"] is None and total["complete"]:
            region["population"] = total["population"]
    return view


def sizes(view: RegistryView) -> dict[str, dict]:
    """``{scope: {"population", "grid_cells"}}`` in the read model's scope names."""
    out = {code: {"population": r["population"], "grid_cells": r["grid_cells"]}
           for code, r in view.regions.items()}
    for code, g in view.grids.items():
        out["grid:" + code] = {"population": g.get("population"), "grid_cells": g.get("cells")}
    return out


def _kind(grid: dict) -> str:
    return "leaf" if grid.get("cells") == 1 else str(grid.get("level"))


def _on_sphere(centroids):
    """Unit vectors of (lon, lat) points: the chord between two grows with their distance."""
    import numpy
    lon, lat = numpy.radians(numpy.asarray(centroids, dtype=float)).T
    return numpy.column_stack((numpy.cos(lat) * numpy.cos(lon), numpy.cos(lat) * numpy.sin(lon),
                               numpy.sin(lat)))


def _arc_km(chords) -> list[float]:
    """Distances along the sphere of chords between unit vectors (inf stays inf)."""
    import numpy
    chords = numpy.asarray(chords, dtype=float)
    arcs = 2 * EARTH_RADIUS_KM * numpy.arcsin(numpy.minimum(chords / 2, 1.0))
    return numpy.where(numpy.isfinite(chords), arcs, numpy.inf).tolist()


def neighbours(view: RegistryView, cfg: dict, codes=None) -> dict[str, list[str]]:
    """``{grid_code: [neighbour codes, nearest first]}`` for ``codes`` (default: every grid);
    see the module doc. Pure."""
    nc = (cfg.get("hotspots", cfg).get("neighbours") or {})
    nearest, within = int(nc.get("nearest", 6)), float(nc.get("within_km", 15))
    wanted = sorted(codes if codes is not None else view.grids)
    out: dict[str, list[str]] = {code: [] for code in wanted}
    if nearest <= 0 or within <= 0:
        return out
    members: dict[str, list[str]] = {}   # placed grids by kind
    for code, g in sorted(view.grids.items()):
        if g.get("centroid"):
            members.setdefault(_kind(g), []).append(code)
    asked: dict[str, list[str]] = {}
    for code in wanted:
        g = view.grids.get(code)
        if g and g.get("centroid"):
            asked.setdefault(_kind(g), []).append(code)
    for kind, codes_of_kind in asked.items():
        if len(members[kind]) > 1:
            out.update(_nearest_among(members[kind], [view.grids[c]["centroid"]
                                                      for c in members[kind]],
                                      codes_of_kind, nearest, within))
    return out


def _nearest_among(members: list[str], centroids, asked: list[str], nearest: int,
                   within: float) -> dict[str, list[str]]:
    """The ``nearest`` members within ``within`` km of each asked member, ties by code."""
    # Imported here: numpy and scipy are a fifth of ranking's memory, and only hot spots
    # need them.
    from scipy.spatial import KDTree
    points = _on_sphere(centroids)
    tree = KDTree(points)
    index = {code: i for i, code in enumerate(members)}
    limit = 2 * math.sin(min(within / (2 * EARTH_RADIUS_KM), math.pi / 2)) * (1 + 1e-9)
    rows = [index[code] for code in asked]
    # + 2: a grid finds itself too, and the one past the cut shows whether it ties
    k = min(nearest + 2, len(members))
    chords, found = tree.query(points[rows], k=k, distance_upper_bound=limit)
    out = {}
    for code, i, arcs, found_list in zip(asked, rows, _arc_km(chords), found.tolist()):
        while True:
            near = sorted((d, members[j]) for d, j in zip(arcs, found_list)
                          if j != i and d <= within)
            # The grids not found lie at least as far as the last found: when that one is no
            # farther than the last kept, one of them may tie with it (identical centroids
            # do this), so ask for more until the cut falls between two distances.
            if (len(found_list) >= len(members) or len(near) < nearest
                    or near[nearest - 1][0] < arcs[-1]):
                break
            more_chords, more_found = tree.query(points[i], k=min(2 * len(found_list),
                                                                  len(members)),
                                                 distance_upper_bound=limit)
            arcs, found_list = _arc_km(more_chords), more_found.tolist()
        out[code] = [other for _, other in near[:nearest]]
    return out
