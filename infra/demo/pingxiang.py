"""Demo grid registry (网格) for 萍乡市 (360300), Jiangxi, and its Hunan neighbours.

Real division names: the city, its five county-level divisions and three real towns (镇) in
each. Everything else is illustrative: the 9- and 12-digit codes follow the statistical pattern
(towns 100-199 under the county code, villages 001-999 under the town) but are not the
official ones; village names, people and phone numbers are made up, deterministically.

Geometry is a set of lon/lat rectangles laid out like the real map (上栗县 north, 湘东区 west
and south-west, 安源区 in the middle, 芦溪县 east, 莲花县 south), with the real borders kept as
shared edges: 芦溪县 borders 湘东区 (lon 114.00, lat 27.40-27.55) and 安源区; the Hunan
neighbours 浏阳市 (north-west), 醴陵市 (west) and 攸县 (south-west) border 上栗县, 湘东区 and
莲花县. Towns sit strictly inside their county and villages inside their town. The city's
boundary is the union of its counties.

``python -m infra.demo.pingxiang`` writes ``infra/demo/pingxiang.geojson``.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import shapely
from shapely.geometry import Polygon

from services.dispatch.grids import Grid, export_geojson

CITY = "360300"
VALID_FROM = date(2024, 1, 1)
MARGIN = 0.005  # degrees between a village and its town's edge

# County-level divisions (县级行政区): code, name, boundary.
COUNTIES = [
    ("360302", "安源区", shapely.box(113.85, 27.55, 114.00, 27.75)),
    # L-shaped: the west, plus a southern strip reaching 芦溪县.
    ("360313", "湘东区", Polygon([(113.60, 27.40), (114.00, 27.40), (114.00, 27.55),
                                (113.85, 27.55), (113.85, 27.75), (113.60, 27.75)])),
    ("360321", "莲花县", shapely.box(113.80, 27.20, 114.10, 27.40)),
    ("360322", "上栗县", shapely.box(113.60, 27.75, 114.05, 27.90)),
    ("360323", "芦溪县", shapely.box(114.00, 27.40, 114.30, 27.75)),
]

# Resident population (常住人口) of the city and each county: round figures of the order of the
# 2020 census (the city about 1.8 million), illustrative. League tables normalise by these
# (infra/config/ranking.yaml, size.basis); the towns' and villages' figures are made up below.
POPULATION = {
    CITY: 1_805_000,
    "360302": 540_000,
    "360313": 343_000,
    "360321": 232_000,
    "360322": 426_000,
    "360323": 264_000,
}

# Towns (镇): code, name, box (lon0, lat0, lon1, lat1), and where their villages lie when not
# the whole box.
TOWNS = [
    ("360302100", "安源镇", (113.87, 27.57, 113.92, 27.63), None),
    ("360302101", "青山镇", (113.93, 27.57, 113.98, 27.63), None),
    ("360302102", "高坑镇", (113.87, 27.66, 113.98, 27.73), None),
    ("360313100", "湘东镇", (113.62, 27.60, 113.72, 27.72), None),
    ("360313101", "腊市镇", (113.74, 27.60, 113.83, 27.72), None),
    ("360313102", "麻山镇", (113.87, 27.42, 113.98, 27.53), None),
    ("360321100", "琴亭镇", (113.92, 27.25, 114.00, 27.35), None),
    ("360321101", "路口镇", (113.82, 27.22, 113.90, 27.38), None),
    ("360321102", "良坊镇", (114.02, 27.22, 114.08, 27.38), None),
    ("360322100", "上栗镇", (113.78, 27.77, 113.88, 27.88), None),
    ("360322101", "桐木镇", (113.62, 27.77, 113.74, 27.88), None),
    ("360322102", "福田镇", (113.90, 27.77, 114.03, 27.88), None),
    # The industrial park takes the north of 芦溪镇, its villages the south.
    ("360323100", "芦溪镇", (114.01, 27.58, 114.08, 27.74), (114.01, 27.58, 114.08, 27.68)),
    ("360323101", "宣风镇", (114.08, 27.50, 114.18, 27.65), None),
    ("360323104", "银河镇", (114.19, 27.60, 114.28, 27.73), None),
]

# Industrial park (工业园区) as a custom grid node inside a town.
PARKS = [("PARK-360323-01", "芦溪工业园区", "360323100", (114.02, 27.69, 114.06, 27.73))]

# Hunan neighbours (湖南省相邻县市), county level only, for joint enforcement (联合执法).
HUNAN = [
    ("430181", "浏阳市", shapely.box(113.20, 27.90, 113.80, 28.30)),
    ("430281", "醴陵市", shapely.box(113.30, 27.40, 113.60, 27.90)),
    ("430223", "攸县", shapely.box(113.30, 27.00, 113.80, 27.40)),
]

VILLAGE_NAMES = [
    "东岭村", "南塘村", "新田村", "石溪村", "枫林村", "桥头村", "上湾村", "下坊村", "竹园村",
    "长岗村", "高岭村", "龙泉村", "水口村", "塘边村", "茶园村", "杨家村", "黄泥村", "白竹村",
    "大路村", "柳溪村", "松山村", "清溪村", "梅塘村", "荷花村", "新屋村", "江口村", "金鸡村",
    "马岭村", "石门村", "樟树村",
]
SURNAMES = "刘李王张陈黄彭易钟周胡吴谢罗贺曾邓肖汤袁"
GIVEN = ["建华", "志强", "丽萍", "海燕", "国平", "小红", "文斌", "秀英", "春生", "卫东",
         "建平", "德华", "桂兰", "冬生", "晓东", "淑芬", "红梅", "雪梅", "永清", "运华",
         "敏", "军", "芳", "霞", "勇", "平"]
MOBILE_PREFIXES = ["133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
                   "157", "158", "159", "180", "181", "182", "183", "186", "187", "188", "189"]


def _digest(*parts: str) -> int:
    # md5 rather than hash(): the same person on every run and machine.
    return int(hashlib.md5("|".join(parts).encode()).hexdigest(), 16)


def person(code: str, role: str, index: int = 0) -> dict:
    """A made-up, deterministic person: ``gz-`` grid chief (网格长), ``gy-`` grid worker (网格员)."""
    h = _digest(code, role, str(index))
    name = SURNAMES[h % len(SURNAMES)] + GIVEN[(h // 97) % len(GIVEN)]
    phone = MOBILE_PREFIXES[(h // 9973) % len(MOBILE_PREFIXES)] + f"{(h // 99991) % 10**8:08d}"
    pid = f"{role}-{code.lower()}" + (f"-{index}" if role == "gy" else "")
    return {"id": pid, "name": name, "phone": phone}


def _workers(code: str, count: int = 2) -> list[dict]:
    return [person(code, "gy", i) for i in range(1, count + 1)]


def _population(code: str, lo: int, hi: int) -> int:
    return lo + _digest(code, "population") % (hi - lo)


def _villages(town_code: str, area: tuple, names: list[str]) -> list[Grid]:
    """Two villages side by side (west 001, east 002), sharing one edge, inset in the town."""
    lon0, lat0, lon1, lat1 = area
    lon0, lat0, lon1, lat1 = lon0 + MARGIN, lat0 + MARGIN, lon1 - MARGIN, lat1 - MARGIN
    mid = round((lon0 + lon1) / 2, 6)
    out = []
    for i, (a, b) in enumerate(((lon0, mid), (mid, lon1)), start=1):
        code = f"{town_code}{i:03d}"
        out.append(Grid(code=code, name=names[i - 1], level="village", parent_code=town_code,
                        boundary=shapely.box(a, lat0, b, lat1), chief=person(code, "gz"),
                        workers=_workers(code), valid_from=VALID_FROM,
                        population=_population(code, 1200, 4800)))
    return out


def demo_grids() -> list[Grid]:
    """The demo registry, parents before children."""
    counties = [Grid(code, name, "county", CITY, geom, person(code, "gz"), _workers(code, 1),
                     VALID_FROM, population=POPULATION[code]) for code, name, geom in COUNTIES]
    city = Grid(CITY, "萍乡市", "city", None, shapely.union_all([c.boundary for c in counties]),
                person(CITY, "gz"), [], VALID_FROM, population=POPULATION[CITY])
    grids = [city, *counties]
    names = iter(VILLAGE_NAMES)
    for code, name, box, village_area in TOWNS:
        grids.append(Grid(code, name, "township", code[:6], shapely.box(*box),
                          person(code, "gz"), _workers(code), VALID_FROM,
                          population=_population(code, 18000, 65000)))
        grids.extend(_villages(code, village_area or box, [next(names), next(names)]))
    for code, name, parent, box in PARKS:
        grids.append(Grid(code, name, "custom", parent, shapely.box(*box), person(code, "gz"),
                          _workers(code), VALID_FROM))
    for code, name, geom in HUNAN:
        grids.append(Grid(code, name, "county", None, geom, person(code, "gz"), [],
                          VALID_FROM))
    return grids


def write_geojson(path: str | Path | None = None) -> Path:
    path = Path(path or Path(__file__).with_name("pingxiang.geojson"))
    data = export_geojson(demo_grids())
    # One feature a line: readable diffs when the demo changes.
    lines = [json.dumps(f, ensure_ascii=False) for f in data["features"]]
    path.write_text('{"type": "FeatureCollection", "features": [\n' + ",\n".join(lines)
                    + "\n]}\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(f"wrote {write_geojson()}")
