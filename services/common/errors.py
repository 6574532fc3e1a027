"""Domain errors that cross RPC and become HTTP 4xx answers at the gateway.

nameko carries a remote exception as (exc_type, value); ``value`` here is a JSON object so the
gateway can rebuild the code, message, field and status without guessing.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None,
                 status: int | None = None):
        self.message = message
        self.code = code or type(self).code
        self.field = field
        self.status = status or type(self).status
        super().__init__(json.dumps(self.as_dict(), ensure_ascii=False))

    def as_dict(self) -> dict:
        return {"code": self.code, "message": self.message, "field": self.field,
                "status": self.status}

    @classmethod
    def from_remote(cls, value: str) -> "DomainError | None":
        try:
            data = json.loads(value)
            return DomainError(data["message"], code=data["code"], field=data.get("field"),
                               status=int(data["status"]))
        except (ValueError, KeyError, TypeError):
            return None


class ValidationError(DomainError):
    status = 422
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


REMOTE_TYPES = {c.__name__ for c in (DomainError, ValidationError, NotFound, Conflict, Forbidden)}


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def parse_date(value, field: str, default: date | None = None, *,
               required: bool = False) -> date | None:
    """A calendar date from input: ``YYYY-MM-DD`` text or a ``date``; ``default`` when the value
    is None, or blank where there is a default (an empty ``?on=``). Anything else is a 422
    ``bad_date`` naming ``field``: every date a client sends is read here, so a bad one gets the
    same answer wherever it is sent. A ``required`` date that is None is ``missing_field``."""
    if value is None or (value == "" and default is not None):
        if required:
            raise ValidationError(f"{field} is required", code="missing_field", field=field)
        return default
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        if isinstance(value, str) and _ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ValidationError(f"{field} is not a date (YYYY-MM-DD): {str(value)[:40]!r}",
                          code="bad_date", field=field)
