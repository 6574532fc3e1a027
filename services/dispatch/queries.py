"""Read side of dispatch: tasks for consoles and phones, grids for the gateway."""
from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import selectinload

from services.common.authz import Principal
from services.common.errors import NotFound, ValidationError
from services.common.regions import prefix
from services.dispatch import registry_public
from services.dispatch.handlers import OPEN, task_view, visible
from services.dispatch.models import Task


def get_task(uow, task_id: str, principal: Principal) -> dict:
    task = uow.session.get(Task, task_id)
    if task is None or not visible(task, principal):
        raise NotFound(f"no task {task_id}", code="task_not_found", field="task_id")
    return task_view(task, principal)


def list_tasks(uow, filters: dict, principal: Principal) -> list[dict]:
    """Open tasks, the overdue and the soon-due first (the dispatcher console's order)."""
    query = select(Task)
    if principal.scope != "*":
        query = query.where(Task.region_code.startswith(prefix(principal.scope)))
    status = filters.get("status")
    if status == "all":
        pass
    elif status:
        query = query.where(Task.status == status)
    else:
        query = query.where(Task.status.in_(OPEN + ("returned",)))
    if filters.get("grid_code"):
        query = query.where(Task.grid_code.startswith(str(filters["grid_code"])))
    if filters.get("region_code"):
        region = str(filters["region_code"])
        if not (region.isdigit() and len(region) == 6):
            raise ValidationError("region_code must be a six-digit division code",
                                  code="invalid_value", field="region_code")
        query = query.where(Task.region_code.startswith(prefix(region)))
    if filters.get("category"):
        query = query.where(Task.category == str(filters["category"]))
    if filters.get("overdue") in ("1", "true"):
        query = query.where(Task.deadline <= uow.now)
    if principal.role == "grid_worker":
        query = query.where(Task.assignee["id"].as_string() == principal.id)
    try:
        limit = min(max(int(filters.get("limit", 100)), 1), 1000)
    except (TypeError, ValueError):
        raise ValidationError("limit must be an integer", code="invalid_value", field="limit")
    # Each view shows the task's history: one more statement for the page, not one per task.
    tasks = uow.session.scalars(query.options(selectinload(Task.history))
                                .order_by(Task.deadline).limit(limit)).all()
    return [task_view(t, principal) for t in tasks if visible(t, principal)]


def grid_view(registry, code: str) -> dict | None:
    grid = registry.get(code)
    if grid is None:
        return None
    return {"code": grid.code, "name": grid.name, "level": grid.level,
            "parent_code": grid.parent_code, "chief": _person(grid.chief),
            "workers": [_person(w) for w in grid.workers or []],
            "population": grid.population}


def locate(registry, lon, lat, address) -> dict | None:
    """The lowest grid and its county for a point or an address, for intake to file a case in
    the right region before dispatch routes it."""
    grid = None
    if lon is not None and lat is not None:
        grid = registry.route_point(float(lon), float(lat))
    if grid is None and address:
        grid = registry.route_address(str(address))
    if grid is None:
        return None
    return {"grid_code": grid.code, "region_code": county_of(registry, grid)}


def county_of(registry, grid) -> str | None:
    """The county (six-digit division code) a grid lies in."""
    return next((g.code for g in [grid, *registry.ancestors(grid.code)]
                 if g.code.isdigit() and len(g.code) == 6), None)


def find_person(registry, person_id: str | None) -> dict | None:
    """A grid chief or worker by id, with the work contact notify needs to reach them."""
    if not person_id:
        return None
    return _person(registry.person(person_id))


def _person(p: dict | None) -> dict | None:
    # Staff contacts are work numbers, shown to staff through the authenticated API only.
    return None if p is None else {"id": p.get("id"), "name": p.get("name"),
                                   "phone": p.get("phone")}


def health(uow) -> dict:
    uow.session.execute(text("SELECT 1"))
    return {"ok": True}


def public_map(registry, filters: dict) -> dict:
    """Boundaries for the public dashboard (no people): ``region``, a six-digit division code
    (default: the whole registry), and ``level``, ``county`` (default) or ``grid``."""
    region = str(filters.get("region") or "")
    if region and not (len(region) == 6 and region.isdigit()):
        raise ValidationError("region must be a six-digit division code",
                              code="invalid_value", field="region")
    level = filters.get("level") or "county"
    if level not in ("county", "grid"):
        raise ValidationError("level must be county or grid", code="invalid_value",
                              field="level")
    return registry_public.public_map(registry, region, level)
