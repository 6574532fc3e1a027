"""The grid registry as a nameko dependency: the tree and its spatial index live in memory,
loaded from the ``grid_node`` table and reloaded when another instance imports a new version."""
from __future__ import annotations

import logging
import time

from nameko.extensions import DependencyProvider
from shapely.geometry import mapping, shape
from sqlalchemy import delete, select

from services.common.unit_of_work import Database
from services.dispatch.grids import Grid, GridRegistry
from services.dispatch.models import GridNode, RegistryVersion

log = logging.getLogger(__name__)


def grid_from_row(row: GridNode) -> Grid:
    return Grid(code=row.code, name=row.name, level=row.level, parent_code=row.parent_code,
                boundary=shape(row.boundary) if row.boundary else None, chief=row.chief,
                workers=list(row.workers or []), valid_from=row.valid_from,
                valid_to=row.valid_to, population=row.population)


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


def load(session) -> GridRegistry:
    grids = [grid_from_row(r) for r in session.scalars(select(GridNode))]
    registry, rejects = GridRegistry.build(grids)
    if rejects:
        log.warning("grid registry loaded with %d rejected rows", len(rejects))
    return registry


def replace_all(session, grids: list[Grid]) -> int:
    """Replace the registry with ``grids`` and bump the version, in the caller's transaction."""
    session.execute(delete(GridNode))
    session.add_all(row_from_grid(g) for g in grids)
    version = session.get(RegistryVersion, 1)
    if version is None:
        version = RegistryVersion(id=1, version=0)
        session.add(version)
    version.version += 1
    return version.version


class Registry(DependencyProvider):
    """Gives workers the current in-memory ``GridRegistry`` (reloaded when its version moves)."""

    def setup(self):
        self._registry = None
        self._version = -1
        self._checked_at = 0.0
        # The bound Database of this container (not the service attribute: dependencies are
        # injected in no fixed order, so ``service.db`` may not be set yet).
        self._db = next(d for d in self.container.dependencies if isinstance(d, Database))

    def get_dependency(self, worker_ctx):
        # Look for a newer version at most once a second: an import elsewhere shows up within
        # a second, and routing does not pay a query per case.
        now = time.monotonic()
        if self._registry is None or now - self._checked_at > 1.0:
            with self._db.unit_of_work() as uow:
                version = current_version(uow.session)
                if version != self._version or self._registry is None:
                    self._registry = load(uow.session)
                    self._version = version
            self._checked_at = now
        return self._registry
