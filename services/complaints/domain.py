"""Pure intake rules (受理规则): what a valid submission is, what counts as a repeat, which
transitions a case may take. No database, no broker: plain values in, plain values out."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from services.common import workdays
from services.common.errors import Conflict, ValidationError, parse_date

CHANNELS = ("patrol", "hotline", "web", "app", "letter", "monitoring")
INCIDENTS = (None, "sudden", "mass")
OPEN_STATUSES = ("received", "accepted", "assigned", "in_progress", "resolved")
CLOSED_STATUSES = ("declined", "closed", "merged", "referred")
MAX_DESCRIPTION = 4000
MAX_MEDIA = 9
REPEAT_RADIUS_M = 200
EARTH_RADIUS_M = 6371000.0
MAX_RIVER = 60

_CODE = re.compile(r"^\d{6}(\d{3}(\d{3})?)?$")
_GRID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{3,31}$")


@dataclass(frozen=True)
class Submission:
    """A validated report or complaint, ready to become a case."""

    channel: str
    category: str
    categories: tuple[str, ...]
    priority: str
    description: str
    region_code: str
    grid_code: str | None
    lat: float | None
    lon: float | None
    address: str | None
    enterprise: str | None
    incident: str | None
    media: tuple[str, ...]
    received_at: datetime
    complainant: dict | None
    anonymous: bool
    river: str | None = None  # name or code of the river it is on (shared along the river)


def _text(cmd: dict, name: str, limit: int, required=False) -> str | None:
    value = cmd.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(f"{name} is required", code="missing_field", field=name)
        return None
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string", code="invalid_type", field=name)
    value = value.strip()
    if len(value) > limit:
        raise ValidationError(f"{name} is longer than {limit} characters", code="too_long",
                              field=name)
    return value


def _coordinate(cmd: dict, name: str, bound: float) -> float | None:
    value = cmd.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationError(f"{name} must be a number", code="invalid_type", field=name)
    try:
        number = float(value)
    except ValueError:
        raise ValidationError(f"{name} must be a number", code="invalid_type", field=name)
    if not math.isfinite(number) or abs(number) > bound:
        raise ValidationError(f"{name} is out of range", code="out_of_range", field=name)
    return number


def validate_submission(cmd: dict, policy: dict, now: datetime, default_region: str) -> Submission:
    """Check a submission against the rules; raise ValidationError naming the field at fault."""
    if not isinstance(cmd, dict):
        raise ValidationError("body must be a JSON object", code="invalid_body")
    channel = cmd.get("channel")
    if channel not in CHANNELS:
        raise ValidationError(f"channel must be one of {', '.join(CHANNELS)}",
                              code="unknown_channel", field="channel")
    categories = cmd.get("categories") or ([cmd["category"]] if cmd.get("category") else [])
    if not categories:
        raise ValidationError("category is required", code="missing_field", field="category")
    if not isinstance(categories, list) or len(categories) > 5:
        raise ValidationError("categories must be a list of at most 5 codes",
                              code="invalid_type", field="categories")
    for code in categories:
        if not isinstance(code, str) or code not in policy["categories"]:
            raise ValidationError(f"unknown category {code!r}", code="unknown_category",
                                  field="category")
    priority = cmd.get("priority") or "normal"
    if priority not in policy["priorities"]:
        raise ValidationError("priority must be one of " + ", ".join(policy["priorities"]),
                              code="invalid_value", field="priority")
    description = _text(cmd, "description", MAX_DESCRIPTION, required=True)
    address = _text(cmd, "address", 300)
    enterprise = _text(cmd, "enterprise", 200)
    river = _text(cmd, "river", MAX_RIVER)
    lat = _coordinate(cmd, "lat", 90)
    lon = _coordinate(cmd, "lon", 180)
    if (lat is None) != (lon is None):
        raise ValidationError("lat and lon go together", code="missing_field",
                              field="lon" if lon is None else "lat")
    grid_code = _text(cmd, "grid_code", 32)
    if grid_code is not None and not _GRID.match(grid_code):
        raise ValidationError("grid_code is malformed", code="invalid_value", field="grid_code")
    region_code = _text(cmd, "region_code", 12)
    if region_code is not None and not _CODE.match(region_code):
        raise ValidationError("region_code must be a 6, 9 or 12 digit division code",
                              code="invalid_value", field="region_code")
    if grid_code is None and lat is None and address is None and region_code is None:
        raise ValidationError("a location is required: lat/lon, address, grid_code or region_code",
                              code="missing_location", field="address")
    incident = cmd.get("incident")
    if incident not in INCIDENTS:
        raise ValidationError("incident must be sudden, mass or null", code="invalid_value",
                              field="incident")
    media = cmd.get("media") or []
    if not isinstance(media, list) or len(media) > MAX_MEDIA or not all(
            isinstance(m, str) and 0 < len(m) <= 500 for m in media):
        raise ValidationError(f"media must be a list of at most {MAX_MEDIA} references",
                              code="invalid_value", field="media")
    received_at = now
    if channel == "letter" and cmd.get("postmarked_on"):
        postmark = parse_date(cmd["postmarked_on"], "postmarked_on")
        if postmark > now.date() or postmark < now.date() - timedelta(days=366):
            raise ValidationError("postmarked_on is out of range", code="out_of_range",
                                  field="postmarked_on")
        received_at = datetime.combine(postmark, datetime.min.time(), tzinfo=now.tzinfo)
    complainant, anonymous = _complainant(cmd)
    if incident is not None:
        priority = "urgent"
    region = region_code or (grid_code[:6] if grid_code and grid_code[:6].isdigit() else None)
    return Submission(channel=channel, category=categories[0], categories=tuple(categories),
                      priority=priority, description=description,
                      region_code=region or default_region, grid_code=grid_code, lat=lat, lon=lon,
                      address=address, enterprise=enterprise, incident=incident,
                      media=tuple(media), received_at=received_at, complainant=complainant,
                      anonymous=anonymous, river=river)


def _complainant(cmd: dict) -> tuple[dict | None, bool]:
    raw = cmd.get("complainant")
    if raw is None:
        return None, True
    if not isinstance(raw, dict):
        raise ValidationError("complainant must be an object", code="invalid_type",
                              field="complainant")
    anonymous = bool(raw.get("anonymous", False))
    name = _text(raw, "name", 64)
    phone = _text(raw, "phone", 40)
    email = _text(raw, "email", 120)
    if email is not None and not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", email):
        raise ValidationError("email is malformed", code="invalid_value",
                              field="complainant.email")
    language = raw.get("language") or "zh-CN"
    if language not in ("zh-CN", "en"):
        raise ValidationError("language must be zh-CN or en", code="invalid_value",
                              field="complainant.language")
    if not (name or phone or email):
        return ({"language": language} if not anonymous else None), True
    return {"name": None if anonymous else name, "phone": phone, "email": email,
            "language": language}, anonymous


def normalise_enterprise(name: str | None) -> str | None:
    """The name as compared for repeats; None when nothing is left to compare (a name made of
    punctuation only must not match another such name)."""
    if not name:
        return None
    return re.sub(r"[\s()（）·,，.。]", "", name).lower() or None


def is_repeat(new: Submission, open_case: dict, window_days: int) -> bool:
    """Same problem at the same enterprise or place while the case is open (重复举报)."""
    if open_case["status"] not in OPEN_STATUSES:
        return False
    if open_case["category"] != new.category:
        return False
    if (new.received_at - open_case["received_at"]).days > window_days:
        return False
    name = normalise_enterprise(new.enterprise)
    if name is not None and name == normalise_enterprise(open_case.get("enterprise")):
        return True
    if new.lat is not None and open_case.get("lat") is not None:
        return distance_m(new.lat, new.lon, open_case["lat"], open_case["lon"]) <= REPEAT_RADIUS_M
    if new.address and open_case.get("address"):
        return new.address == open_case["address"]
    return False


def repeat_box(lat: float) -> tuple[float, float]:
    """Half-sides (degrees of latitude, of longitude) of a box around a point at ``lat`` that
    holds every point within REPEAT_RADIUS_M: the database narrows candidates by it, the exact
    distance decides. A degree of longitude shrinks towards the poles (at 53.5°N, 漠河, 200 m
    is over 0.003°), so the box widens with the latitude; 5 % to spare."""
    metres_per_degree = EARTH_RADIUS_M * math.pi / 180
    dlat = 1.05 * REPEAT_RADIUS_M / metres_per_degree
    shrink = math.cos(math.radians(min(89.0, abs(lat) + dlat)))
    return dlat, min(180.0, dlat / shrink)


# Cells of the intake locks: a point up to this latitude locks cells the size of the repeat
# box there (all of China, 漠河 included); beyond it, the whole city's lock.
LOCK_BAND_LAT = 60.0
_LOCK_CELL = (repeat_box(0)[0], repeat_box(LOCK_BAND_LAT + 1)[1])


def intake_locks(sub: Submission) -> list[str]:
    """The names an intake locks while it looks for the case it repeats and opens its own:
    any two submissions that ``is_repeat`` could join share at least one, so they take turns,
    while intakes that cannot be repeats of each other run side by side.

    Repeats share the city and the category, and then the enterprise, the address, or a point
    within REPEAT_RADIUS_M. For the point: a point locks the 2 x 2 cells around the cell
    corner nearest to it (on each axis, cells k and k + 1 with k = floor(x / size - 1/2)).
    Two points less than a cell apart on both axes get k that differ by at most one, so their
    blocks overlap; a cell is at least the repeat box's half-side, so points within the radius
    are that close. A submission with no place to compare never merges and locks nothing."""
    scope = f"intake:{sub.region_code[:4]}:{sub.category}"
    keys = set()
    name = normalise_enterprise(sub.enterprise)
    if name:
        keys.add(f"{scope}:enterprise:{name}")
    if sub.address:
        keys.add(f"{scope}:address:{sub.address}")
    if sub.lat is not None:
        # Near the band's edge or the antimeridian, a neighbour's cells may not be comparable:
        # every point there also takes the whole city's lock.
        if abs(sub.lat) > LOCK_BAND_LAT - 1 or abs(sub.lon) > 179:
            keys.add(scope)
        if abs(sub.lat) <= LOCK_BAND_LAT:
            i = math.floor(sub.lat / _LOCK_CELL[0] - 0.5)
            j = math.floor(sub.lon / _LOCK_CELL[1] - 0.5)
            keys.update(f"{scope}:cell:{i + a}:{j + b}" for a in (0, 1) for b in (0, 1))
    return sorted(keys)


def distance_m(lat1, lon1, lat2, lon2) -> float:
    r = EARTH_RADIUS_M
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


_TRANSITIONS = {
    "accept": ("received",),
    "decline": ("received",),
    "refer": ("received",),
    "assign": ("accepted", "assigned", "in_progress"),
    "resolve": ("assigned", "in_progress", "accepted"),
    "rate": ("resolved",),
}


def require_status(action: str, status: str) -> None:
    if status not in _TRANSITIONS[action]:
        raise Conflict(f"cannot {action} a case that is {status}", code="invalid_state",
                       field="status")


def case_number(region_code: str, received_at: datetime, serial: int) -> str:
    """Case number (案件编号): county code, receipt date, serial. Unique and readable by phone."""
    return f"{region_code[:6]}-{received_at:%Y%m%d}-{serial:06d}"


def is_division_code(code: str) -> bool:
    return bool(re.fullmatch(r"\d{6}", code or ""))


def validate_reading(reading: dict) -> dict:
    """An hourly-average reading from the online-monitoring feed (在线监测)."""
    if not isinstance(reading, dict):
        raise ValidationError("body must be a JSON object", code="invalid_body")
    out = {}
    for name, limit in (("enterprise", 200), ("outlet", 64), ("pollutant", 32)):
        out[name] = _text(reading, name, limit, required=True)
    for name in ("value", "limit"):
        value = reading.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
                value) or value < 0:
            raise ValidationError(f"{name} must be a non-negative number", code="invalid_value",
                                  field=name)
        out[name] = float(value)
    try:
        hour = datetime.fromisoformat(str(reading.get("hour")))
    except ValueError:
        raise ValidationError("hour must be an ISO date-time with offset", code="invalid_value",
                              field="hour")
    if hour.tzinfo is None:
        raise ValidationError("hour needs a UTC offset", code="invalid_value", field="hour")
    out["hour"] = hour.replace(minute=0, second=0, microsecond=0)
    region = reading.get("region_code")
    if not isinstance(region, str) or not _CODE.match(region):
        raise ValidationError("region_code is required", code="missing_field",
                              field="region_code")
    out["region_code"] = region
    out["lat"], out["lon"] = _coordinate(reading, "lat", 90), _coordinate(reading, "lon", 180)
    out["unit"] = _text(reading, "unit", 16)
    return out


# --- acceptance limit (受理时限) -------------------------------------------------------------------
@dataclass(frozen=True)
class AcceptanceWindow:
    """When intake must have decided a case: the due date as people read it, the instant it
    lapses (the end of that local working day), and when to warn that it is running out."""

    due: date
    deadline: datetime
    warn_at: datetime


def acceptance_window(rules: dict, start: datetime) -> AcceptanceWindow:
    """The acceptance limit of a case received (or referred in) at ``start``, from the region's
    policy: ``intake.accept_within`` in ``days`` (calendar) or ``working_days`` (Chinese working
    days), counted from the local date of ``start``, due at ``time_limits.end_of_day``; the
    warning at ``intake.accept_warn_at_fraction`` (default 0.8) of the way."""
    intake = rules.get("intake") or {}
    limit = intake.get("accept_within") or {"working_days": 15}
    if not isinstance(limit, dict) or len(limit) != 1 or next(iter(limit)) not in (
            "days", "working_days"):
        raise ValueError(f"policy intake.accept_within: days or working_days, not {limit!r}")
    unit, amount = next(iter(limit.items()))
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise ValueError(f"policy intake.accept_within: at least one day, not {amount!r}")
    fraction = intake.get("accept_warn_at_fraction", 0.8)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not (
            0 < fraction <= 1):
        raise ValueError(f"policy intake.accept_warn_at_fraction must be in (0, 1], "
                         f"not {fraction!r}")
    zone = workdays.zone_of(rules.get("timezone"))
    end_of_day = (rules.get("time_limits") or {}).get("end_of_day")
    start = workdays.as_utc(start)
    if unit == "working_days":
        deadline = workdays.add_working_days(start, amount, zone, end_of_day=end_of_day)
    else:
        day = start.astimezone(zone).date() + timedelta(days=amount)
        deadline = datetime.combine(day, workdays.end_of_day_time(end_of_day),
                                    tzinfo=zone).astimezone(timezone.utc)
    # Whole seconds: the instant is shown to people and kept in the database.
    warn_at = max(start, (start + (deadline - start) * fraction).replace(microsecond=0))
    return AcceptanceWindow(deadline.astimezone(zone).date(), deadline, warn_at)


@dataclass(frozen=True)
class AcceptanceCheck:
    """What the acceptance sweep does for one undecided case: alerts to raise now (``warning``,
    ``overdue``), the case's new flags, and when to look at it again (None: never)."""

    alerts: tuple[str, ...]
    warned: bool
    overdue: bool
    next_check_at: datetime | None


def acceptance_check(warn_at: datetime, deadline: datetime, warned: bool, overdue: bool,
                     now: datetime) -> AcceptanceCheck:
    """Each alert fires once. A case first looked at after its limit gets the overdue alert
    only: a warning then would say less, too late."""
    alerts = []
    if not warned and now >= warn_at:
        warned = True
        if now < deadline:
            alerts.append("warning")
    if not overdue and now >= deadline:
        warned = overdue = True
        alerts.append("overdue")
    next_check = None if overdue else (deadline if warned else warn_at)
    return AcceptanceCheck(tuple(alerts), warned, overdue, next_check)
