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
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound as RouteNotFound
from werkzeug.routing import Map, PathConverter, Rule
from werkzeug.wrappers import Request, Response

from services.common.errors import REMOTE_TYPES, DomainError, Forbidden, ValidationError
from services.gateway import audit, auth, media, open311
from services.gateway.api import ROUTES, Ctx

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
BY_NAME = {r.name: r for r in ROUTES}
URL_MAP = Map([Rule(r.path, endpoint=r.name, methods=[r.method]) for r in ROUTES],
              strict_slashes=False)
# Public calls that take the per-client rate limit (Open311's POST takes it in open311.py).
RATE_LIMITED = ("submit_complaint", "upload_media")
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


# --- the HTTP server: nameko's, with its own answers (no route, method) in the JSON shape ----
class _JsonErrorsApp(WsgiApp):
    """nameko's WSGI app, but a request no entrypoint matches (an unknown path, a newline in a
    path, a method the path does not take) gets the JSON error shape, not werkzeug's HTML."""

    def __call__(self, environ, start_response):
        request = Request(environ, shallow=True)
        try:
            provider, values = self.url_map.bind_to_environ(environ).match()
            request.path_values = values
            response = provider.handle_request(request)
        except HTTPException as exc:
            status = exc.code or 400
            if request.path.startswith("/open311/"):  # that specification's error format
                fmt = "xml" if request.path.endswith(".xml") else "json"
                response = open311.error(fmt, status, exc.name.lower())
            else:
                code = {404: "not_found", 405: "method_not_allowed"}.get(status, "bad_request")
                response = error_response(DomainError(exc.name.lower(), code=code,
                                                      status=status))
        return response(environ, start_response)


class _AnyPath(PathConverter):
    """werkzeug's ``path`` without its blind spot: a newline (``%0A``) in a path is text like
    any other, so such a request still reaches the route table and its auth check."""
    regex = "[^/][\\s\\S]*?"


class _GatewayServer(WebServer):
    def get_wsgi_app(self):
        return _JsonErrorsApp(self)

    def make_url_map(self):
        url_map = Map(converters={"path": _AnyPath})
        for provider in self._providers:
            rule = provider.get_url_rule()
            rule.endpoint = provider
            url_map.add(rule)
        return url_map


class _Http(HttpRequestHandler):
    server = _GatewayServer()


http = _Http.decorator


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
    principal = region = None
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
        if route.name in RATE_LIMITED and principal.role == "public":
            limiter = service.rate_limiter
            if not limiter.allow(limiter.client_of(request)):
                raise DomainError("too many submissions; try again in a minute",
                                  code="rate_limited", status=429)
        body = _read_body(request, route)
        media.check_references(service, body)
        ctx = Ctx(service, principal, request)
        with eventlet.Timeout(route.timeout or service.rpc_timeout, exception=_Timeout):
            result = route.handler(ctx, body, **params)
        if isinstance(result, Response):  # a non-JSON answer (a calendar, a page) as is
            status, response = result.status_code, result
        else:
            status, payload = result if isinstance(result, tuple) else (200, result)
            response = json_response(status, payload)
            region = audit.region_of(payload)
            media.bind_result(service, body, payload, params)
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
    except Exception:  # a bug: logged here, and no trace of the internals in the answer
        log.exception("unexpected failure on %s", route.name)
        status = 500
        response = error_response(DomainError("an unexpected error; it was logged. A "
                                              "submission is safe to retry with the same "
                                              "Idempotency-Key", code="internal_error",
                                              status=500))
    audit.record(service, principal, route, params, status, request, region)
    return response


class _Timeout(Exception):
    pass


def _read_body(request, route):
    if route.body is None:
        return None
    limit = route.max_body or MAX_BODY
    if request.content_length and request.content_length > limit:
        raise DomainError(f"body larger than {limit} bytes", code="too_large", status=413)
    raw = request.stream.read(limit + 1)  # bounded, also for a body sent in chunks
    if len(raw) > limit:
        raise DomainError(f"body larger than {limit} bytes", code="too_large", status=413)
    if not raw.strip():
        body = {}
    else:
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ValidationError("body is not valid JSON", code="malformed_json")
    if not isinstance(body, dict):
        raise ValidationError("body must be a JSON object", code="invalid_body")
    nul = _nul_at(body)
    if nul is not None:
        # PostgreSQL text cannot hold NUL; say so here instead of failing deep in a service.
        raise ValidationError("text may not contain NUL characters", code="invalid_characters",
                              field=nul)
    error = _schema_error(_VALIDATORS[route.name], body)
    if error is not None:
        raise error
    return body


def _nul_at(value, path: str = "") -> str | None:
    """The field path of the first string (or key) holding a NUL character, else None."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return path or "body"
            found = _nul_at(item, where)
            if found is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_at(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None
