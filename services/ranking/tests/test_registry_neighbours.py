"""Hot-spot neighbours from the k-d tree equal the plain definition, worked out pair by pair:
the ``nearest`` grids of the same kind within ``within_km``, nearest first, equal distances by
code; grids sharing a centroid (ties the tree could return in any order) included."""
from __future__ import annotations

import math
import random

import pytest

from services.ranking import registry_view
from services.ranking.registry_view import EARTH_RADIUS_KM, RegistryView


def _km(a, b) -> float:
    """Haversine: the same sphere, a different formula from the tree's chords."""
    (lon1, lat1), (lon2, lat2) = (map(math.radians, p) for p in (a, b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def _pairwise(view: RegistryView, nearest: int, within: float) -> dict[str, list[str]]:
    out = {}
    for code, g in view.grids.items():
        kind = registry_view._kind(g)
        near = sorted((_km(g["centroid"], o["centroid"]), other)
                      for other, o in view.grids.items()
                      if other != code and registry_view._kind(o) == kind)
        out[code] = [other for d, other in near if d <= within][:nearest]
    return out


def _view(seed: int, n: int) -> RegistryView:
    rnd = random.Random(seed)
    view = RegistryView(version=1)
    spots = []
    for i in range(n):
        if spots and rnd.random() < 0.3:
            centroid = rnd.choice(spots)          # another grid's centroid, exactly
        else:
            centroid = [round(113.8 + rnd.random() * 0.4, 5), round(27.5 + rnd.random() * 0.3, 5)]
            spots.append(centroid)
        leaf = rnd.random() < 0.8
        view.grids[f"G{i:04d}"] = {"code": f"G{i:04d}", "level": "village" if leaf else "township",
                                   "cells": 1 if leaf else 4, "centroid": list(centroid),
                                   "region_code": "360323"}
    return view


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("nearest, within", [(6, 15.0), (3, 5.0), (10, 2.0)])
def test_the_tree_finds_what_comparing_every_pair_finds(seed, nearest, within):
    view = _view(seed, 300)
    cfg = {"neighbours": {"nearest": nearest, "within_km": within}}
    assert registry_view.neighbours(view, cfg) == _pairwise(view, nearest, within)


def test_many_grids_on_one_centroid_are_cut_by_code():
    view = RegistryView(version=1, grids={
        f"G{i:02d}": {"level": "village", "cells": 1, "centroid": [113.85, 27.63]}
        for i in range(40)})
    view.grids["FAR"] = {"level": "village", "cells": 1, "centroid": [113.90, 27.63]}
    near = registry_view.neighbours(view, {"neighbours": {"nearest": 6, "within_km": 15}})
    assert near["G17"] == ["G00", "G01", "G02", "G03", "G04", "G05"]
    assert near["FAR"] == ["G00", "G01", "G02", "G03", "G04", "G05"]


def test_only_the_asked_grids_and_unplaced_grids_have_none():
    view = _view(7, 50)
    view.grids["NOWHERE"] = {"level": "village", "cells": 1, "centroid": None}
    cfg = {"neighbours": {"nearest": 4, "within_km": 15}}
    asked = registry_view.neighbours(view, cfg, codes=["G0003", "NOWHERE", "UNKNOWN"])
    assert asked == {"G0003": registry_view.neighbours(view, cfg)["G0003"], "NOWHERE": [],
                     "UNKNOWN": []}
    assert asked["G0003"]
