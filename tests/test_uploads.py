"""Photo uploads through the public API: what is accepted (by its bytes), the limits, the
metadata removed before storage, and who may see a photo (staff who may read the case or task
that references it; never the public or another county).

The photo-field flows of the pages are in ``test_pages_browser.py``."""
from __future__ import annotations

import uuid
from io import BytesIO

import pytest
import requests
from PIL import Image

from services.gateway import media
from tests.casework import COUNTY, OTHER_COUNTY, VILLAGE, chief_of, get_case, new_task, worker_of

GPS = {1: "N", 2: (27.0, 30.0, 36.0), 3: "E", 4: (114.0, 5.0, 24.0)}


def photo(fmt="JPEG", colour=None) -> bytes:
    """A new photo (its own colour, so its own address) with a phone's GPS in its EXIF."""
    colour = colour or tuple(uuid.uuid4().bytes[:3])
    exif = Image.Exif()
    exif[0x8825] = GPS
    exif[0x010F] = "PhoneMaker"
    out = BytesIO()
    Image.new("RGB", (40, 30), colour).save(out, fmt, exif=exif.tobytes())
    return out.getvalue()


def upload(system, data, account=None, content_type="image/jpeg", **kwargs):
    return system.call("POST", "/api/v1/media", account, data=data,
                       headers={"Content-Type": content_type, **kwargs.pop("headers", {})},
                       **kwargs)


def uploaded(system, data=None, account=None) -> dict:
    r = upload(system, data or photo(), account)
    assert r.status_code == 201, r.text
    return r.json()


def path_of(url: str) -> str:
    return url[url.index("/api/v1/media/"):]


def complaint(system, media_urls, region=COUNTY) -> dict:
    r = system.call("POST", "/api/v1/complaints", json={
        "category": "air.odour", "description": "附照片的举报 " + uuid.uuid4().hex,
        "region_code": region, "media": media_urls})
    assert r.status_code == 201, r.text
    return r.json()


def _error(r, status, code, field=None):
    assert r.status_code == status, (r.status_code, r.text)
    err = r.json()["error"]
    assert err["code"] == code, err
    if field:
        assert err["field"] == field, err


def test_upload_is_cleaned_and_stored_by_its_content(system):
    data = photo()
    first = uploaded(system, data)
    assert first["content_type"] == "image/jpeg" and (first["width"], first["height"]) == (40, 30)
    assert first["media_url"].startswith(system.base_url + "/api/v1/media/")
    assert first["media_url"].endswith(f"{first['media_id']}.jpg")
    again = uploaded(system, data)
    assert again["media_url"] == first["media_url"]  # content-addressed: stored once
    stored = (media.path_of(media.Path(system.config["MEDIA_DIR"]),
                            first["media_url"].rsplit("/", 1)[1])).read_bytes()
    assert media.sniff(stored) == "jpeg"
    assert b"PhoneMaker" not in stored and b"Exif" not in stored
    assert not dict(Image.open(BytesIO(stored)).getexif())


@pytest.mark.parametrize("data,content_type,status,code", [
    (b"<html><script>alert(1)</script></html>", "image/jpeg", 415, "unsupported_media_type"),
    (photo("JPEG"), "text/html", 415, "unsupported_media_type"),
    (b"GIF89a" + b"\0" * 64, "image/gif", 415, "unsupported_media_type"),
    (b"\xff\xd8\xff\xe0" + b"broken" * 20, "image/jpeg", 422, "invalid_image"),
    (b"", "image/jpeg", 422, "empty_upload"),
])
def test_refused_uploads(system, data, content_type, status, code):
    _error(upload(system, data, content_type=content_type), status, code, "file")


def test_size_limit_from_the_config(system):
    limit = media.settings()["max_bytes"]
    r = upload(system, photo() + b"\0" * limit)
    _error(r, 413, "upload_too_large", "file")
    assert str(limit) in r.json()["error"]["message"]


def test_multipart_form_upload(system):
    data = photo("PNG")
    r = system.call("POST", "/api/v1/media", files={"file": ("site.png", data, "image/png")})
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "image/png"
    r = system.call("POST", "/api/v1/media", files={"other": ("site.png", data, "image/png")})
    _error(r, 422, "missing_field", "file")


def test_public_uploads_are_rate_limited_per_client(system):
    client = {"X-Forwarded-For": "client-upload-" + uuid.uuid4().hex}
    data = photo()
    statuses = [upload(system, data, headers=client).status_code
                for _ in range(system.config["PUBLIC_RATE_BURST"] + 1)]
    assert statuses[:-1] == [201] * system.config["PUBLIC_RATE_BURST"]
    _error(upload(system, data, headers=client), 429, "rate_limited")
    assert upload(system, data).status_code == 201  # another client is not affected


def test_complainant_photo_is_seen_by_the_handling_region_only(system):
    data = photo()
    url = uploaded(system, data)["media_url"]
    path = path_of(url)
    # Not yet part of any case: nobody sees it, not even an administrator.
    _error(system.call("GET", path, "admin"), 404, "media_not_found", "name")

    case = complaint(system, [url])
    assert get_case(system, case["case_no"])["media"] == [url]
    for account in (f"intake-{COUNTY}", f"supervisor-{COUNTY}", f"dispatcher-{COUNTY}",
                    "intake-360300", "admin"):
        r = system.call("GET", path, account)
        assert r.status_code == 200, (account, r.status_code, r.text)
        assert r.headers["Content-Type"] == "image/jpeg"
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert media.sniff(r.content) == "jpeg" and b"PhoneMaker" not in r.content
    for account in (f"intake-{OTHER_COUNTY}", f"supervisor-{OTHER_COUNTY}",
                    f"dispatcher-{OTHER_COUNTY}"):
        _error(system.call("GET", path, account), 404, "media_not_found")
    _error(system.call("GET", path), 401, "unauthorized")
    _error(system.call("GET", path, f"liaison-{OTHER_COUNTY}"), 403, "forbidden_role")
    # The public view of the case does not list it either.
    public = system.call("GET", f"/api/v1/public/cases/{case['case_no']}").json()
    assert url not in str(public)


def test_access_follows_a_referral(system):
    url = uploaded(system)["media_url"]
    case = complaint(system, [url])
    assert system.call("GET", path_of(url), f"intake-{OTHER_COUNTY}").status_code == 404
    r = system.call("POST", f"/api/v1/cases/{case['case_no']}/refer", f"intake-{COUNTY}",
                    json={"to_region": OTHER_COUNTY, "reason": "发生地在湘东区"})
    assert r.status_code == 200, r.text
    assert system.call("GET", path_of(url), f"intake-{OTHER_COUNTY}").status_code == 200
    assert system.call("GET", path_of(url), f"intake-{COUNTY}").status_code == 404


def test_a_reference_to_a_photo_never_uploaded_is_refused(system):
    missing = f"{system.base_url}/api/v1/media/{'0' * 64}.jpg"
    known = uploaded(system)["media_url"]
    text = "未上传的照片 " + uuid.uuid4().hex
    r = system.call("POST", "/api/v1/complaints", json={
        "category": "air.odour", "description": text, "region_code": COUNTY,
        "media": [known, missing]})
    _error(r, 422, "unknown_media", "media.1")
    listed = system.call("GET", "/api/v1/cases?limit=100", f"intake-{COUNTY}").json()
    assert not [c for c in listed if c.get("description") == text]
    # Other references (a file number, another system's URL) are the submitter's business.
    complaint(system, ["https://example.org/photo.jpg", "档案 2026-17"])


def test_task_evidence_photo(system):
    task = new_task(system, VILLAGE)
    chief = chief_of(VILLAGE)
    url = uploaded(system, photo("WEBP"), chief)["media_url"]
    assert url.endswith(".webp")
    path = path_of(url)
    # Its uploader sees it at once; colleagues only once a record references it.
    assert system.call("GET", path, chief).status_code == 200
    assert system.call("GET", path, f"dispatcher-{COUNTY}").status_code == 404
    r = system.call("POST", f"/api/v1/tasks/{task['task_id']}/close", chief,
                    json={"result": "已整改，附现场照片", "founded": True,
                          "evidence": ["现场笔录 01", url]})
    assert r.status_code == 200, r.text
    for account in (f"dispatcher-{COUNTY}", f"supervisor-{COUNTY}", "admin"):
        assert system.call("GET", path, account).status_code == 200, account
    for account in (f"dispatcher-{OTHER_COUNTY}", f"supervisor-{OTHER_COUNTY}",
                    worker_of(VILLAGE, 2)):  # a worker who is not on the task
        _error(system.call("GET", path, account), 404, "media_not_found")


def test_task_evidence_must_be_uploaded(system):
    task = new_task(system, VILLAGE)
    r = system.call("POST", f"/api/v1/tasks/{task['task_id']}/close", chief_of(VILLAGE),
                    json={"result": "已整改", "founded": True,
                          "evidence": [f"/api/v1/media/{'f' * 64}.png"]})
    _error(r, 422, "unknown_media", "evidence.0")
    assert system.call("GET", f"/api/v1/tasks/{task['task_id']}",
                       "admin").json()["status"] == "assigned"


def test_open311_media_url(system):
    url = uploaded(system)["media_url"]
    r = requests.post(f"{system.base_url}/open311/v2/requests.json", timeout=30, data={
        "service_code": "air.dust", "description": "工地扬尘 " + uuid.uuid4().hex,
        "address_string": "芦溪县宣风镇 " + uuid.uuid4().hex[:6], "media_url": url},
        headers={"X-Forwarded-For": "client-" + uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    case_no = r.json()[0]["service_request_id"]
    assert system.call("GET", path_of(url), f"intake-{COUNTY}").status_code == 200
    got = requests.get(f"{system.base_url}/open311/v2/requests/{case_no}.json", timeout=10)
    assert got.json()[0]["media_url"] == url
    assert requests.get(url, timeout=10).status_code == 401  # the public cannot open it
    r = requests.post(f"{system.base_url}/open311/v2/requests.json", timeout=30, data={
        "service_code": "air.dust", "description": "x", "address_string": "芦溪县",
        "media_url": f"/api/v1/media/{'e' * 64}.jpg"},
        headers={"X-Forwarded-For": "client-" + uuid.uuid4().hex})
    assert r.status_code == 400 and "uploaded photo" in r.json()[0]["description"]
