"""Open311 GeoReport v2, checked with a third-party client library (georeport) as a city's users
would use it, in JSON and XML. georeport only reads; posting is the form-encoded POST that every
Open311 client sends."""
from __future__ import annotations

import itertools
import uuid

import pytest
import requests
import xmltodict
from georeport import GeoReport

_SPOTS = itertools.count()


def _spot() -> dict:
    """A new point inside 金鸡村 (宣风镇, 芦溪县) for each post, far enough from the others not
    to be merged as a repeat of the same place."""
    n = next(_SPOTS)
    return {"lat": f"{27.51 + 0.005 * (n % 26):.3f}", "long": f"{114.09 + 0.005 * (n // 26):.3f}"}


@pytest.fixture(params=["json", "xml"])
def client(system, request):
    return GeoReport(f"{system.base_url}/open311/v2", output_format=request.param)


def _post(system, fmt="json", **fields):
    data = {"service_code": "air.odour", "description": "夜间刺鼻气味 " + uuid.uuid4().hex,
            **_spot(), "first_name": "先生", "last_name": "钱", "phone": "13907990009",
            "attribute[enterprise]": "化工厂 " + uuid.uuid4().hex[:6], **fields}
    return requests.post(f"{system.base_url}/open311/v2/requests.{fmt}", data=data,
                         headers={"X-Forwarded-For": "client-" + uuid.uuid4().hex}, timeout=30)


def test_discovery(system):
    doc = requests.get(f"{system.base_url}/open311/v2/discovery.json", timeout=10).json()
    endpoint = doc["endpoints"][0]
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert "text/xml" in endpoint["formats"]
    xml = xmltodict.parse(requests.get(f"{system.base_url}/open311/v2/discovery.xml",
                                       timeout=10).content)
    assert xml["discovery"]["endpoints"]["endpoint"]["type"] == "production"


def test_services_and_definitions(client):
    services = client.get_service_list()
    codes = {s["service_code"] for s in services}
    assert {"air.odour", "noise.construction", "water.industrial", "radiation"} <= codes
    odour = next(s for s in services if s["service_code"] == "air.odour")
    assert odour["metadata"] in (True, "true") and odour["type"] == "realtime"
    definition = client.get_service_definition("air.odour")
    attributes = definition["attributes"]
    attributes = attributes["attribute"] if isinstance(attributes, dict) else attributes
    incident = next(a for a in attributes if a["code"] == "incident")
    assert incident["datatype"] == "singlevaluelist"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_then_read_back(system, client, fmt):
    r = _post(system, fmt)
    assert r.status_code == 201, r.text
    if fmt == "json":
        request_id = r.json()[0]["service_request_id"]
    else:
        request_id = xmltodict.parse(r.content)["service_requests"]["request"][
            "service_request_id"]
    got = client.get_service_request(request_id)
    assert got["service_request_id"] == request_id
    assert got["status"] == "open" and got["service_code"] == "air.odour"
    assert 27.5 < float(got["lat"]) < 27.65
    listed = client.get_service_requests(service_request_id=request_id)
    listed = [listed] if isinstance(listed, dict) else listed
    assert [x["service_request_id"] for x in listed] == [request_id]
    # The requester is never shown.
    for body in (requests.get(f"{system.base_url}/open311/v2/requests/{request_id}.{f}",
                              timeout=10).text for f in ("json", "xml")):
        assert "13907990009" not in body and "钱" not in body
    # Intake staff of the region see the requester on the case.
    case = system.call("GET", f"/api/v1/cases/{request_id}", "intake-360323").json()
    assert case["complainant"]["phone"] == "13907990009" and case["channel"] == "app"


def test_status_filter_and_closed_mapping(system):
    r = _post(system)
    request_id = r.json()[0]["service_request_id"]
    system.call("POST", f"/api/v1/cases/{request_id}/decline", "intake-360323",
                json={"reason": "insufficient"})
    closed = requests.get(f"{system.base_url}/open311/v2/requests.json",
                          params={"status": "closed", "service_code": "air.odour"},
                          timeout=10).json()
    mine = [x for x in closed if x["service_request_id"] == request_id]
    assert mine and mine[0]["status"] == "closed" and mine[0]["status_notes"] == "insufficient"
    opened = requests.get(f"{system.base_url}/open311/v2/requests.json",
                          params={"status": "open"}, timeout=10).json()
    assert request_id not in {x["service_request_id"] for x in opened}


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize("fields, status", [
    ({"service_code": ""}, 400),
    ({"service_code": "no.such"}, 404),
    ({"lat": "", "long": ""}, 400),
    ({"lat": "abc"}, 400),
    ({"lat": "91"}, 400),
    ({"description": "x" * 4001}, 400),
    ({"attribute[incident]": "war"}, 400),
    ({"api_key": "wrong"}, 403),
])
def test_errors_in_the_spec_format(system, fmt, fields, status):
    r = _post(system, fmt, **fields)
    assert r.status_code == status, r.text
    if fmt == "json":
        error = r.json()[0]
    else:
        error = xmltodict.parse(r.content)["errors"]["error"]
    assert int(error["code"]) == status and error["description"]


def test_unknown_resources(system):
    r = requests.get(f"{system.base_url}/open311/v2/requests/000000-20990101-000000.json",
                     timeout=10)
    assert r.status_code == 404 and r.json()[0]["code"] == 404
    r = requests.get(f"{system.base_url}/open311/v2/nothing.xml", timeout=10)
    assert r.status_code == 404 and b"<errors>" in r.content
    r = requests.get(f"{system.base_url}/open311/v2/requests.json",
                     params={"start_date": "yesterday"}, timeout=10)
    assert r.status_code == 400


def test_api_key_is_a_staff_token(system):
    r = _post(system, api_key=system.tokens["intake-360323"])
    assert r.status_code == 201, r.text
