"""Who may do what where. The gateway authenticates; the owning service checks scope, because
only it knows which region a case or task belongs to."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from services.common.errors import NotFound
from services.common.regions import within

ROLES = ("public", "grid_worker", "grid_chief", "intake", "dispatcher", "enforcement",
         "supervisor", "liaison", "monitor", "admin")
INTAKE_ROLES = ("intake", "admin")


@dataclass(frozen=True)
class Principal:
    id: str | None
    role: str
    scope: str  # a division code prefix, or "*" for everywhere
    grid_code: str | None = None

    @classmethod
    def from_dict(cls, data: dict | None) -> "Principal":
        if not data:
            return PUBLIC
        return cls(id=data.get("id"), role=data.get("role", "public"),
                   scope=data.get("scope", ""), grid_code=data.get("grid_code"))

    def as_dict(self) -> dict:
        return asdict(self)

    def as_actor(self) -> dict:
        return {"id": self.id, "role": self.role}


PUBLIC = Principal(id=None, role="public", scope="*")


def in_scope(principal: Principal, region_code: str | None) -> bool:
    if principal.role == "public":
        return True
    return bool(region_code) and within(region_code, principal.scope)


def require_scope(principal: Principal, region_code: str | None) -> None:
    """Out-of-scope records are reported as absent, so their existence does not leak."""
    if principal.role in ("public", "liaison") or not in_scope(principal, region_code):
        raise NotFound("no such record in your region", code="not_found")


def may_see_complainant(principal: Principal, region_code: str | None) -> bool:
    return principal.role in INTAKE_ROLES and in_scope(principal, region_code)
