"""HTTP plumbing of the gateway: match a route, authenticate, check the role, validate the body,
call the handler under a time limit, and turn every failure into a JSON 4xx/5xx answer."""
from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict

import eventlet
from jsonschema import Draft202012Validator
from nameko.extensions import DependencyProvider
from nameko.exceptions import RemoteError
from werkzeug.exceptions import MethodNotAllowed, NotFound as RouteNotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Response

from services.common.errors import REMOTE_TYPES, DomainError, Forbidden, ValidationError
from services.gateway import auth
from services.gateway.api import ROUTES, Ctx
from services.gateway.models import AuditEntry

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
BY_NAME = {r.name: r for r in ROUTES}
URL_MAP = Map([Rule(r.path, endpoint=r.name, methods=[r.method]) for r in ROUTES],
              strict_slashes=False)
_VALIDATORS = {r.name: Draft202012Validator(r.body) for r in ROUTES if r.body is not None}


def json_response(status: int, payload) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False, default=str), status=status,
                    mimetype="application/json")


def error_response(err: DomainError) -> Response:
    return json_response(err.status, {"error": {"code": err.code, "message": err.message,
                                                "field": err.field}})


def _schema_error(validator, body) -> ValidationError | None:
    error = next(iter(sorted(validator.iter_errors(body), key=lambda e: list(e.path))), None)
    if error is None:
        return None
    path = ".".join(str(p) for p in error.absolute_path) or None
    kind = error.validator
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else None
        name = ".".join(filter(None, [path, missing]))
        return ValidationError(f"{name} is required", code="missing_field", field=name)
    if kind == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else None
        name = ".".join(filter(None, [path, extra]))
        return ValidationError(f"{name} is not a known field", code="unknown_field", field=name)
    codes = {"type": "invalid_type", "maxLength": "too_long", "maxItems": "too_many",
             "minimum": "out_of_range", "maximum": "out_of_range", "enum": "invalid_value",
             "pattern": "invalid_value", "format": "invalid_value"}
    message = error.message if len(error.message) <= 200 else error.message[:200] + "…"
    return ValidationError(f"{path or 'body'}: {message}", code=codes.get(kind, "invalid_value"),
                           field=path)


class RateLimiter(DependencyProvider):
    """Token bucket per client for public intake. Per instance: behind N gateways a client
    gets N times the rate, which the proxy in front should cap if that matters.
    ``X-Forwarded-For`` is believed only when ``TRUST_FORWARDED_FOR`` says a proxy sets it."""

    def __init__(self, rate_per_minute: float = 30, burst: int = 10, max_clients: int = 50_000):
        self.rate = rate_per_minute / 60.0
        self.burst = burst
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.max_clients = max_clients
        self.trust_forwarded_for = False

    def setup(self):
        cfg = self.container.config
        self.rate = float(cfg.get("PUBLIC_RATE_PER_MINUTE", self.rate * 60)) / 60.0
        self.burst = int(cfg.get("PUBLIC_RATE_BURST", self.burst))
        self.trust_forwarded_for = bool(cfg.get("TRUST_FORWARDED_FOR", False))

    def get_dependency(self, worker_ctx):
        return self

    def client_of(self, request) -> str:
        forwarded = request.headers.get("X-Forwarded-For")
        if self.trust_forwarded_for and forwarded:
            return forwarded.split(",")[0].strip()
        return request.remote_addr or "?"

    def allow(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        tokens, last = self.buckets.pop(client, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1
        self.buckets[client] = (tokens - 1 if allowed else tokens, now)
        if len(self.buckets) > self.max_clients:
            self.buckets.popitem(last=False)
        return allowed


def handle(service, request) -> Response:
    adapter = URL_MAP.bind_to_environ(request.environ)
    try:
        name, params = adapter.match()
        route = BY_NAME[name]
    except RouteNotFound:
        return error_response(DomainError("no such endpoint", code="not_found", status=404))
    except MethodNotAllowed:
        return error_response(DomainError("method not allowed", code="method_not_allowed",
                                          status=405))
    principal = None
    status = 500
    try:
        with service.db.unit_of_work() as uow:
            principal = auth.authenticate(uow.session, request.headers.get("Authorization"))
        if principal.role not in route.roles:
            if principal.role == "public":
                raise auth.Unauthorized("this endpoint needs a staff token",
                                        field="Authorization")
            raise Forbidden(f"role {principal.role} may not {route.summary.lower()}",
                            code="forbidden_role")
        if route.name in ("submit_complaint",) and principal.role == "public":
            limiter = service.rate_limiter
            if not limiter.allow(limiter.client_of(request)):
                raise DomainError("too many submissions; try again in a minute",
                                  code="rate_limited", status=429)
        body = _read_body(request, route)
        ctx = Ctx(service, principal, request)
        with eventlet.Timeout(service.rpc_timeout, exception=_Timeout):
            result = route.handler(ctx, body, **params)
        if isinstance(result, Response):  # a non-JSON answer (a calendar, a page) as is
            status, response = result.status_code, result
        else:
            status, payload = result if isinstance(result, tuple) else (200, result)
            response = json_response(status, payload)
    except DomainError as err:
        status, response = err.status, error_response(err)
    except RemoteError as err:
        domain = DomainError.from_remote(err.value) if err.exc_type in REMOTE_TYPES else None
        if domain is None:
            log.error("upstream failure on %s: %s", route.name, err.exc_type)
            domain = DomainError("an internal service failed; nothing was changed by this call "
                                 "unless it was a submission, which is safe to retry with the "
                                 "same Idempotency-Key", code="upstream_error", status=502)
        status, response = domain.status, error_response(domain)
    except _Timeout:
        status = 503
        response = error_response(DomainError("a service did not answer in time; retry",
                                              code="service_unavailable", status=503))
    _audit(service, principal, route, params, status, request)
    return response


class _Timeout(Exception):
    pass


def _read_body(request, route):
    if route.body is None:
        return None
    if request.content_length and request.content_length > MAX_BODY:
        raise DomainError(f"body larger than {MAX_BODY} bytes", code="too_large", status=413)
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        raise DomainError(f"body larger than {MAX_BODY} bytes", code="too_large", status=413)
    if not raw.strip():
        body = {}
    else:
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ValidationError("body is not valid JSON", code="malformed_json")
    if not isinstance(body, dict):
        raise ValidationError("body must be a JSON object", code="invalid_body")
    error = _schema_error(_VALIDATORS[route.name], body)
    if error is not None:
        raise error
    return body


def _audit(service, principal, route, params, status, request):
    if principal is None or principal.role == "public":
        return
    try:
        with service.db.unit_of_work() as uow:
            uow.session.add(AuditEntry(at=uow.now, account_id=principal.id, role=principal.role,
                                       method=route.method, route=route.name, target=params,
                                       status=status, client=request.remote_addr))
            uow.commit()
    except Exception:  # the audit must not turn a served answer into an error
        log.warning("audit write failed", exc_info=True)
