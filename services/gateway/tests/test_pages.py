"""The static pages module: whitelist, content types, caching, CSP, and the words of the pages
agreeing with policy.yaml."""
import json
import re

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.common.config import policy
from services.gateway import pages
from services.gateway.pages import FILES, PAGES_DIR, page_response


@pytest.mark.parametrize("name,ctype", [
    ("index.html", "text/html; charset=utf-8"),
    ("console.html", "text/html; charset=utf-8"),
    ("app.css", "text/css; charset=utf-8"),
    ("app.js", "text/javascript; charset=utf-8"),
    ("i18n.js", "text/javascript; charset=utf-8"),
])
def test_known_files_with_their_content_type(name, ctype):
    r = page_response(name)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == ctype
    assert r.get_data() == (PAGES_DIR / name).read_bytes()
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_strict_csp_and_caching():
    html, js = page_response("track.html"), page_response("app.js")
    csp = html.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe" not in csp and "http" not in csp and "*" not in csp
    assert html.headers["Cache-Control"] == "no-cache"
    assert "max-age" in js.headers["Cache-Control"]
    assert html.headers["ETag"] and html.headers["ETag"] != js.headers["ETag"]


def test_matching_etag_gets_304():
    etag = page_response("app.css").headers["ETag"]
    request = Request(EnvironBuilder(path="/static/app.css",
                                     headers={"If-None-Match": etag}).get_environ())
    r = page_response("app.css", request)
    assert r.status_code == 304 and r.get_data() == b""
    stale = Request(EnvironBuilder(headers={"If-None-Match": '"old"'}).get_environ())
    assert page_response("app.css", stale).status_code == 200


@pytest.mark.parametrize("name", [
    "nope.html", "../pages.py", "..%2Fpages.py", "/etc/passwd", "pages/index.html", "", ".",
    "INDEX.HTML", "index.html/", "app.js\x00.css", "__init__.py", None,
])
def test_anything_else_is_404_json(name):
    r = page_response(name)
    assert r.status_code == 404
    assert r.mimetype == "application/json"
    assert json.loads(r.get_data())["error"]["code"] == "not_found"
    assert "Content-Security-Policy" in r.headers


def test_every_whitelisted_file_exists_and_nothing_else_is_served():
    on_disk = {p.name for p in PAGES_DIR.iterdir() if p.is_file()}
    assert set(FILES) == on_disk


def test_pages_load_only_same_origin_files():
    """No CDN, no inline script or style: everything the CSP allows is in FILES."""
    for name in FILES:
        if not name.endswith(".html"):
            continue
        html = (PAGES_DIR / name).read_text()
        assert "<style" not in html and " style=" not in html and "javascript:" not in html
        assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, name
        for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
            assert ref.startswith("/") or ref.startswith("#"), (name, ref)
            if ref.startswith("/static/"):
                assert ref.removeprefix("/static/") in FILES, (name, ref)


def _block(marker: str) -> dict:
    text = (PAGES_DIR / "i18n.js").read_text()
    found = re.search(r"/\* %s:begin \*/(.*?)/\* %s:end \*/" % (marker, marker), text, re.S)
    assert found, f"{marker} markers missing in i18n.js"
    return json.loads(found.group(1))


def test_category_names_match_policy():
    expected = {code: {"zh": c["zh"], "en": c["en"]} for code, c in policy().categories.items()}
    assert _block("categories") == expected, (
        "i18n.js categories differ from infra/config/policy.yaml; paste this between the "
        "categories markers:\n" + json.dumps(expected, ensure_ascii=False, indent=2))


def test_decline_reasons_match_policy():
    expected = {code: {"zh": r["zh"], "en": r["en"], "next_zh": r["next_step"]["zh"],
                       "next_en": r["next_step"]["en"]}
                for code, r in policy().data["decline_reasons"].items()}
    assert _block("decline_reasons") == expected, (
        "i18n.js decline reasons differ from infra/config/policy.yaml; paste this between the "
        "decline_reasons markers:\n" + json.dumps(expected, ensure_ascii=False, indent=2))


def test_both_languages_have_the_same_words():
    text = (PAGES_DIR / "i18n.js").read_text()
    zh = text[text.index("  zh: {"):text.index("  en: {")]
    en = text[text.index("  en: {"):]
    keys = lambda part: set(re.findall(r'^\s*"([\w.]+)":', part, re.M))  # noqa: E731
    assert keys(zh) == keys(en)
    assert len(keys(zh)) > 100
    assert pages.CSP  # the module is importable without nameko or a database
