"""Accounts and bearer tokens. Tokens are random, shown once, and stored as a peppered SHA-256."""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from sqlalchemy import select

from services.common.authz import PUBLIC, ROLES, Principal
from services.common.config import is_production
from services.common.errors import DomainError, ValidationError
from services.common.regions import level_of
from services.gateway.models import Account


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


def _pepper() -> bytes:
    value = os.environ.get("ENVGRID_TOKEN_PEPPER")
    if value is None:
        if is_production():  # never hash production tokens with the published dev pepper
            raise RuntimeError("ENVGRID_TOKEN_PEPPER is not set")
        value = "envgrid-dev-pepper"
    return value.encode()


def hash_token(token: str) -> str:
    return hmac.new(_pepper(), token.encode(), hashlib.sha256).hexdigest()


def new_token() -> str:
    return "eg_" + secrets.token_urlsafe(24)


def create_account(session, account_id: str, name: str, role: str, scope: str,
                   grid_code: str | None, now, token: str | None = None) -> str:
    """Create (or replace) an account; return its token, which is not stored anywhere."""
    if role not in ROLES or role == "public":
        raise ValidationError(f"unknown role {role}", code="invalid_value", field="role")
    if scope != "*":
        level_of(scope)  # raises ValueError for a malformed scope
    token = token or new_token()
    existing = session.get(Account, account_id)
    if existing is not None:
        session.delete(existing)
        session.flush()
    session.add(Account(id=account_id, name=name, role=role, scope=scope, grid_code=grid_code,
                        token_hash=hash_token(token), created_at=now))
    return token


def authenticate(session, authorization: str | None) -> Principal:
    if not authorization:
        return PUBLIC
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use 'Authorization: Bearer <token>'", field="Authorization")
    account = session.scalars(select(Account).where(
        Account.token_hash == hash_token(token.strip()), Account.active.is_(True))).first()
    if account is None:
        raise Unauthorized("unknown or revoked token", field="Authorization")
    return Principal(id=account.id, role=account.role, scope=account.scope,
                     grid_code=account.grid_code)


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
