"""The user-facing pages in a real headless Chromium against the running system: the public
form and tracking, the dispatcher console and the grid worker page, as a person uses them.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package; skips with the
reason when one is missing."""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from datetime import datetime, timedelta

import pytest

from tests.fixtures import wait_for

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
COUNTY = "360323"                      # 芦溪县
GRID_A, GRID_B = "360323104001", "360323104002"   # 石门村, 樟树村 (银河镇)
POINT_A, POINT_B = (27.665, 114.215), (27.665, 114.255)
WAIT = 10

try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:  # pragma: no cover - reported as a skip below
    webdriver = None


def _missing() -> str | None:
    if webdriver is None:
        return "selenium is not installed (pip install -r requirements-dev.txt)"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (apt-get install {package})"
    return None


@pytest.fixture(scope="module")
def driver():
    reason = _missing()
    if reason:
        pytest.skip(reason)
    profile = tempfile.mkdtemp(prefix="envgrid-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--lang=zh-CN",
                f"--user-data-dir={profile}"):
        options.add_argument(arg)
    try:
        browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except WebDriverException as err:
        shutil.rmtree(profile, ignore_errors=True)
        pytest.skip(f"headless Chromium did not start: {err.msg}")
    browser.set_page_load_timeout(20)
    yield browser
    browser.quit()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(driver, system):
    """The browser on a blank slate: Chinese, signed out, phone-sized."""
    driver.set_window_size(412, 915)
    driver.get(system.url("/track"))
    driver.execute_script("localStorage.clear(); sessionStorage.clear();")
    return driver


def _wait(driver, condition, timeout=WAIT):
    return WebDriverWait(driver, timeout).until(condition)


def _visible_text(driver, css):
    return _wait(driver, EC.visibility_of_element_located((By.CSS_SELECTOR, css))).text


def _screenshot(driver, path, height=None):
    if height:
        driver.set_window_size(driver.get_window_size()["width"], height)
    driver.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000, f"{path.name} is only {len(data)} bytes"
    return data


def _sign_in(driver, system, page, account):
    driver.get(system.url(page))
    token = _wait(driver, EC.visibility_of_element_located((By.ID, "token")))
    token.send_keys(system.tokens[account])
    driver.find_element(By.CSS_SELECTOR, "#signin button[type=submit]").click()
    _wait(driver, EC.visibility_of_element_located((By.ID, "workspace")))


# --- tasks made through the API ---------------------------------------------------------------
def _task(system, grid, point, category, text):
    """A case filed by intake, accepted, and the task dispatch made for it. Each call uses its
    own category so intake never merges it into an earlier case at the same place."""
    intake = f"intake-{grid[:6]}"
    where = {"lat": point[0], "lon": point[1]} if point else {}
    r = system.call("POST", "/api/v1/intake", intake, json={
        "channel": "hotline", "category": category, "description": f"{text} {uuid.uuid4().hex}",
        "grid_code": grid, **where})
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    r = system.call("POST", f"/api/v1/cases/{case_no}/accept", intake, json={})
    assert r.status_code == 200, r.text

    def task_id():
        return system.call("GET", f"/api/v1/cases/{case_no}", "admin").json().get("task_id")
    tid = wait_for(task_id, message=f"task for {case_no}")
    return system.call("GET", f"/api/v1/tasks/{tid}", "admin").json()


def _cases_with(system, needle):
    rows = system.call("GET", "/api/v1/cases?limit=500", "intake-360323").json()
    return [c for c in rows if needle in (c.get("description") or "") + (c.get("address") or "")]


# --- served by the gateway --------------------------------------------------------------------
def test_gateway_serves_the_pages_and_nothing_else(system):
    for path, ctype in (("/", "text/html"), ("/track", "text/html"), ("/console", "text/html"),
                        ("/worker", "text/html"), ("/static/app.css", "text/css"),
                        ("/static/console.js", "text/javascript")):
        r = system.call("GET", path)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith(ctype), path
        assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
    again = system.call("GET", "/static/app.js", headers={"If-None-Match": r.headers["ETag"]})
    assert again.status_code == 200  # a different file's ETag does not match
    r = system.call("GET", "/static/console.js", headers={"If-None-Match": r.headers["ETag"]})
    assert r.status_code == 304
    for path in ("/static/pages.py", "/static/..%2Fpages.py", "/static/../api.py",
                 "/static/%2e%2e%2fservice.py"):
        r = system.call("GET", path)
        assert r.status_code == 404, path
        assert "import" not in r.text


def _photo(path, fmt="JPEG", colour=(90, 120, 60)):
    """A photo file as a phone writes it: EXIF with a GPS position and the camera's make."""
    from PIL import Image
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {1: "N", 2: (27.0, 30.0, 36.0), 3: "E", 4: (114.0, 5.0, 24.0)}
    Image.new("RGB", (120, 90), colour).save(path, fmt, exif=exif.tobytes())
    return path


# --- the public form and tracking -------------------------------------------------------------
def test_file_a_complaint_in_chinese_and_track_it(browser, system, tmp_path):
    text = "化工厂夜间排放刺鼻气味 " + uuid.uuid4().hex[:8]
    browser.get(system.url("/"))
    assert _visible_text(browser, "h1") == "环境问题举报"
    assert browser.execute_script("return document.documentElement.lang") == "zh-CN"
    Select(browser.find_element(By.ID, "category")).select_by_visible_text("大气-恶臭/异味")
    browser.find_element(By.ID, "description").send_keys(text)
    browser.find_element(By.ID, "address").send_keys("芦溪县宣风镇工业园")
    Select(browser.find_element(By.ID, "region")).select_by_visible_text("芦溪县")
    browser.find_element(By.ID, "name").send_keys("王女士")
    browser.find_element(By.ID, "phone").send_keys("13907990001")
    # A phone's photo, with the GPS position of where it was taken in its EXIF.
    browser.find_element(By.ID, "photo").send_keys(str(_photo(tmp_path / "smoke.jpg")))
    _screenshot(browser, tmp_path / "form.png", height=1900)

    submit = browser.find_element(By.ID, "submit")
    browser.execute_script("arguments[0].click(); arguments[0].click();", submit)  # a double click
    case_no = _visible_text(browser, "#case-no")
    assert case_no
    assert "举报已提交" in browser.find_element(By.ID, "done").text
    # Filed once, with what the form said, the complainant kept for intake staff only.
    filed = _cases_with(system, text)
    assert [c["case_no"] for c in filed] == [case_no]
    case = system.call("GET", f"/api/v1/cases/{case_no}", "intake-360323").json()
    assert case["region_code"] == COUNTY and case["category"] == "air.odour"
    assert case["complainant"]["name"] == "王女士" and case["channel"] == "web"
    # The photo went with it, without its metadata, for the county's staff only.
    [url] = case["media"]
    path = url[url.index("/api/v1/media/"):]
    seen = system.call("GET", path, "intake-360323")
    assert seen.status_code == 200 and seen.headers["Content-Type"] == "image/jpeg"
    assert b"PhoneMaker" not in seen.content and b"Exif" not in seen.content
    assert system.call("GET", path, "intake-360313").status_code == 404
    assert system.call("GET", path).status_code == 401

    browser.find_element(By.ID, "track-link").click()
    _wait(browser, EC.url_contains(f"/track?case={case_no}"))
    assert _visible_text(browser, "#c-status") == "已收到，待受理"
    assert browser.find_element(By.ID, "c-no").text == case_no
    assert browser.find_element(By.ID, "c-category").text == "大气-恶臭/异味"
    assert "收到举报" in browser.find_element(By.ID, "c-history").text
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "王女士" not in page and "13907990001" not in page


def test_empty_description_shows_the_error_next_to_it(browser, system):
    place = "测试地址-" + uuid.uuid4().hex[:8]
    browser.get(system.url("/"))
    Select(_wait(browser, EC.element_to_be_clickable((By.ID, "category")))).select_by_value(
        "noise.construction")
    browser.find_element(By.ID, "address").send_keys(place)
    browser.find_element(By.ID, "anonymous").click()
    assert not browser.find_element(By.ID, "name").is_displayed()
    browser.find_element(By.ID, "submit").click()

    error = _visible_text(browser, "#err-description")
    assert error == "请填写问题描述。"
    description = browser.find_element(By.ID, "description")
    assert description.get_attribute("aria-invalid") == "true"
    assert "err-description" in description.get_attribute("aria-describedby")
    assert browser.switch_to.active_element == description
    # It sits with the description field, not somewhere else on the page.
    field = browser.find_element(By.CSS_SELECTOR, "#description + .field-error")
    assert field.text == error
    assert not browser.find_element(By.ID, "done").is_displayed()
    assert _cases_with(system, place) == []


def test_a_file_that_is_not_a_photo_shows_the_error_by_the_photo_field(browser, system, tmp_path):
    text = "附件不是照片 " + uuid.uuid4().hex[:8]
    fake = tmp_path / "scan.jpg"
    fake.write_bytes(b"%PDF-1.7 not a photo at all")
    browser.get(system.url("/"))
    Select(_wait(browser, EC.element_to_be_clickable((By.ID, "category")))).select_by_value(
        "air.dust")
    browser.find_element(By.ID, "description").send_keys(text)
    Select(browser.find_element(By.ID, "region")).select_by_visible_text("芦溪县")
    browser.find_element(By.ID, "photo").send_keys(str(fake))
    browser.find_element(By.ID, "submit").click()
    assert _visible_text(browser, "#err-photo") == "只能上传 JPEG、PNG 或 WebP 格式的照片。"
    assert browser.find_element(By.ID, "photo").get_attribute("aria-invalid") == "true"
    assert not browser.find_element(By.ID, "done").is_displayed()
    assert _cases_with(system, text) == []
    # Choosing a real photo instead files the complaint with it.
    browser.find_element(By.ID, "photo").clear()
    browser.find_element(By.ID, "photo").send_keys(str(_photo(tmp_path / "dust.png", "PNG")))
    browser.find_element(By.ID, "submit").click()
    case_no = _visible_text(browser, "#case-no")
    case = system.call("GET", f"/api/v1/cases/{case_no}", "intake-360323").json()
    assert len(case["media"]) == 1 and case["media"][0].endswith(".png")


def test_english_switch_is_remembered(browser, system):
    browser.get(system.url("/"))
    switch = _wait(browser, EC.element_to_be_clickable((By.ID, "lang-switch")))
    assert switch.text == "English"
    switch.click()
    assert _visible_text(browser, "h1") == "Report an environmental problem"
    assert browser.execute_script("return document.documentElement.lang") == "en"
    assert browser.find_element(By.CSS_SELECTOR, "label[for=description]").text.startswith(
        "Description")
    assert browser.find_element(By.ID, "submit").text == "Submit report"
    options = [o.text for o in Select(browser.find_element(By.ID, "category")).options]
    assert "Air - odour" in options and "Luxi County" in [
        o.text for o in Select(browser.find_element(By.ID, "region")).options]
    # API errors come in the chosen language too, and follow a switch back and forth.
    browser.find_element(By.ID, "address").send_keys("somewhere")
    browser.find_element(By.ID, "submit").click()
    assert _visible_text(browser, "#err-category") == "Kind of problem is required."
    browser.find_element(By.ID, "lang-switch").click()
    assert _visible_text(browser, "#err-category") == "请填写问题类别。"
    browser.find_element(By.ID, "lang-switch").click()
    assert _visible_text(browser, "#err-category") == "Kind of problem is required."
    browser.get(system.url("/track"))   # remembered across pages
    assert _visible_text(browser, "h1") == "Track a case"
    assert browser.find_element(By.ID, "lang-switch").text == "中文"
    browser.find_element(By.ID, "lang-switch").click()
    assert _visible_text(browser, "h1") == "举报进度查询"


# --- the dispatcher console -------------------------------------------------------------------
def test_console_overdue_first_and_reassign(browser, system, clock, tmp_path):
    late = _task(system, GRID_A, POINT_A, "air.industrial", "逾期任务")
    deadline = datetime.fromisoformat(late["deadline"])
    clock.set(deadline + timedelta(hours=1))
    fresh = _task(system, GRID_A, (27.70, 114.225), "noise.industrial", "新任务")

    def server_says_overdue():
        rows = system.call("GET", f"/api/v1/tasks?overdue=1&grid_code={GRID_A}",
                           "dispatcher-360323").json()
        return late["task_id"] in {t["task_id"] for t in rows}
    wait_for(server_says_overdue, message="the late task overdue")

    browser.set_window_size(1280, 1000)
    _sign_in(browser, system, "/console", "dispatcher-360323")
    row = f'tr[data-task-id="{late["task_id"]}"]'
    _wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    rows = browser.find_elements(By.CSS_SELECTOR, "#task-rows tr[data-task-id]")
    flags = [r.get_attribute("data-overdue") for r in rows]
    assert flags == sorted(flags, reverse=True), "overdue rows come first"
    ids = [r.get_attribute("data-task-id") for r in rows]
    assert ids.index(late["task_id"]) < ids.index(fresh["task_id"])
    late_row = browser.find_element(By.CSS_SELECTOR, row)
    assert "overdue" in late_row.get_attribute("class")
    assert "已逾期" in late_row.text and late["case_no"] in late_row.text
    fresh_row = browser.find_element(By.CSS_SELECTOR, f'tr[data-task-id="{fresh["task_id"]}"]')
    assert "overdue" not in fresh_row.get_attribute("class")
    assert "噪声-工业" in fresh_row.text

    # Narrow to the grid, look at the map, then reassign the late task to the next village.
    grid = browser.find_element(By.ID, "f-grid")
    grid.send_keys(GRID_A)
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    _wait(browser, lambda d: d.find_element(By.ID, "summary").text.startswith("共 2 项"))
    assert browser.find_element(By.ID, "summary").text.startswith("共 2 项，已逾期 1 项")
    _screenshot(browser, tmp_path / "console.png")
    browser.find_element(By.ID, "view-map").click()
    dot = f'#scatter circle[data-task-id="{late["task_id"]}"]'
    assert browser.find_elements(By.CSS_SELECTOR, dot)
    assert GRID_A in _visible_text(browser, "#grid-groups")
    browser.find_element(By.ID, "view-list").click()

    browser.find_element(By.CSS_SELECTOR, f'{row} button.open-task').click()
    _wait(browser, EC.visibility_of_element_located((By.ID, "reassign-form")))
    browser.find_element(By.ID, "r-reason").send_keys("界址有误，改派樟树村")
    send = browser.find_element(By.CSS_SELECTOR, "#reassign-form button[type=submit]")
    send.click()  # no grid code yet: the API's error shows beside that field
    assert _visible_text(browser, "#err-r-grid") == "请填写网格编码。"
    browser.find_element(By.ID, "r-grid").send_keys(GRID_B)
    send.click()
    _wait(browser, EC.visibility_of_element_located((By.ID, "d-done")))
    assert not browser.find_element(By.ID, "err-r-grid").is_displayed()
    _wait(browser, lambda d: "改派" in d.find_element(By.ID, "d-history").text)
    task = system.call("GET", f"/api/v1/tasks/{late['task_id']}", "dispatcher-360323").json()
    assert task["grid_code"] == GRID_B
    reassigned = [h for h in task["history"] if h["action"] == "reassigned"]
    assert len(reassigned) == 1
    assert reassigned[0]["detail"]["reason"] == "界址有误，改派樟树村"
    assert reassigned[0]["actor_id"] == "dispatcher-360323"


# --- the grid worker page ---------------------------------------------------------------------
def test_worker_closes_a_task_on_a_phone(browser, system, tmp_path):
    task = _task(system, GRID_B, POINT_B, "water.other", "河道异味")
    chief = task["assignee"]["id"]
    assert chief == f"gz-{GRID_B}"
    _sign_in(browser, system, "/worker", chief)
    card = f'li.task-card[data-task-id="{task["task_id"]}"]'
    _wait(browser, EC.visibility_of_element_located((By.CSS_SELECTOR, card)))
    assert "期限" in browser.find_element(By.CSS_SELECTOR, f"{card} .due").text
    # Sign for it (签收) first: the task is then in progress, and can no longer be signed for.
    assert "待办理" in browser.find_element(By.CSS_SELECTOR, card).text
    browser.find_element(By.CSS_SELECTOR, f"{card} button.act-acknowledge").click()
    assert "已签收" in _visible_text(browser, "#notice")
    _wait(browser, lambda d: "办理中" in d.find_element(By.CSS_SELECTOR, card).text)
    assert not browser.find_elements(By.CSS_SELECTOR, f"{card} button.act-acknowledge")
    signed = system.call("GET", f"/api/v1/tasks/{task['task_id']}", chief).json()
    assert signed["status"] == "accepted"
    assert [h["actor_id"] for h in signed["history"] if h["action"] == "acknowledged"] == [chief]
    browser.find_element(By.CSS_SELECTOR, f"{card} button.act-close").click()
    form = f"{card} form.close-form"
    _wait(browser, EC.visibility_of_element_located((By.CSS_SELECTOR, form)))
    browser.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]").click()
    # Nothing filled in: the API names a missing field and the page shows it there.
    assert _visible_text(browser, f'{form} [data-error-for="founded"]') == "请填写是否属实。"
    browser.find_element(By.ID, f"c-{task['task_id']}-yes").click()
    browser.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]").click()
    assert _visible_text(browser, f'{form} [data-error-for="result"]') == "请填写处理结果。"
    founded_error = browser.find_element(By.CSS_SELECTOR, f'{form} [data-error-for="founded"]')
    assert not founded_error.is_displayed()
    browser.find_element(By.ID, f"c-{task['task_id']}-result").send_keys("现场核查属实，已责令整改")
    # Editing the field at fault clears its error.
    result_error = browser.find_element(By.CSS_SELECTOR, f'{form} [data-error-for="result"]')
    assert not result_error.is_displayed()
    browser.find_element(By.ID, f"c-{task['task_id']}-evidence").send_keys(
        "media:after-1\nmedia:after-2")
    browser.find_element(By.ID, f"c-{task['task_id']}-photos").send_keys(
        str(_photo(tmp_path / "after.jpg", colour=(30, 60, 200))))
    _screenshot(browser, tmp_path / "worker.png")
    browser.find_element(By.CSS_SELECTOR, f"{form} button[type=submit]").click()
    notice = _wait(browser, lambda d: (t := d.find_element(By.ID, "notice").text) and
                   "已办结" in t and t)
    assert task["case_no"] in notice

    closed = system.call("GET", f"/api/v1/tasks/{task['task_id']}", chief).json()
    assert closed["status"] == "closed" and closed["founded"] is True
    assert closed["result"] == "现场核查属实，已责令整改"
    assert closed["evidence"][:2] == ["media:after-1", "media:after-2"]
    [url] = closed["evidence"][2:]  # the photo, uploaded from the page
    path = url[url.index("/api/v1/media/"):]
    assert system.call("GET", path, "supervisor-360323").status_code == 200
    assert system.call("GET", path, "supervisor-360313").status_code == 404
    _wait(browser, lambda d: "已办结待核查" in d.find_element(By.CSS_SELECTOR, card).text)


def _click_submit(driver, form, value):
    driver.find_element(By.CSS_SELECTOR, f'#{form} button[type=submit][value="{value}"]').click()


def test_console_by_county_extension_decision_and_recheck(browser, system, tmp_path):
    """A city supervisor narrows the console to one county and one category, approves an
    extension, and after sign-off re-checks the work and finds it has come back (反弹)."""
    mine = _task(system, GRID_A, POINT_A, "ecology", "山体破坏")
    other = _task(system, "360313101001", None, "ecology", "湘东区生态破坏")
    tid = mine["task_id"]
    chief = mine["assignee"]["id"]
    r = system.call("POST", f"/api/v1/tasks/{tid}/extension", chief,
                    json={"days": 4, "reason": "需林业部门会同勘查"})
    assert r.status_code == 201, r.text

    browser.set_window_size(1280, 1100)
    _sign_in(browser, system, "/console", "supervisor-360300")
    row = f'tr[data-task-id="{tid}"]'
    _wait(browser, EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    assert browser.find_elements(By.CSS_SELECTOR, f'tr[data-task-id="{other["task_id"]}"]')
    by_region = browser.find_element(By.ID, "by-region").text
    assert "芦溪县" in by_region and "湘东区" in by_region

    Select(browser.find_element(By.ID, "f-region")).select_by_visible_text("芦溪县")
    Select(browser.find_element(By.ID, "f-category")).select_by_visible_text("生态破坏")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    _wait(browser, lambda d: not d.find_elements(
        By.CSS_SELECTOR, f'tr[data-task-id="{other["task_id"]}"]'))
    rows = browser.find_elements(By.CSS_SELECTOR, "#task-rows tr[data-task-id]")
    assert tid in [r.get_attribute("data-task-id") for r in rows]
    for r in rows:
        assert r.find_element(By.CSS_SELECTOR, "td.region").text == "芦溪县"
        assert "生态破坏" in r.text

    browser.find_element(By.CSS_SELECTOR, f"{row} button.open-task").click()
    assert "4 天" in _visible_text(browser, "#x-info")
    assert "需林业部门会同勘查" in browser.find_element(By.ID, "x-info").text
    browser.find_element(By.ID, "x-note").send_keys("同意延期")
    _click_submit(browser, "extension-form", "approve")
    _wait(browser, EC.visibility_of_element_located((By.ID, "d-done")))
    _screenshot(browser, tmp_path / "console-extension.png")
    task = system.call("GET", f"/api/v1/tasks/{tid}", "supervisor-360300").json()
    assert task["extensions"] == 1
    assert datetime.fromisoformat(task["deadline"]) == datetime.fromisoformat(
        mine["deadline"]) + timedelta(days=4)
    assert [h["actor_id"] for h in task["history"] if h["action"] == "extended"] == [
        "supervisor-360300"]

    # Closed and signed off through the API; the re-check is the console's.
    r = system.call("POST", f"/api/v1/tasks/{tid}/close", chief,
                    json={"result": "已恢复植被", "founded": True})
    assert r.status_code == 200, r.text
    r = system.call("POST", f"/api/v1/tasks/{tid}/verify", "supervisor-360323",
                    json={"approved": True})
    assert r.status_code == 200, r.text
    Select(browser.find_element(By.ID, "f-status")).select_by_value("verified")
    browser.find_element(By.CSS_SELECTOR, "#filters button[type=submit]").click()
    _wait(browser, lambda d: "已销号" in d.find_element(By.CSS_SELECTOR, row).text)
    browser.find_element(By.CSS_SELECTOR, f"{row} button.open-task").click()
    # The list reloads with the signed-off task; its detail then offers the re-check.
    _wait(browser, lambda d: "核查销号" in d.find_element(By.ID, "k-info").text)
    recheck = browser.find_element(By.CSS_SELECTOR, "#recheck-form button[type=submit]")
    recheck.click()  # no finding chosen: the API names the field and the page shows it there
    assert _visible_text(browser, "#err-k-outcome") == "请填写复查结论。"
    browser.find_element(By.ID, "k-rebound").click()
    recheck.click()  # a rebound needs a note
    assert _visible_text(browser, "#err-k-note") == "请填写意见。"
    browser.find_element(By.ID, "k-note").send_keys("复查发现又有开挖")
    recheck.click()
    _wait(browser, EC.visibility_of_element_located((By.ID, "d-done")))
    _wait(browser, lambda d: "复查" in d.find_element(By.ID, "d-history").text)
    assert "反弹" in browser.find_element(By.ID, "d-history").text
    task = system.call("GET", f"/api/v1/tasks/{tid}", "supervisor-360300").json()
    assert task["status"] == "reopened"
    assert [h["detail"]["reason"] for h in task["history"] if h["action"] == "reopened"] == [
        "rebound"]
