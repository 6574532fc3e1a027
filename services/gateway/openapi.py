"""The OpenAPI 3 document, generated from the route table so it cannot drift from the code."""
from __future__ import annotations

import re

from services.gateway.api import ROUTES

ERROR = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                   "field": {"type": ["string", "null"]}}}}}
FILE = {"type": "string", "format": "binary"}
FILE_FORM = {"type": "object", "required": ["file"], "properties": {"file": FILE}}


def document(base_url: str = "http://127.0.0.1:8000") -> dict:
    paths: dict = {}
    for route in ROUTES:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.path)
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                  for p in re.findall(r"{(\w+)}", path)]
        params += [{"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
                   for q in route.query]
        if route.name.startswith("submit_"):
            params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "schema": {"type": "string", "minLength": 8, "maxLength": 100}})
        op = {
            "operationId": route.name, "summary": route.summary, "tags": [route.tag],
            "parameters": params,
            "x-roles": list(route.roles),
            "responses": {
                str(route.ok_status): {"description": "OK",
                                       "content": {route.media_type: {"schema": {}}}},
                "4XX": {"description": "Bad request, with a machine-readable code and field",
                        "content": {"application/json": {"schema": ERROR}}},
            },
        }
        if "public" not in route.roles:
            op["security"] = [{"bearer": []}]
        if route.body is not None:
            op["requestBody"] = {"required": True,
                                 "content": {"application/json": {"schema": route.body}}}
        if route.accepts:
            op["requestBody"] = {"required": True, "content": {
                kind: {"schema": FILE_FORM if kind == "multipart/form-data" else FILE}
                for kind in route.accepts}}
        paths.setdefault(path, {})[route.method.lower()] = op
    paths["/healthz"] = {"get": {"operationId": "healthz", "summary": "All services up",
                                 "responses": {"200": {"description": "up"},
                                               "503": {"description": "a service is down"}}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "envgrid API", "version": "1.0.0",
                 "description": "Grid-based environmental supervision: patrol reports, 12369 "
                                "complaints, dispatch, feedback."},
        "servers": [{"url": base_url}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }
