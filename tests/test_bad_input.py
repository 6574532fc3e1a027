"""Bad input at every endpoint gets a specific 4xx with a machine-readable code, never a 500.

Parametrised over the gateway's route table, so a new endpoint is covered the day it is added.
"""
from __future__ import annotations

import re

import pytest

from services.gateway.api import ROUTES
from services.gateway.web import MAX_BODY

BODY_ROUTES = [r for r in ROUTES if r.body is not None]


def _path(route):
    return re.sub(r"<(?:\w+:)?(\w+)>", "X-0000", route.path)


# A demo account for each role (grid people of 金鸡村, 宣风镇, 芦溪县).
ACCOUNT = {"admin": "admin", "intake": "intake-360323", "dispatcher": "dispatcher-360323",
           "supervisor": "supervisor-360323", "grid_worker": "gy-360323101001-1",
           "grid_chief": "gz-360323101001"}


def _token(route):
    """An account allowed on the route, so that the request reaches body validation."""
    if "public" in route.roles:
        return None
    return next(ACCOUNT[role] for role in ("admin", *route.roles) if role in route.roles
                and role in ACCOUNT)


def _assert_error(r, status, code=None, field=None):
    assert r.status_code == status, (r.status_code, r.text)
    err = r.json()["error"]
    assert err["code"] and err["message"]
    if code:
        assert err["code"] == code, err
    if field:
        assert err["field"] == field, err


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: r.name)
def test_malformed_json(system, route):
    r = system.call(route.method, _path(route), _token(route), data=b"{not json",
                    headers={"Content-Type": "application/json"})
    _assert_error(r, 422, "malformed_json")


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: r.name)
def test_body_must_be_an_object(system, route):
    r = system.call(route.method, _path(route), _token(route), json=[1, 2])
    _assert_error(r, 422, "invalid_body")


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: r.name)
def test_oversized_body(system, route):
    limit = route.max_body or MAX_BODY  # a registry file may be larger than a command
    r = system.call(route.method, _path(route), _token(route),
                    data=b'{"description": "' + b"x" * limit + b'"}',
                    headers={"Content-Type": "application/json"})
    _assert_error(r, 413, "too_large")


@pytest.mark.parametrize("route", [r for r in BODY_ROUTES if r.body.get("required")],
                         ids=lambda r: r.name)
def test_missing_required_field(system, route):
    r = system.call(route.method, _path(route), _token(route), json={})
    _assert_error(r, 422, "missing_field", route.body["required"][0])


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: r.name)
def test_unknown_field(system, route):
    r = system.call(route.method, _path(route), _token(route), json={"no_such_field": 1})
    assert r.status_code == 422 and r.json()["error"]["code"] in ("unknown_field",
                                                                  "missing_field")


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_unknown_resource_or_empty_body_is_never_a_500(system, route):
    r = system.call(route.method, _path(route), _token(route),
                    json={} if route.body is not None else None)
    assert 200 <= r.status_code < 500, (r.status_code, r.text)


def test_wrong_types_and_oversized_text(system):
    r = system.call("POST", "/api/v1/complaints",
                    json={"category": "air.odour", "description": 12, "region_code": "360323"})
    _assert_error(r, 422, "invalid_type", "description")
    r = system.call("POST", "/api/v1/complaints",
                    json={"category": "air.odour", "description": "x" * 4001,
                          "region_code": "360323"})
    _assert_error(r, 422, "too_long", "description")
    r = system.call("POST", "/api/v1/complaints",
                    json={"category": "no.such", "description": "x", "region_code": "360323"})
    _assert_error(r, 422, "invalid_value", "category")
    r = system.call("POST", "/api/v1/complaints",
                    json={"category": "air.odour", "description": "x", "lat": 91, "lon": 1})
    _assert_error(r, 422, "out_of_range", "lat")
    r = system.call("POST", "/api/v1/complaints",
                    json={"category": "air.odour", "description": "x"})
    _assert_error(r, 422, "missing_location")


def test_unknown_grid(system):
    r = system.call("POST", "/api/v1/reports", "admin", json={})
    _assert_error(r, 403, "forbidden_role")
    worker = system.call("GET", "/api/v1/grids/360323101001", "admin").json()["workers"][0]
    r = system.call("POST", "/api/v1/reports", worker["id"],
                    json={"category": "air.odour", "description": "x",
                          "grid_code": "999999999999"})
    _assert_error(r, 422, "unknown_grid", "grid_code")


def test_auth_errors(system):
    r = system.call("GET", "/api/v1/cases")
    _assert_error(r, 401, "unauthorized")
    r = system.call("GET", "/api/v1/cases", "not-a-real-token")
    _assert_error(r, 401, "unauthorized", "Authorization")
    r = system.call("GET", "/api/v1/cases", headers={"Authorization": "Basic abc"})
    _assert_error(r, 401, "unauthorized")
    r = system.call("GET", "/api/v1/nothing-here")
    _assert_error(r, 404, "not_found")
    r = system.call("DELETE", "/api/v1/cases")
    _assert_error(r, 405, "method_not_allowed")


def test_public_intake_is_rate_limited_per_client(system):
    client = {"X-Forwarded-For": "client-rate-test"}
    statuses = [system.call("POST", "/api/v1/complaints", json={}, headers=dict(client)).status_code
                for _ in range(system.config["PUBLIC_RATE_BURST"] + 1)]
    assert statuses[:-1] == [422] * system.config["PUBLIC_RATE_BURST"]
    r = system.call("POST", "/api/v1/complaints", json={}, headers=dict(client))
    _assert_error(r, 429, "rate_limited")
    # Another client is not affected.
    assert system.call("POST", "/api/v1/complaints", json={}).status_code == 422
