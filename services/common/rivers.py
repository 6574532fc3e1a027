"""Rivers (河流): which river a case is on, for sharing it along a river (信息共享).

A case names its river at intake (name, alias or code), or it is derived from the case's
location: the configured river line nearest to the point, within that river's buffer. Rivers
are listed in ``infra/config/rivers.yaml`` (path overridable with ``ENVGRID_RIVERS_CONFIG``).
One river may carry several names (萍水河 in Jiangxi is 渌水 in Hunan): ``key`` maps every
name of a configured river to one key, so an agreement listing either name matches.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from shapely.geometry import LineString, Point

from services.common import geo

CONFIG_FILE = Path(__file__).resolve().parents[2] / "infra" / "config" / "rivers.yaml"


@dataclass(frozen=True)
class River:
    code: str
    name: str
    aliases: tuple[str, ...]
    buffer_m: float
    line: LineString | None  # WGS84 lon/lat; None for a river known by name only


def _norm(text) -> str:
    return "".join(str(text or "").split()).casefold()


def load(path: str | os.PathLike | None = None) -> tuple[River, ...]:
    path = Path(path or os.environ.get("ENVGRID_RIVERS_CONFIG", CONFIG_FILE))
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out, seen = [], set()
    for item in data.get("rivers") or []:
        code, name = str(item.get("code") or "").strip(), str(item.get("name") or "").strip()
        if not code or not name:
            raise ValueError(f"{path}: every river needs a code and a name")
        names = {_norm(n) for n in (code, name, *(item.get("aliases") or []))}
        if names & seen:
            raise ValueError(f"{path}: {name}: a name or code is used by two rivers")
        seen |= names
        points = item.get("line") or []
        if points and len(points) < 2:
            raise ValueError(f"{path}: {name}: a line needs at least two points")
        buffer_m = float(item.get("buffer_m", 0))
        if buffer_m < 0:
            raise ValueError(f"{path}: {name}: buffer_m is negative")
        out.append(River(code, name, tuple(str(a) for a in item.get("aliases") or []),
                         buffer_m, LineString(points) if points else None))
    return tuple(out)


@functools.lru_cache(maxsize=1)
def configured() -> tuple[River, ...]:
    return load()


def resolve(text, rivers: tuple[River, ...] | None = None) -> River | None:
    """The configured river named (by code, name or alias) ``text``, or None."""
    wanted = _norm(text)
    if not wanted:
        return None
    for river in configured() if rivers is None else rivers:
        if wanted in {_norm(n) for n in (river.code, river.name, *river.aliases)}:
            return river
    return None


def key(text, rivers: tuple[River, ...] | None = None) -> str:
    """One key for every name of a river: its code when configured, else the bare text."""
    river = resolve(text, rivers)
    return river.code if river else _norm(text)


def river_at(lon, lat, rivers: tuple[River, ...] | None = None) -> River | None:
    """The river whose line passes within its buffer of (lon, lat); the nearest if several."""
    if lon is None or lat is None:
        return None
    project = geo.projector(float(lon), float(lat))
    origin = Point(0, 0)
    best = None
    for river in configured() if rivers is None else rivers:
        if river.line is None or river.buffer_m <= 0:
            continue
        metres = origin.distance(project(river.line)) * 1000
        if metres <= river.buffer_m and (best is None or metres < best[0]):
            best = (metres, river)
    return best[1] if best else None


def name_at(lon, lat) -> str | None:
    """The name of the river at a point (see ``river_at``), for a case that names none."""
    river = river_at(lon, lat)
    return river.name if river else None
