"""The grid registry as a nameko dependency: the tree and its spatial index live in memory,
loaded from the ``grid_node`` table and reloaded when another instance imports a new version.

``grid_node`` keeps every version of a grid (``valid_from``/``valid_to``, redistricting 区划调整);
the in-memory registry holds the versions valid on the local date of the service clock, so it is
also reloaded when that date moves past midnight.
"""
from __future__ import annotations

import json
import logging
import time
import weakref
from datetime import date

import shapely
from eventlet.semaphore import Semaphore
from nameko.extensions import DependencyProvider
from shapely.geometry import mapping, shape
from sqlalchemy import delete, or_, select

from services.common import workdays
from services.common.config import policy
from services.common.unit_of_work import Database
from services.dispatch.grids import Grid, GridRegistry
from services.dispatch.models import GridNode, RegistryVersion

log = logging.getLogger(__name__)

# Databases (one per container) whose registry changed in this process: their Registry
# reloads on the next worker instead of within the second.
_CHANGED: "weakref.WeakSet[Database]" = weakref.WeakSet()


def changed_here(db: Database) -> None:
    """Call after committing an import: this instance routes with the new grids at once
    (other instances see the new version within a second)."""
    _CHANGED.add(db)


def grid_from_row(row: GridNode, boundary=None) -> Grid:
    if boundary is None and row.boundary:
        boundary = shape(row.boundary)
    return Grid(code=row.code, name=row.name, level=row.level, parent_code=row.parent_code,
                boundary=boundary, chief=row.chief, workers=list(row.workers or []),
                valid_from=row.valid_from, valid_to=row.valid_to, population=row.population)


def grids_from_rows(rows: list[GridNode]) -> list[Grid]:
    """``grid_from_row`` for many rows, the boundaries parsed in one call (several times
    faster than one ``shape`` each on a large registry)."""
    with_boundary = [i for i, r in enumerate(rows) if r.boundary]
    shapes = shapely.from_geojson([json.dumps(rows[i].boundary) for i in with_boundary]) \
        if with_boundary else []
    boundaries = dict(zip(with_boundary, shapes))
    return [grid_from_row(r, boundaries.get(i)) for i, r in enumerate(rows)]


def row_from_grid(grid: Grid) -> GridNode:
    return GridNode(code=grid.code, name=grid.name, level=grid.level,
                    parent_code=grid.parent_code,
                    boundary=mapping(grid.boundary) if grid.boundary is not None else None,
                    chief=grid.chief, workers=list(grid.workers or []),
                    valid_from=grid.valid_from, valid_to=grid.valid_to,
                    population=grid.population)


def current_version(session) -> int:
    row = session.get(RegistryVersion, 1)
    return row.version if row else 0


def local_today(now) -> date:
    """The registry's date for an instant: the local date of the policy's time zone."""
    return now.astimezone(workdays.zone_of(policy().data.get("timezone"))).date()


def load(session, on: date) -> GridRegistry:
    """The registry as it stands on ``on``: one version per grid, those valid that day."""
    query = select(GridNode).where(
        or_(GridNode.valid_from.is_(None), GridNode.valid_from <= on),
        or_(GridNode.valid_to.is_(None), GridNode.valid_to > on))
    grids = grids_from_rows(session.scalars(query).all())
    registry, rejects = GridRegistry.build(grids)
    if rejects:
        log.warning("grid registry of %s loaded with %d rejected rows", on, len(rejects))
    return registry


def lock_version(session) -> RegistryVersion:
    """The registry version row, locked: imports of the registry queue behind each other."""
    version = session.scalars(select(RegistryVersion).where(RegistryVersion.id == 1)
                              .with_for_update()).first()
    if version is None:
        version = RegistryVersion(id=1, version=0)
        session.add(version)
    return version


def bump_version(session) -> int:
    """Move the registry version on: every instance reloads its registry."""
    version = lock_version(session)
    version.version += 1
    return version.version


def replace_all(session, grids: list[Grid]) -> int:
    """Replace the registry with ``grids`` and bump the version, in the caller's transaction
    (the demo seed; history is dropped: use ``grid_import.import_grids`` to keep it)."""
    session.execute(delete(GridNode))
    session.add_all(row_from_grid(g) for g in grids)
    return bump_version(session)


class Registry(DependencyProvider):
    """Gives workers the current in-memory ``GridRegistry`` (reloaded when its version moves or
    the local date of the service clock changes)."""

    def setup(self):
        self._reloading = Semaphore(1)
        self._registry = None
        self._version = -1
        self._day = None
        self._checked_at = 0.0
        # The bound Database of this container (not the service attribute: dependencies are
        # injected in no fixed order, so ``service.db`` may not be set yet).
        self._db = next(d for d in self.container.dependencies if isinstance(d, Database))

    def get_dependency(self, worker_ctx):
        # Look for a newer version at most once a second: an import elsewhere shows up within
        # a second, and routing does not pay a query per case.
        now = time.monotonic()
        changed = self._db in _CHANGED
        new_day = local_today(self._db.clock.now()) != self._day
        if self._registry is None or changed or new_day or now - self._checked_at > 1.0:
            # One worker reloads; the others keep routing with the registry they have (at
            # midnight every worker would otherwise load the whole registry at once, each
            # holding the service's only thread for seconds). Only a worker with no registry
            # yet, or after an import in this instance, waits for the reload.
            if self._reloading.locked() and self._registry is not None and not changed:
                return self._registry
            with self._reloading:
                self._reload(now)
        return self._registry

    def _reload(self, now: float) -> None:
        _CHANGED.discard(self._db)
        with self._db.unit_of_work() as uow:
            version = current_version(uow.session)
            today = local_today(uow.now)
            if version != self._version or today != self._day or self._registry is None:
                self._registry, self._version, self._day = load(uow.session, today), version, today
        self._checked_at = now
