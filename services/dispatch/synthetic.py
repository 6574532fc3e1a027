"""A synthetic grid tree for benchmarks and tests: five levels of rectangles, ~n village cells.

Villages form an R x C lattice of 0.01-degree squares (C = ceil(sqrt(n)), R = ceil(n / C), so
R * C >= n); townships, counties and cities group b x b blocks of the level below (b is the
cube root of the lattice side), and one province holds everything. Codes use the unused
province prefix ``99`` so they never collide with real divisions.
"""
from __future__ import annotations

import math

import shapely

from services.dispatch.grids import Grid, GridRegistry

ORIGIN = (100.0, 30.0)  # lon, lat of the lattice's south-west corner
CELL = 0.01  # degrees
MAX_CELLS = 500_000  # keeps counties per city (b * b) within two code digits


def _lattice(n_cells: int) -> tuple[int, int, int]:
    cols = max(1, math.ceil(math.sqrt(n_cells)))
    rows = max(1, math.ceil(n_cells / cols))
    block = max(2, round(max(rows, cols) ** (1 / 3)))
    return rows, cols, block


def synthetic_grids(n_cells: int) -> list[Grid]:
    """The grids (province, cities, counties, townships, villages) in parent-first order."""
    if not 1 <= n_cells <= MAX_CELLS:
        raise ValueError(f"n_cells must be 1..{MAX_CELLS}")
    rows, cols, b = _lattice(n_cells)
    lon0, lat0 = ORIGIN

    def box(r0: int, c0: int, r1: int, c1: int):
        return shapely.box(lon0 + c0 * CELL, lat0 + r0 * CELL, lon0 + c1 * CELL,
                           lat0 + r1 * CELL)

    def person(code: str) -> dict:
        return {"id": f"chief-{code}", "name": f"网格长{code[-4:]}",
                "phone": f"138{int(code) % 10**8:08d}"}

    province = "990000"
    grids = [Grid(province, "合成省", "province", None, box(0, 0, rows, cols), person(province))]
    # Block sizes, in village cells, of a city, a county and a township.
    spans = {"city": b ** 3, "county": b ** 2, "township": b}
    seq: dict[str, int] = {}

    def child_code(parent: str, level: str) -> str:
        seq[parent] = seq.get(parent, 0) + 1
        k = seq[parent]
        if level == "city":
            return f"{parent[:2]}{k:02d}00"
        if level == "county":
            return f"{parent[:4]}{k:02d}"
        return f"{parent}{k:03d}"

    def split(parent: str, level: str, r0: int, c0: int, r1: int, c1: int) -> None:
        size = spans.get(level, 1)
        for r in range(r0, r1, size):
            for c in range(c0, c1, size):
                rr, cc = min(r + size, r1), min(c + size, c1)
                code = child_code(parent, level)
                name = {"city": "市", "county": "县", "township": "镇", "village": "村"}[level]
                grids.append(Grid(code, f"合成{name}{code}", level, parent, box(r, c, rr, cc),
                                  person(code)))
                nxt = {"city": "county", "county": "township", "township": "village"}.get(level)
                if nxt:
                    split(code, nxt, r, c, rr, cc)

    split(province, "city", 0, 0, rows, cols)
    return grids


def synthetic_registry(n_cells: int) -> GridRegistry:
    """A ``GridRegistry`` over ``synthetic_grids(n_cells)`` (trusted: no validation pass)."""
    return GridRegistry(synthetic_grids(n_cells))
