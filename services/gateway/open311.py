"""Open311 GeoReport v2 on ``/open311/v2/``: discovery, services, service definitions,
requests (GET and POST), one request, tokens; JSON and XML; the specification's error format.

A client written for any city's Open311 endpoint works unchanged: service codes are the
complaint categories, a posted request becomes an ``app`` complaint, and the status maps to
``open``/``closed``. Nothing about the requester is ever returned.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import eventlet
from nameko.exceptions import RemoteError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from services.common.config import policy
from services.common.errors import REMOTE_TYPES, DomainError, ValidationError
from services.common.privacy import mask_text
from services.gateway import api, auth, media

SPEC = "http://wiki.open311.org/GeoReport_v2"
CLOSED = {"declined", "closed", "merged", "referred"}
MAX_DESCRIPTION = 4000
MAX_POST = 64 * 1024


class Open311Error(Exception):
    def __init__(self, status: int, description: str):
        self.status, self.description = status, description
        super().__init__(description)


# --- representation ---------------------------------------------------------------------------
# Characters XML 1.0 cannot carry at all (escaping does not help): control characters, lone
# surrogates, U+FFFE/U+FFFF. Text from a request may hold them; they become U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

def _xml(root: str, item: str | None, data) -> bytes:
    top = ET.Element(root)

    def fill(parent, value):
        if isinstance(value, dict):
            for key, sub in value.items():
                if isinstance(sub, list):
                    wrapper = ET.SubElement(parent, key)
                    singular = {"values": "value", "attributes": "attribute",
                                "endpoints": "endpoint", "formats": "format",
                                "keywords": "keyword"}.get(key, key[:-1])
                    for element in sub:
                        fill(ET.SubElement(wrapper, singular), element)
                else:
                    fill(ET.SubElement(parent, key), sub)
        elif value is None:
            return
        elif isinstance(value, bool):
            parent.text = "true" if value else "false"
        else:
            parent.text = _NOT_XML.sub("\ufffd", str(value))

    if item is None:
        fill(top, data)
    else:
        for element in data:
            fill(ET.SubElement(top, item), element)
    return b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8")


def render(fmt: str, data, root: str, item: str | None, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(_xml(root, item, data), status=status,
                        mimetype="text/xml", content_type="text/xml; charset=utf-8")
    return Response(json.dumps(data, ensure_ascii=False), status=status,
                    mimetype="application/json")


def error(fmt: str, status: int, description: str) -> Response:
    return render(fmt, [{"code": status, "description": description}], "errors", "error",
                  status)


# --- content ----------------------------------------------------------------------------------
def _w3c(value: str | None) -> str | None:
    if not value:
        return None
    return datetime.fromisoformat(value).astimezone(timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S+00:00")


def discovery(base: str) -> dict:
    return {"changeset": "2026-11-23T00:00:00+00:00",
            "contact": "萍乡市生态环境局 12369 环保举报热线",
            "key_service": "Request an api_key from the platform administrator.",
            "endpoints": [{"specification": SPEC, "url": f"{base}/open311/v2",
                           "changeset": "2026-11-23T00:00:00+00:00", "type": "production",
                           "formats": ["application/json", "text/xml"]}]}


def services(lang: str) -> list[dict]:
    out = []
    for code, names in policy().categories.items():
        name = names["en" if lang == "en" else "zh"]
        out.append({"service_code": code, "service_name": name,
                    "description": f"{names['zh']} / {names['en']}", "metadata": True,
                    "type": "realtime", "keywords": code.replace(".", ","),
                    "group": code.split(".")[0]})
    return out


def definition(code: str) -> dict:
    if code not in policy().categories:
        raise Open311Error(404, f"unknown service_code {code}")
    attributes = [
        {"variable": True, "code": "enterprise", "datatype": "string", "required": False,
         "datatype_description": "Name of the reported unit (被举报单位)", "order": 1,
         "description": "Reported unit 被举报单位", "values": []},
        {"variable": True, "code": "incident", "datatype": "singlevaluelist",
         "required": False, "datatype_description": "", "order": 2,
         "description": "Sudden or mass incident 突发/群体性事件",
         "values": [{"key": "none", "name": "No 否"}, {"key": "sudden", "name": "Sudden 突发"},
                    {"key": "mass", "name": "Mass 群体性"}]},
        {"variable": True, "code": "anonymous", "datatype": "singlevaluelist",
         "required": False, "datatype_description": "", "order": 3,
         "description": "Keep my identity out of the record 匿名举报",
         "values": [{"key": "false", "name": "No 否"}, {"key": "true", "name": "Yes 是"}]},
    ]
    return {"service_code": code, "attributes": attributes}


def request_view(case: dict) -> dict:
    """A case in the specification's shape. The view given here never has a complainant."""
    status = "closed" if case["status"] in CLOSED else "open"
    notes = {"declined": case.get("decline_reason"),
             "merged": f"merged into {case.get('merged_into')}",
             "resolved": case.get("result"), "closed": case.get("result")}.get(case["status"])
    return {
        "service_request_id": case["case_no"], "status": status,
        "status_notes": notes or case["status"],
        "service_name": policy().categories.get(case["category"], {}).get("zh"),
        "service_code": case["category"],
        "description": mask_text(case.get("description") or ""),
        "agency_responsible": case.get("agency") or "萍乡市生态环境局",
        "service_notice": None,
        "requested_datetime": _w3c(case.get("received_at")),
        "updated_datetime": _w3c(case.get("updated_at")),
        "expected_datetime": _w3c(case.get("deadline")),
        "address": case.get("address"), "address_id": None, "zipcode": None,
        "lat": case.get("lat"), "long": case.get("lon"),
        "media_url": (case.get("media") or [None])[0],
    }


def parse_post(form) -> dict:
    """The POSTed form as our intake command, or Open311Error naming what is wrong."""
    def one(name):
        value = form.get(name)
        return value.strip() if isinstance(value, str) and value.strip() else None

    code = one("service_code")
    if code is None:
        raise Open311Error(400, "service_code is required")
    if code not in policy().categories:
        raise Open311Error(404, f"unknown service_code {code}")
    cmd: dict = {"category": code, "channel": "app"}
    lat, lon = one("lat"), one("long")
    if (lat is None) != (lon is None):
        raise Open311Error(400, "lat and long go together")
    if lat is not None:
        try:
            cmd["lat"], cmd["lon"] = float(lat), float(lon)
        except ValueError:
            raise Open311Error(400, "lat and long must be numbers")
        if not (-90 <= cmd["lat"] <= 90 and -180 <= cmd["lon"] <= 180):
            raise Open311Error(400, "lat or long out of range")
    address = one("address_string")
    if address:
        cmd["address"] = address[:300]
    if lat is None and address is None and one("address_id") is None:
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    description = one("description")
    if description is None:
        raise Open311Error(400, "description is required")
    if len(description) > MAX_DESCRIPTION:
        raise Open311Error(400, f"description is longer than {MAX_DESCRIPTION} characters")
    cmd["description"] = description
    media = one("media_url")
    if media:
        cmd["media"] = [media[:500]]
    attrs = {key[10:-1]: form.get(key) for key in form.keys()
             if key.startswith("attribute[") and key.endswith("]")}
    if attrs.get("enterprise"):
        cmd["enterprise"] = str(attrs["enterprise"])[:200]
    incident = attrs.get("incident")
    if incident not in (None, "", "none", "sudden", "mass"):
        raise Open311Error(400, "attribute[incident] must be none, sudden or mass")
    if incident in ("sudden", "mass"):
        cmd["incident"] = incident
    anonymous = str(attrs.get("anonymous", "false")).lower() == "true"
    name = " ".join(filter(None, [one("last_name"), one("first_name")])) or None
    contact = {"name": name, "phone": one("phone"), "email": one("email")}
    if anonymous or any(contact.values()):
        cmd["complainant"] = {**{k: v for k, v in contact.items() if v}, "anonymous": anonymous}
    return cmd


# --- HTTP -------------------------------------------------------------------------------------
def handle(service, request, path: str) -> Response:
    stem, _, fmt = path.rpartition(".")
    if fmt not in ("json", "xml"):
        stem, fmt = path, "json"
    lang = request.args.get("locale", "zh")[:2]
    try:
        with eventlet.Timeout(service.rpc_timeout, exception=Open311Error(503, "try again")):
            return _route(service, request, stem, fmt, lang)
    except Open311Error as err:
        return error(fmt, err.status, err.description)
    except DomainError as err:
        return error(fmt, 400 if err.status == 422 else err.status, err.message)
    except RemoteError as err:
        domain = DomainError.from_remote(err.value) if err.exc_type in REMOTE_TYPES else None
        if domain is None:
            return error(fmt, 502, "an internal service failed")
        return error(fmt, 400 if domain.status == 422 else domain.status, domain.message)


def _route(service, request, stem: str, fmt: str, lang: str) -> Response:
    method = request.method
    if stem == "discovery" and method == "GET":
        return render(fmt, discovery(request.host_url.rstrip("/")), "discovery", None)
    if stem == "services" and method == "GET":
        return render(fmt, services(lang), "services", "service")
    if stem.startswith("services/") and method == "GET":
        return render(fmt, definition(stem.split("/", 1)[1]), "service_definition", None)
    if stem == "requests" and method == "POST":
        return _post(service, request, fmt)
    if stem == "requests" and method == "GET":
        cases = service.complaints.public_requests(_filters(request.args))
        return render(fmt, [request_view(c) for c in cases], "service_requests", "request")
    if stem.startswith("requests/") and method == "GET":
        cases = service.complaints.public_requests({"case_nos": [stem.split("/", 1)[1]]})
        return render(fmt, [request_view(c) for c in cases], "service_requests", "request")
    if stem.startswith("tokens/") and method == "GET":
        token = stem.split("/", 1)[1]
        case = service.complaints.get_case(token, None)
        return render(fmt, [{"service_request_id": case["case_no"], "token": token}],
                      "service_requests", "request")
    raise Open311Error(404, "no such Open311 resource")


def _filters(args) -> dict:
    out = {}
    if args.get("service_request_id"):
        out["case_nos"] = [s.strip() for s in args["service_request_id"].split(",")][:200]
    if args.get("service_code"):
        out["categories"] = [s.strip() for s in args["service_code"].split(",")][:20]
    for key in ("start_date", "end_date"):
        if args.get(key):
            try:
                out[key] = datetime.fromisoformat(args[key].replace("Z", "+00:00")).isoformat()
            except ValueError:
                raise Open311Error(400, f"{key} must be a W3C date-time")
    if args.get("status"):
        if args["status"] not in ("open", "closed"):
            raise Open311Error(400, "status must be open or closed")
        out["status"] = args["status"]
    return out


def _form(request):
    """The POSTed fields: form-encoded as the specification has it, or a flat JSON object
    (numbers and booleans as their text), which some clients send."""
    if request.mimetype != "application/json":
        request.max_form_memory_size = MAX_POST
        request.max_form_parts = 100
        try:
            return request.form
        except HTTPException as err:  # too large or too many parts
            raise Open311Error(err.code if err.code in (400, 413) else 400, "the form is invalid")
    raw = request.stream.read(MAX_POST + 1)  # bounded, also for a body sent in chunks
    if len(raw) > MAX_POST:
        raise Open311Error(413, "request too large")
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise Open311Error(400, "the body is not valid JSON")
    if not isinstance(data, dict):
        raise Open311Error(400, "the body must be a JSON object")
    out = {}
    for key, value in data.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = repr(value)
        elif not isinstance(value, str):
            raise Open311Error(400, f"{key} must be a string or a number")
        out[key] = value
    return out


def _post(service, request, fmt: str) -> Response:
    if request.content_length and request.content_length > MAX_POST:
        raise Open311Error(413, "request too large")
    form = _form(request)
    api_key = form.get("api_key") or request.args.get("api_key")
    principal = None
    if api_key:
        with service.db.unit_of_work() as uow:
            try:
                principal = auth.authenticate(uow.session, f"Bearer {api_key}")
            except auth.Unauthorized:
                raise Open311Error(403, "invalid api_key")
    elif service.open311_requires_key:
        raise Open311Error(403, "api_key is required")
    else:
        limiter = service.rate_limiter
        if not limiter.allow(limiter.client_of(request)):
            raise Open311Error(429, "too many requests")
    try:
        cmd = parse_post(form)
        media.check_references(service, {"media": cmd.get("media")})
    except ValidationError as err:
        raise Open311Error(400, err.message)
    key = request.headers.get("Idempotency-Key")
    cmd = api.prepare(service, cmd)
    case = service.complaints.submit(cmd, principal.as_dict() if principal else None,
                                     f"open311:{key}" if key else None)
    media.bind_result(service, {"media": cmd.get("media")}, case, {})
    notice = "已受理登记，可凭编号查询进度 / Received; follow it by its number"
    return render(fmt, [{"service_request_id": case["case_no"], "service_notice": notice,
                         "account_id": None}], "service_requests", "request", 201)
