"""What dispatch tells others about its grid registry, without any person in it.

* **Snapshot events** (``registry_published``): when the registry's version moves (an import, a
  seed), one event per county-level region carries the county's population and grid-cell count
  and, for every grid below it, its level, parent, population, cell count and centroid. Ranking
  sizes its league tables and finds hot-spot neighbours from these, so it never reads
  dispatch's tables and its read model can be rebuilt from its recorded history. A version is
  complete when ``region_count`` events of it have arrived.
* **The public map**: boundaries as GeoJSON with code, name, level and population only (no grid
  chief, no workers, no phone numbers), for the public dashboard.

Grid cells (网格数) of a region are its leaf grids: the grids below it that have no grid below
them (villages, parks). A leaf grid is one cell; a township counts the leaves under it.
"""
from __future__ import annotations

from shapely.geometry import mapping
from sqlalchemy import select

from services.common import events
from services.common.regions import prefix
from services.dispatch import registry as registry_store
from services.dispatch.grids import GridRegistry
from services.dispatch.models import RegistryVersion

COORD_DECIMALS = 5          # about a metre: enough for a centroid, small events
MAP_TOLERANCE = 0.0005      # degrees (~50 m) of boundary simplification on the public map


def _is_county(grid) -> bool:
    return grid.level == "county" and len(grid.code) == 6 and grid.code.isdigit()


def _descendants(registry: GridRegistry, code: str) -> list:
    out, stack = [], list(reversed(registry.children(code)))
    while stack:
        grid = stack.pop()
        out.append(grid)
        stack.extend(reversed(registry.children(grid.code)))
    return out


def _cells(registry: GridRegistry, code: str, memo: dict) -> int:
    if code not in memo:
        children = registry.children(code)
        memo[code] = sum(_cells(registry, c.code, memo) for c in children) if children else 1
    return memo[code]


def _centroid(grid) -> list[float] | None:
    if grid.boundary is None or grid.boundary.is_empty:
        return None
    point = grid.boundary.centroid
    return [round(point.x, COORD_DECIMALS), round(point.y, COORD_DECIMALS)]


def snapshot(registry: GridRegistry, version: int) -> list[dict]:
    """The ``registry_published`` payloads of one registry version (one per county). Pure."""
    counties = sorted((g for g in registry if _is_county(g)), key=lambda g: g.code)
    memo: dict[str, int] = {}
    out = []
    for county in counties:
        below = _descendants(registry, county.code)
        leaves = sum(1 for g in below if not registry.children(g.code))
        out.append({
            "version": version, "region_code": county.code, "region_count": len(counties),
            "name": county.name, "level": county.level, "population": county.population,
            "grid_cells": leaves,
            "ancestors": [{"code": a.code, "name": a.name, "level": a.level,
                           "population": a.population}
                          for a in registry.ancestors(county.code)],
            "grids": [{"code": g.code, "name": g.name, "level": g.level,
                       "parent_code": g.parent_code, "population": g.population,
                       "cells": _cells(registry, g.code, memo), "centroid": _centroid(g)}
                      for g in below],
        })
    return out


def publish(uow, force: bool = False) -> int:
    """Announce the registry if its version has not been announced yet (or ``force``); return
    how many events were emitted. The version row is locked, so of several dispatch instances
    one announces it."""
    query = select(RegistryVersion).where(RegistryVersion.id == 1)
    if uow.session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    row = uow.session.scalars(query).first()
    if row is None or (row.published_version == row.version and not force):
        return 0
    payloads = snapshot(registry_store.load(uow.session, registry_store.local_today(uow.now)),
                        row.version)
    for payload in payloads:
        uow.emit(events.REGISTRY_PUBLISHED, payload)
    row.published_version = row.version
    return len(payloads)


def public_map(registry: GridRegistry, region: str | None, level: str) -> dict:
    """Boundaries of the counties (``level`` "county") or of the leaf grids ("grid") in
    ``region`` (None: all) as a GeoJSON FeatureCollection: code, name, level, parent and
    population only."""
    within = prefix(region) if region else ""
    counties = [g for g in registry if _is_county(g) and g.code.startswith(within)]
    chosen = counties if level == "county" else [
        g for county in counties for g in _descendants(registry, county.code)
        if not registry.children(g.code)]
    features = []
    for grid in sorted(chosen, key=lambda g: g.code):
        if grid.boundary is None:
            continue
        geometry = grid.boundary.simplify(MAP_TOLERANCE, preserve_topology=True)
        features.append({"type": "Feature", "properties": {
            "code": grid.code, "name": grid.name, "level": grid.level,
            "parent_code": grid.parent_code, "population": grid.population},
            "geometry": mapping(geometry)})
    return {"type": "FeatureCollection", "features": features}
