"""The user-facing pages (complaint form, tracking, dispatcher console, grid worker page, public
dashboard) as static files served by the gateway on the public origin.

Only the files named in ``FILES`` are ever read: a name is a key of that table, never a path,
so ``../`` and friends cannot reach anything else. Pure: no nameko, no database.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from werkzeug.wrappers import Response

PAGES_DIR = Path(__file__).resolve().parent / "pages"

_HTML = "text/html; charset=utf-8"
_CSS = "text/css; charset=utf-8"
_JS = "text/javascript; charset=utf-8"

# name -> content type. The name is also the file name inside PAGES_DIR.
FILES: dict[str, str] = {
    "index.html": _HTML,
    "track.html": _HTML,
    "console.html": _HTML,
    "worker.html": _HTML,
    "dashboard.html": _HTML,
    "app.css": _CSS,
    "i18n.js": _JS,
    "app.js": _JS,
    "form.js": _JS,
    "track.js": _JS,
    "console.js": _JS,
    "worker.js": _JS,
    "charts.js": _JS,
    "dashboard.js": _JS,
}

# Everything comes from this origin: no inline script or style, no third party, no framing.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")

# Pages must pick up a new deployment at once; assets may be reused briefly, then revalidated
# by their ETag (their URLs carry no version).
HTML_CACHE = "no-cache"
ASSET_CACHE = "public, max-age=300, must-revalidate"

_cache: dict[str, tuple[bytes, str]] = {}


def _load(name: str) -> tuple[bytes, str]:
    if name not in _cache:
        body = (PAGES_DIR / name).read_bytes()
        _cache[name] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return _cache[name]


def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Permissions-Policy"] = "geolocation=(self), camera=(), microphone=()"
    return response


def not_found(name: object) -> Response:
    body = json.dumps({"error": {"code": "not_found", "message": "no such page",
                                 "field": "name"}})
    response = Response(body, status=404, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return _security_headers(response)


def page_response(name: str, request=None) -> Response:
    """The file ``name`` (a key of ``FILES``) with its content type, caching and security
    headers; 404 JSON for any other name. With ``request``, a matching If-None-Match gets 304."""
    if not isinstance(name, str) or name not in FILES:
        return not_found(name)
    body, etag = _load(name)
    cache = HTML_CACHE if FILES[name] == _HTML else ASSET_CACHE
    if request is not None and etag in request.headers.get("If-None-Match", ""):
        response = Response(status=304)
    else:
        response = Response(body, status=200, content_type=FILES[name])
    response.headers["Cache-Control"] = cache
    response.headers["ETag"] = etag
    return _security_headers(response)
