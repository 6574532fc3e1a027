"""The public dashboard in a real headless Chromium on a phone-sized window: every chart drawn
with as many marks as the API has figures, and visibly so on a screenshot; the English switch;
the grid map; no personal data anywhere on the page.

Needs Debian's ``chromium`` and ``chromium-driver``, ``selenium`` and Pillow; skips otherwise."""
from __future__ import annotations

import io
import json

import pytest

from infra.demo.pingxiang import demo_grids
from tests.casework import file_case
from tests.fixtures import wait_for
from tests.test_pages_browser import By, _wait, browser, driver  # noqa: F401 - fixtures

try:
    from PIL import Image
except ImportError:  # pragma: no cover - reported as a skip below
    Image = None

pytestmark = pytest.mark.browser

CITY = "360300"
HEHUA = "360322102002"   # 荷花村, 福田镇, 上栗县
SPIKE = 6
# A pixel counts as "ink" of a chart mark when its colour is saturated: bars, lines, points and
# map cells are coloured; text, axes, grid lines and the white card are grey.
SATURATION = 40


def _json(system, path):
    r = system.call("GET", path)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture(scope="module")
def hot_grid(system):
    """Six complaints dispatched to 荷花村 this week: a hot spot the page must show."""
    for _ in range(SPIKE):
        case_no = file_case(system, HEHUA, category="air.cooking")
        r = system.call("POST", f"/api/v1/cases/{case_no}/accept", "intake-360322", json={})
        assert r.status_code == 200, r.text

    def listed():
        data = _json(system, f"/api/v1/stats/hotspots?region={CITY}")
        return HEHUA in {h["grid"] for h in data["hot_spots"]} and data
    wait_for(listed, timeout=30, message="荷花村 a hot spot")
    wait_for(lambda: _json(system, f"/api/v1/stats/league?region={CITY}")["registry_version"],
             timeout=30, message="registry in ranking")
    return HEHUA


def _attrs(driver, css, name) -> list:
    """One attribute of every element matching ``css``, read in one go (the page may redraw
    between two WebDriver calls)."""
    return driver.execute_script(
        "var name = arguments[1];"
        "return Array.from(document.querySelectorAll(arguments[0]))"
        ".map(function (n) { return n.getAttribute(name); });", css, name)


def _marks(driver, css):
    paths = _attrs(driver, css, "d")
    assert all((d or "").strip() for d in paths), f"empty path in {css}"
    return len(paths)


def _inked(png: bytes) -> tuple[int, int]:
    """(saturated pixels, all pixels) of a PNG."""
    data = Image.open(io.BytesIO(png)).convert("RGB").tobytes()
    pixels = [data[i:i + 3] for i in range(0, len(data), 3)]
    inked = sum(1 for p in pixels if max(p) - min(p) > SATURATION)
    return inked, len(pixels)


def _assert_drawn(driver, element_id, tmp_path, at_least):
    """The chart's SVG, as a screenshot, has at least ``at_least`` pixels of coloured marks
    (the legend is outside the SVG, so its colour keys do not count)."""
    element = driver.find_element(By.CSS_SELECTOR, f"#{element_id} svg")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    png = element.screenshot_as_png
    (tmp_path / f"{element_id}.png").write_bytes(png)
    inked, total = _inked(png)
    assert total > 10_000, f"{element_id} is too small to be a chart ({total} px)"
    needed = at_least * total if at_least < 1 else at_least
    assert inked >= needed, f"{element_id}: only {inked} of {total} pixels are marks"
    return inked


def _people() -> list[str]:
    """Phone numbers, ids and (three-character, so no chance match) names of the registry's
    people."""
    return [p[k] for g in demo_grids() for p in [g.chief] + list(g.workers or []) if p
            for k in ("phone", "id", "name") if k != "name" or len(p[k]) >= 3]


def test_dashboard_is_served_like_the_other_pages(system):
    r = system.call("GET", "/dashboard")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
    for name in ("charts.js", "dashboard.js"):
        js = system.call("GET", f"/static/{name}")
        assert js.status_code == 200 and js.headers["Content-Type"].startswith("text/javascript")


def test_dashboard_charts_render_on_a_phone(browser, system, hot_grid, tmp_path):
    assert Image is not None, "Pillow is needed for the screenshot check"
    browser.get(system.url("/dashboard"))
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"),
          timeout=20)
    assert browser.find_element(By.TAG_NAME, "h1").text == "生态环境监管公开看板"
    league = _json(system, f"/api/v1/stats/league?region={CITY}&level=region")
    trends = _json(system, f"/api/v1/stats/trends?region={CITY}")
    hot = _json(system, f"/api/v1/stats/hotspots?region={CITY}&measure=complaints")
    counties = _json(system, f"/api/v1/public/map?region={CITY}&level=county")["features"]

    # As many marks as figures: a bar per scored county, two columns per month, a point per
    # defined rate, two columns per hot spot, a cell per county.
    scored = [r for r in league["rows"] if r["score"] is not None]
    assert len(scored) == 5
    assert _marks(browser, "#chart-league path.bar") == len(scored)
    assert _marks(browser, "#chart-trends path.bar") == 2 * len(trends["series"]) == 24
    rates = sum(1 for s in trends["series"] for k in ("on_time_rate", "satisfaction_rate")
                if s[k] is not None)
    assert _marks(browser, "#chart-rates path.point") == rates
    assert _marks(browser, "#chart-hotspots path.bar") == 2 * len(hot["hot_spots"]) >= 2
    assert _marks(browser, "#map path.cell") == len(counties) == 5
    assert _attrs(browser, "#league-rows tr", "data-scope") == [r["scope"] for r in league["rows"]]
    assert "荷花村" in browser.find_element(By.ID, "hot-list").text

    # Usable on a phone: nothing wider than the screen but the table, which scrolls in place.
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1")
    # Visibly drawn: long score bars, the month's columns, the hot spot's column, filled cells.
    _assert_drawn(browser, "chart-league", tmp_path, 0.05)
    _assert_drawn(browser, "chart-trends", tmp_path, 300)
    _assert_drawn(browser, "chart-hotspots", tmp_path, 300)
    _assert_drawn(browser, "map", tmp_path, 0.2)
    if rates:
        _assert_drawn(browser, "chart-rates", tmp_path, 10 * rates)
    browser.set_window_size(412, 3200)
    browser.save_screenshot(str(tmp_path / "dashboard.png"))

    text = browser.find_element(By.TAG_NAME, "main").text + browser.page_source
    assert not [p for p in _people() if p in text]


def test_dashboard_in_english_and_the_grid_views(browser, system, hot_grid, tmp_path):
    browser.get(system.url("/dashboard"))
    _wait(browser, lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"),
          timeout=20)
    bars = _marks(browser, "#chart-trends path.bar")
    browser.find_element(By.ID, "lang-switch").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Environmental supervision dashboard"
    label = browser.find_element(By.CSS_SELECTOR, "#chart-trends svg").get_attribute("aria-label")
    assert label == "Cases received and closed on time, per month"
    assert _marks(browser, "#chart-trends path.bar") == bars          # redrawn, same figures
    assert "Week" in browser.find_element(By.ID, "hot-meta").text

    # The map by grid cell, coloured by this period's complaints.
    cells = _json(system, f"/api/v1/public/map?region={CITY}&level=grid")["features"]
    browser.find_element(By.ID, "map-grid").click()
    assert _marks(browser, "#map path.cell") == len(cells) == 31
    assert _attrs(browser, f'#map path.cell[data-code="{HEHUA}"]', "data-value") == [str(SPIKE)]
    _assert_drawn(browser, "map", tmp_path, 300)                     # 荷花村's dark cell at least

    # The league of grid cells.
    browser.find_element(By.ID, "level-grid").click()
    _wait(browser, lambda d: [s for s in _attrs(d, "#league-rows tr", "data-scope")
                              if (s or "").startswith("grid:")])
    grid_league = _json(system, f"/api/v1/stats/league?region={CITY}&level=grid")
    shown = _attrs(browser, "#league-rows tr", "data-scope")
    assert shown == [r["scope"] for r in grid_league["rows"]]
    assert f"grid:{HEHUA}" in shown
    browser.find_element(By.ID, "lang-switch").click()               # back to Chinese
    assert browser.find_element(By.TAG_NAME, "h1").text == "生态环境监管公开看板"
    assert json.dumps(grid_league, ensure_ascii=False).count("gz-") == 0
