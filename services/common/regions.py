"""Administrative division codes (GB/T 2260 and their statistical extensions).

Six digits name a province (``36`` + ``0000``), city (``3603`` + ``00``) or county (``360323``);
nine digits a township and twelve a village. A region *scope* is the significant prefix, so
"is this case inside my scope" is a prefix test.
"""
from __future__ import annotations

LEVELS = ("province", "city", "county", "township", "village")


def level_of(code: str) -> str:
    if len(code) == 12:
        return "village"
    if len(code) == 9:
        return "township"
    if len(code) != 6 or not code.isdigit():
        raise ValueError(f"not a division code: {code!r}")
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


def prefix(code: str) -> str:
    """The significant digits of a code: 360000 -> 36, 360300 -> 3603, 360323 -> 360323."""
    lvl = level_of(code)
    return {"province": code[:2], "city": code[:4]}.get(lvl, code)


def within(code: str, scope: str) -> bool:
    """True when ``code`` (any level) lies inside ``scope`` (any level, or ``*`` for all)."""
    if scope == "*":
        return True
    return bool(code) and code.startswith(prefix(scope))


def county_of(code: str) -> str:
    """The six-digit county-level code of any code at county level or below."""
    return code[:6]


def parent(code: str) -> str | None:
    lvl = level_of(code)
    if lvl == "village":
        return code[:9]
    if lvl == "township":
        return code[:6]
    if lvl == "county":
        return code[:4] + "00"
    if lvl == "city":
        return code[:2] + "0000"
    return None
