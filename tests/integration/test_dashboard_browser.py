"""The dashboard in a real headless Chromium (the system's, installed by `make chromium`): charts
render, update when a record is produced through Kafka, and a stopped dataset shows a banner.
Screenshots are saved under tests/artifacts/."""

import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import sync_playwright

from energy_orchestration.model import utc_now
from tests.integration.serving_support import land_sample, newest_interval, produce_psrn_minute, start_api

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def chart_datasets(page, canvas_id: str) -> list[str]:
    return page.evaluate(f"Chart.getChart('{canvas_id}').data.datasets.map(d => d.label)")


def producing_modes(url: str, zone: str) -> set[str]:
    """The mix chart's expected labels: the API's production series with a non-zero value."""
    series = requests.get(f"{url}/api/v1/zones/{zone}/dashboard", params={"hours": 24}, timeout=10).json()["series"]
    return {q.removeprefix("production_").replace("_", " ") for q, points in series.items()
            if q.startswith("production_") and any(v for _, v in points)}


def solar_landed(warehouse, zone: str) -> bool:
    with warehouse.connect(read_only=True) as db:
        return db.execute("""SELECT count(*) > 0 FROM observations
                             WHERE zone = ? AND quantity = 'production_solar' AND value > 0""", [zone]).fetchall()[0][0]


def daytime_in(zone_info: ZoneInfo) -> bool:
    """Whether the platform clock (pinned by `pytest --clock=...`) says it is the middle of the day there."""
    return 11 <= utc_now().astimezone(zone_info).hour < 14


@pytest.mark.clock
def test_dashboard_renders_and_updates_live(standin, bootstrap, warehouse, isolated_topics):
    assert CHROMIUM.exists(), "Chromium is missing: `make chromium` installs it (apt-get install chromium)"
    land_sample(standin.url, bootstrap, warehouse, f"{isolated_topics}-landing", hours=3)
    server = start_api(warehouse, bootstrap)
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.clock.set_fixed_time("2001-02-03T04:05:06Z")  # a wrong browser clock must not matter
            page.goto(f"{server.url}/?zone=DK-DK1")
            page.wait_for_function("Number(document.body.dataset.points || 0) > 0", timeout=20_000)
            page.wait_for_function("document.getElementById('connection').textContent === 'live'", timeout=20_000)
            # The mix shows every mode that produced something in the window, wherever the clock
            # stands: solar at midday, not at night (it is not drawn while it is all zeros).
            shown = set(chart_datasets(page, "mix-chart"))
            assert shown == producing_modes(server.url, "DK-DK1")
            assert {"wind offshore", "wind onshore"} <= shown
            assert ("solar" in shown) == solar_landed(warehouse, "DK-DK1")
            if daytime_in(ZoneInfo("Europe/Copenhagen")):
                assert "solar" in shown
            assert chart_datasets(page, "exchange-chart") and chart_datasets(page, "co2-chart")
            assert page.locator("#stale-banner").is_hidden()
            # DK1: consumption is published by no source (said, not an empty axis); the net
            # exchange is the sum of the borders, as no source publishes one per price area
            assert page.locator("#note-consumption").text_content() == "No source publishes consumption for DK-DK1."
            assert page.locator("#card-exchange").text_content().endswith(" MW")
            assert "sum of 6 borders" in page.locator("#card-exchange-note").text_content()
            assert page.evaluate("document.body.dataset.mode") == "live"
            assert page.locator("#history-controls").is_hidden()  # no date pickers in the live view
            # the time axis ends at the platform clock's now (from the API), not the browser's
            server_now = requests.get(f"{server.url}/api/v1/zones/DK-DK1/dashboard", timeout=10).json()["now_utc"]
            axis_end = page.evaluate("Chart.getChart('mix-chart').options.scales.x.max")
            assert abs(axis_end - page.evaluate(f"Date.parse({json.dumps(server_now)})")) <= 120_000  # polled each 5 s
            page.screenshot(path=str(ARTIFACTS / "dashboard-before.png"), full_page=True)

            renders = int(page.evaluate("document.body.dataset.renders"))
            minute = newest_interval(warehouse, "PowerSystemRightNow") + timedelta(minutes=1)
            stamp = minute.strftime("%Y-%m-%dT%H:%M:%SZ")
            record = produce_psrn_minute(bootstrap, minute)
            page.wait_for_function(f"document.body.dataset.lastInterval === {json.dumps(stamp)}", timeout=20_000)
            assert int(page.evaluate("document.body.dataset.renders")) > renders
            assert page.evaluate(f"Chart.getChart('exchange-chart').data.datasets.find(d => d.label === 'de')"
                                 f".data.find(p => p.x === Date.parse({json.dumps(stamp)})).y") \
                == pytest.approx(record["Exchange_DK1_DE"])
            page.screenshot(path=str(ARTIFACTS / "dashboard-live.png"), full_page=True)

            # France's regional feed "stopped" an hour ago: the banner says since when
            with warehouse.transaction() as db:
                db.execute("""UPDATE ingest_log SET landed_at_utc = landed_at_utc - INTERVAL 1 HOUR
                              WHERE dataset = 'eco2mix-regional-tr'""")
            page.select_option("#zone", "FR-84")
            page.wait_for_function("document.getElementById('stale-banner').textContent.includes('stale since')",
                                   timeout=20_000)
            assert "eco2mix-regional-tr" in page.locator("#stale-banner").text_content()
            assert "nuclear" in chart_datasets(page, "mix-chart")
            page.screenshot(path=str(ARTIFACTS / "dashboard-stale.png"), full_page=True)
            assert errors == []
            browser.close()
    finally:
        server.__exit__(None, None, None)
    assert (ARTIFACTS / "dashboard-live.png").stat().st_size > 10_000


def test_api_docs_render_offline(warehouse):
    """/docs (Swagger UI) and /redoc render in Chromium with every request off the API's own host
    refused: the assets are served by the API, nothing comes from a CDN."""
    assert CHROMIUM.exists(), "Chromium is missing: `make chromium` installs it (apt-get install chromium)"
    server = start_api(warehouse, None)
    outside: list[str] = []

    def only_the_api(route) -> None:
        if route.request.url.startswith(server.url) or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.route("**/*", only_the_api)
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{server.url}/docs")
            page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
            assert "energy-orchestration API" in page.locator(".swagger-ui .info .title").text_content()
            page.wait_for_selector(".opblock-tag-section", timeout=20_000)
            assert page.locator(".opblock").count() >= 10
            page.goto(f"{server.url}/redoc")
            page.wait_for_function("document.body.innerText.includes('energy-orchestration API')"
                                   " && document.body.innerText.includes('problem+json')", timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "redoc.png"))
            # ReDoc's attribution logo is the one outside request: refused here, as offline, and
            # ReDoc then hides it (its <img onError>); everything else came from the API.
            assert errors == [] and set(outside) <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}, outside
            browser.close()
    finally:
        server.__exit__(None, None, None)
