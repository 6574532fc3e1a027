"""Schema-driven fuzzing of every endpoint against the running system (schemathesis).

Every operation of ``/api/v1/openapi.json`` (and of an OpenAPI description of the Open311
endpoints, written below) gets requests that fit its schema and requests that do not, with a
token of a role the route lets in, without a token, and on real records. Whatever comes:

* no server error and no hang: every request has a time limit and must answer within it;
* every error is a specific 4xx in the documented shape (``{"error": {code, message, field}}``,
  Open311's ``[{code, description}]`` on ``/open311/v2/``, in JSON and XML);
* a staff route without a token answers 401, whatever else is wrong with the request;
* nothing accepted is lost: every 2xx submission (complaint, report, intake, reading, upload,
  Open311 request) is read back at once; a repeated Idempotency-Key gives the same case.

``make test`` runs a few examples per operation (derandomised, so a run can be repeated);
``make fuzz`` runs many more with fresh randomness (``ENVGRID_FUZZ_EXAMPLES``,
``ENVGRID_FUZZ_RANDOM``).
"""
from __future__ import annotations

import os
import re
import uuid
from io import BytesIO
from urllib.parse import unquote

import pytest
import requests
import schemathesis
import xmltodict
from hypothesis import HealthCheck, Phase, given, settings
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks
from werkzeug.exceptions import HTTPException

from services.common.config import policy
from services.gateway import media, sms_callback
from services.gateway.api import ROUTES
from services.gateway.web import URL_MAP
from tests.casework import VILLAGE, file_case, new_task
from tests.test_access_matrix import ACCOUNT

EXAMPLES = int(os.environ.get("ENVGRID_FUZZ_EXAMPLES", "3"))
RANDOM = os.environ.get("ENVGRID_FUZZ_RANDOM") == "1"
TIMEOUT = 10  # seconds: a request that takes longer counts as a hang
SPECIFIC_4XX = {400, 401, 403, 404, 405, 409, 413, 415, 422, 429}
SUBMISSIONS = {"submit_report", "submit_complaint", "submit_intake"}
CHECKS = [schemathesis.checks.not_a_server_error, openapi_checks.status_code_conformance,
          openapi_checks.content_type_conformance, openapi_checks.response_schema_conformance]


def _settings(examples: int):
    return settings(max_examples=max(1, examples), deadline=None, database=None,
                    derandomize=not RANDOM, phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck), print_blob=True)


def _client() -> dict:
    """Each fuzzed request from its own address: the public rate limit is tested elsewhere."""
    return {"X-Forwarded-For": f"fuzz-{uuid.uuid4().hex[:12]}"}


# --- the JSON API -----------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def inbound_sms_on():
    """Inbound SMS answers 503 while no secret is configured; fuzz it switched on."""
    before = os.environ.get(sms_callback.SECRET_ENV)
    os.environ[sms_callback.SECRET_ENV] = before or "fuzz-" + uuid.uuid4().hex
    yield
    if before is None:
        os.environ.pop(sms_callback.SECRET_ENV, None)


@pytest.fixture(scope="module")
def api(system):
    return schemathesis.openapi.from_url(system.url("/api/v1/openapi.json"))


@pytest.fixture(scope="module")
def records(system):
    """Real records for the fuzzer to act on: a case waiting for intake, an assigned task, a
    photo, a grid and an agreement of 芦溪县."""
    out = BytesIO()
    Image.new("RGB", (8, 8), "green").save(out, "PNG")
    photo = system.call("POST", "/api/v1/media", "admin", data=out.getvalue(),
                        headers={"Content-Type": "image/png"})
    assert photo.status_code == 201, photo.text
    return {"case_no": file_case(system, VILLAGE), "task_id": new_task(system, VILLAGE)["task_id"],
            "name": photo.json()["media_url"].rsplit("/", 1)[1], "code": VILLAGE,
            "agreement_id": "PX-COUNTIES"}


def _staff(route) -> str:
    """A 芦溪县 account of a staff role the route lets in (the administrator only where no
    other role may: its scope is everything)."""
    roles = [r for r in route.roles if r not in ("public", "admin")]
    return ACCOUNT[roles[0]] if roles else "admin"


class Submitted:
    """What the fuzzer had accepted, to prove none of it is lost."""

    def __init__(self):
        self.by_key: dict[tuple, str] = {}
        self.count = 0


SUBMITTED = Submitted()


def _read_back(system, route, case, response, account):
    """A 2xx submission is there to read at once, as it was sent."""
    if route.media_type != "application/json":
        return  # a calendar, a page or a photo: nothing submitted
    body = response.json()
    if route.name in SUBMISSIONS:
        case_no = body["case_no"]
        got = system.call("GET", f"/api/v1/cases/{case_no}", "admin")
        assert got.status_code == 200, (route.name, case_no, got.text)
        key = (account, (case.headers or {}).get("Idempotency-Key"))
        if key[1] is not None and key in SUBMITTED.by_key:
            # A repeated key answers with the case its first use filed, whatever the body.
            assert SUBMITTED.by_key[key] == case_no, (key, SUBMITTED.by_key[key], case_no)
            return
        if key[1] is not None:
            SUBMITTED.by_key[key] = case_no
        assert got.json()["description"] == case.body["description"].strip(), case_no
        SUBMITTED.count += 1
    elif route.name == "monitoring_reading" and body.get("case_no"):
        got = system.call("GET", f"/api/v1/cases/{body['case_no']}", "admin")
        assert got.status_code == 200, got.text
        SUBMITTED.count += 1
    elif route.name == "upload_media":
        name = body["media_url"].rsplit("/", 1)[1]
        assert media.path_of(media.Path(system.config["MEDIA_DIR"]), name).exists()
        if account is not None:
            assert system.call("GET", f"/api/v1/media/{name}", account).status_code == 200
        SUBMITTED.count += 1


def _check_answer(system, route, case, response, account):
    assert response.elapsed < TIMEOUT
    case.validate_response(response, checks=CHECKS)
    status = response.status_code
    if 200 <= status < 300:
        _read_back(system, route, case, response, account)
        return
    assert status in SPECIFIC_4XX, (route.name, status, response.text[:300])
    error = response.json()["error"]
    assert error["code"] and error["message"], error
    assert error["code"] not in ("internal_error", "upstream_error"), error
    if account is None and "public" not in route.roles and _routed(case):
        assert status == 401, (route.name, status, response.text[:300])


def _routed(case) -> bool:
    """Whether the request's URL reaches the route table (a newline in a path does not)."""
    try:
        URL_MAP.bind("fuzz").match(unquote(case.formatted_path), method=case.method)
        return True
    except HTTPException:
        return False


def _run(system, api, route, mode, account, examples, **fixed):
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.path)
    operation = api[path][route.method]
    strategy = operation.as_strategy(generation_mode=mode, **fixed)

    @_settings(examples)
    @given(case=strategy)
    def fuzz(case):
        headers = _client()
        if account is not None:
            headers["Authorization"] = f"Bearer {system.tokens[account]}"
        response = case.call(base_url=system.base_url, headers=headers, timeout=TIMEOUT)
        _check_answer(system, route, case, response, account)

    fuzz()


def _negatable(route) -> bool:
    """Whether a request can break the route's schema: a body, or a constrained header. Path
    and query parameters are free text (the handlers judge them)."""
    return bool(route.body or route.accepts or route.name.startswith("submit_"))


CASES = [(r, m) for r in ROUTES for m in (
    [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if _negatable(r)
    else [GenerationMode.POSITIVE])]


@pytest.mark.parametrize("route,mode", CASES, ids=[f"{r.name}-{m}" for r, m in CASES])
def test_with_a_role_the_route_lets_in(system, api, route, mode):
    _run(system, api, route, mode, _staff(route), EXAMPLES)


@pytest.mark.parametrize("route,mode", CASES, ids=[f"{r.name}-{m}" for r, m in CASES])
def test_without_a_token(system, api, route, mode):
    _run(system, api, route, mode, None, max(1, EXAMPLES // 3) if "public" not in route.roles
         else EXAMPLES)


RECORD_ROUTES = [r for r in ROUTES if "<" in r.path]


@pytest.mark.parametrize("route", RECORD_ROUTES, ids=lambda r: r.name)
def test_on_real_records(system, api, records, route):
    names = re.findall(r"<(?:\w+:)?(\w+)>", route.path)
    fixed = {"path_parameters": {n: records[n] for n in names if n in records}}
    _run(system, api, route, GenerationMode.POSITIVE, _staff(route), EXAMPLES, **fixed)


# --- Open311 GeoReport v2 ---------------------------------------------------------------------
def _open311_errors(fmt: str) -> dict:
    if fmt == "xml":
        return {"text/xml": {"schema": {"type": "string"}}}
    return {"application/json": {"schema": {"type": "array", "minItems": 1, "items": {
        "type": "object", "required": ["code", "description"],
        "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}}}


def _open311_request_fields() -> dict:
    return {"type": "object", "required": ["service_code"], "properties": {
        "service_code": {"type": "string", "enum": sorted(policy().categories)},
        "lat": {"type": "number", "minimum": -90, "maximum": 90},
        "long": {"type": "number", "minimum": -180, "maximum": 180},
        "address_string": {"type": "string", "maxLength": 300},
        "description": {"type": "string", "maxLength": 4000},
        "media_url": {"type": "string", "maxLength": 500},
        "first_name": {"type": "string", "maxLength": 30},
        "last_name": {"type": "string", "maxLength": 30},
        "phone": {"type": "string", "maxLength": 40},
        "email": {"type": "string", "maxLength": 120},
        "attribute[enterprise]": {"type": "string", "maxLength": 200},
        "attribute[incident]": {"enum": ["none", "sudden", "mass"]},
        "attribute[anonymous]": {"enum": ["true", "false"]},
    }}


def open311_document() -> dict:
    """The Open311 endpoints as an OpenAPI document: what the fuzzer generates from."""
    def op(op_id, fmt, ok="200", params=(), body=None):
        out = {"operationId": op_id, "responses": {
            ok: {"description": "OK", "content": {
                "text/xml" if fmt == "xml" else "application/json": {"schema": {}}}},
            "4XX": {"description": "the specification's error format",
                    "content": _open311_errors(fmt)}},
            "parameters": [{"name": n, "in": where, "required": where == "path",
                            "schema": {"type": "string"}} for n, where in params]}
        if body:
            out["requestBody"] = {"required": True, "content": {
                kind: {"schema": _open311_request_fields()} for kind in body}}
        return out

    query = [(n, "query") for n in ("service_request_id", "service_code", "start_date",
                                    "end_date", "status")]
    paths = {}
    for fmt in ("json", "xml"):
        paths[f"/open311/v2/discovery.{fmt}"] = {"get": op(f"discovery_{fmt}", fmt)}
        paths[f"/open311/v2/services.{fmt}"] = {"get": op(f"services_{fmt}", fmt,
                                                          params=[("locale", "query")])}
        paths[f"/open311/v2/services/{{service_code}}.{fmt}"] = {"get": op(
            f"service_{fmt}", fmt, params=[("service_code", "path")])}
        paths[f"/open311/v2/requests.{fmt}"] = {
            "get": op(f"requests_{fmt}", fmt, params=query),
            "post": op(f"post_{fmt}", fmt, ok="201", body=(
                ["application/x-www-form-urlencoded", "application/json"] if fmt == "json"
                else ["application/x-www-form-urlencoded"]))}
        paths[f"/open311/v2/requests/{{service_request_id}}.{fmt}"] = {"get": op(
            f"request_{fmt}", fmt, params=[("service_request_id", "path")])}
        paths[f"/open311/v2/tokens/{{token}}.{fmt}"] = {"get": op(
            f"token_{fmt}", fmt, params=[("token", "path")])}
    return {"openapi": "3.0.3", "info": {"title": "envgrid Open311", "version": "2"},
            "paths": paths}


@pytest.fixture(scope="module")
def open311(system):
    return schemathesis.openapi.from_dict(open311_document())


OPEN311_OPERATIONS = [(path, method, mode) for path, ops in open311_document()["paths"].items()
                      for method in ops for mode in (
                          [GenerationMode.POSITIVE, GenerationMode.NEGATIVE] if method == "post"
                          else [GenerationMode.POSITIVE])]


def _open311_answer(system, case, response):
    assert response.elapsed < TIMEOUT
    case.validate_response(response, checks=CHECKS)
    status, fmt = response.status_code, case.path.rsplit(".", 1)[1]
    if 200 <= status < 300:
        if case.method == "POST":
            request_id = (response.json()[0] if fmt == "json" else xmltodict.parse(
                response.content)["service_requests"]["request"])["service_request_id"]
            got = requests.get(f"{system.base_url}/open311/v2/requests/{request_id}.json",
                               timeout=TIMEOUT)
            assert got.status_code == 200 and got.json()[0]["service_request_id"] == request_id
            assert system.call("GET", f"/api/v1/cases/{request_id}", "admin").status_code == 200
            SUBMITTED.count += 1
        return
    assert status in SPECIFIC_4XX, (case.path, status, response.text[:300])
    if fmt == "json":
        [error] = response.json()
    else:
        error = xmltodict.parse(response.content)["errors"]["error"]
    assert int(error["code"]) == status and error["description"], error


@pytest.mark.parametrize("path,method,mode", OPEN311_OPERATIONS, ids=[
    f"{m}-{p.removeprefix('/open311/v2/')}-{g}" for p, m, g in OPEN311_OPERATIONS])
def test_open311(system, open311, path, method, mode):
    operation = open311[path][method.upper()]

    @_settings(EXAMPLES)
    @given(case=operation.as_strategy(generation_mode=mode))
    def fuzz(case):
        response = case.call(base_url=system.base_url, headers=_client(), timeout=TIMEOUT)
        _open311_answer(system, case, response)

    fuzz()


def test_something_was_accepted_and_read_back():
    """The read-back checks above ran on real acceptances, not only on refusals."""
    assert SUBMITTED.count >= 3
