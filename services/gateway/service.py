"""Gateway: the one public HTTP origin. Authenticates, checks roles, validates, and calls the
domain services over RPC. Entrypoints only; the route table is in ``api.py``."""
from __future__ import annotations

import eventlet
from sqlalchemy import text
from nameko.rpc import RpcProxy

from services.common.config import SERVICES
from services.common.unit_of_work import Database
from services.gateway import open311, openapi, pages, rating_page, web
from services.gateway.media import MediaStore
from services.gateway.web import http


class GatewayService:
    name = "gateway"
    db = Database("gateway", relay=False)
    complaints = RpcProxy("complaints")
    dispatch = RpcProxy("dispatch")
    notify = RpcProxy("notify")
    ranking = RpcProxy("ranking")

    rpc_timeout = 15
    open311_requires_key = False
    rate_limiter = web.RateLimiter()
    media = MediaStore()

    @http("GET,POST,PUT,PATCH,DELETE", "/api/v1/<path:path>")
    def api(self, request, path):
        return web.handle(self, request)

    @http("GET,POST", "/open311/v2/<path:path>")
    def open311(self, request, path):
        return open311.handle(self, request, path)

    @http("GET", "/api/v1/openapi.json")
    def openapi_document(self, request):
        return web.json_response(200, openapi.document(request.host_url.rstrip("/")))

    @http("GET", "/healthz")
    def healthz(self, request):
        status = {}
        for name in SERVICES:
            if name == "gateway":
                continue
            try:
                with eventlet.Timeout(3):
                    status[name] = bool(getattr(self, name).health()["ok"])
            except BaseException:  # noqa: B036 - eventlet.Timeout is a BaseException
                status[name] = False
        try:
            with self.db.unit_of_work() as uow:
                uow.session.execute(text("SELECT 1"))
            status["gateway"] = True
        except Exception:
            status["gateway"] = False
        ok = all(status.values())
        return web.json_response(200 if ok else 503, {"ok": ok, "services": status})

    # --- the user-facing pages (static files; see pages.py) -------------------------------
    @http("GET", "/")
    def page_index(self, request):
        return pages.page_response("index.html", request)

    @http("GET", "/track")
    def page_track(self, request):
        return pages.page_response("track.html", request)

    @http("GET", "/console")
    def page_console(self, request):
        return pages.page_response("console.html", request)

    @http("GET", "/worker")
    def page_worker(self, request):
        return pages.page_response("worker.html", request)

    @http("GET", "/r/<token>")
    def page_rating(self, request, token):
        return rating_page.show(self, request, token)

    @http("POST", "/r/<token>")
    def page_rating_submit(self, request, token):
        return rating_page.submit(self, request, token)

    @http("GET", "/dashboard")
    def page_dashboard(self, request):
        return pages.page_response("dashboard.html", request)

    @http("GET", "/static/<name>")
    def page_static(self, request, name):
        return pages.page_response(name, request)
