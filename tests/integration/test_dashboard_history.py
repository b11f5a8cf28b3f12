"""The dashboard's history view in a real headless Chromium, over three local days of Denmark
landed for real (stand-in over HTTP -> Kafka -> landing consumer -> DuckDB) and aggregated, with
the platform clock pinned (ENERGY_CLOCK_NOW) two days after the 25-hour DST day of 2025-10-26.
Screenshots are saved under tests/artifacts/."""

from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from playwright.sync_api import sync_playwright

from tests.integration.serving_support import build_aggregates, start_api

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
COPENHAGEN = ZoneInfo("Europe/Copenhagen")
NOW = "2025-10-28T11:00:00Z"
FIRST, LAST = datetime(2025, 10, 25, tzinfo=COPENHAGEN), datetime(2025, 10, 28, tzinfo=COPENHAGEN)
"""Landed: local 25, 26 (25 hours) and 27 October, 73 hours in all."""


def local(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).astimezone(COPENHAGEN)


def ticks(page, canvas: str = "mix-chart") -> list[float]:
    return page.evaluate(f"Chart.getChart('{canvas}').scales.x.ticks.map(t => t.value)")


def mode_points(page) -> dict[str, int]:
    return page.evaluate("Object.fromEntries(Chart.getChart('mix-chart').data.datasets.map(d => "
                         "[d.label, d.data.filter(p => p.y !== null).length]))")


def open_range(page, url: str) -> None:
    """Load the page on a range (a fresh document) and wait until its series are drawn."""
    page.goto(url)
    page.wait_for_function("Number(document.body.dataset.loads || 0) > 0", timeout=20_000)


@pytest.fixture
def history_server(monkeypatch, land_range, warehouse):
    monkeypatch.setenv("ENERGY_CLOCK_NOW", NOW)
    start, end = FIRST.astimezone(timezone.utc), LAST.astimezone(timezone.utc)
    land_range(start, end, ["ElectricityProdex5MinRealtime", "CO2Emis"])
    build_aggregates(warehouse)
    server = start_api(warehouse, None)
    try:
        yield server
    finally:
        server.__exit__(None, None, None)


def test_history_ranges_ticks_and_explanations(history_server, warehouse):
    assert CHROMIUM.exists(), "Chromium is missing: `make chromium` installs it (apt-get install chromium)"
    ARTIFACTS.mkdir(exist_ok=True)
    base = f"{history_server.url}/?zone=DK-DK1"
    # The API picks the grain for the span and counts coverage up to the platform clock's now.
    api = f"{history_server.url}/api/v1/zones/DK-DK1/series"
    answer = requests.get(api, params={"from": "2025-10-27", "to": "2025-10-28"}, timeout=30).json()
    assert answer["grain"] == "minute" and answer["now_utc"] == "2025-10-28T11:00:00Z"
    assert answer["buckets_expected"] == 24 + 12  # the 27th, and the 28th up to 12:00 local
    assert answer["coverage"]["production_solar"] == round(100 * 24 / 36, 1)
    assert "consumption" not in answer["series"] and "consumption" not in answer["published"]
    # the computed CO2 of minute ranges follows the co2_intensity view's rule exactly
    with warehouse.connect(read_only=True) as db:
        view = db.execute("""SELECT epoch_ms(interval_start_utc), avg(computed) FROM co2_intensity
                             WHERE zone = 'DK-DK1' AND interval_start_utc >= '2025-10-26 23:00'
                               AND computed IS NOT NULL GROUP BY 1 ORDER BY 1""").fetchall()
    assert len(view) == 24 * 12
    assert answer["series"]["co2_intensity_computed"] == [[ms, pytest.approx(v)] for ms, v in view]
    year = requests.get(api, params={"from": "2025-01-01", "to": "2025-12-31"}, timeout=30).json()
    assert year["grain"] == "daily" and year["buckets_expected"] == 301  # 1 January to 28 October
    assert len(year["series"]["production_wind_onshore"]) == 3
    refused = requests.get(api, params={"from": "2025-01-01", "to": "2025-12-31", "grain": "minute"}, timeout=30)
    assert refused.status_code == 400 and "at most 31 days" in refused.json()["detail"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.clock.set_fixed_time("2001-02-03T04:05:06Z")  # the browser's clock must not matter

        # The 25-hour day from minute (5-minute) observations: 300 points a mode, ticks every
        # 3 local hours, the first 4 UTC hours long (00:00 CEST -> 03:00 CET).
        open_range(page, f"{base}&range=day&date=2025-10-26")
        assert page.evaluate("dashboardState.grain") == "minute"
        assert page.locator("#history-controls").is_visible()
        counts = mode_points(page)
        assert counts and set(counts.values()) == {300}, counts
        day_ticks = ticks(page)
        assert [local(t).hour for t in day_ticks] == [0, 3, 6, 9, 12, 15, 18, 21, 0]
        assert (day_ticks[1] - day_ticks[0]) == 4 * 3600_000 and (day_ticks[2] - day_ticks[1]) == 3 * 3600_000
        page.screenshot(path=str(ARTIFACTS / "dashboard-history-day.png"), full_page=True)

        # Three days from zone_hourly: 24 + 25 + 24 points a mode, ticks at local midnights and noons.
        open_range(page, f"{base}&range=custom&from=2025-10-25&to=2025-10-27")
        assert page.evaluate("dashboardState.grain") == "hourly"
        assert set(mode_points(page).values()) == {73}
        custom_ticks = [local(t) for t in ticks(page)]
        assert {(t.hour, t.minute) for t in custom_ticks} == {(0, 0), (12, 0)}
        assert [t.day for t in custom_ticks if t.hour == 0] == [25, 26, 27, 28]

        # DK1: no source publishes consumption; the net exchange is the sum of the borders.
        assert page.locator("#note-consumption").text_content() == "No source publishes consumption for DK-DK1."
        assert page.locator("#card-consumption-note").text_content() == "not published for DK-DK1"
        assert page.locator("#card-exchange").text_content() != "–"
        assert "sum of 6 borders" in page.locator("#card-exchange-note").text_content()
        # CO2: both series, each labelled with its method and why they differ.
        labels = page.evaluate("Chart.getChart('co2-chart').data.datasets.map(d => d.label)")
        assert labels == ["reported (operator)", "computed (2014-ipcc-v1, life-cycle)"]
        assert "CO2Emis" in page.locator("#co2-reported-method").text_content()
        assert "direct" in page.locator("#co2-reported-method").text_content()
        computed = page.locator("#co2-computed-method").text_content()
        assert "2014-ipcc-v1" in computed and "life-cycle" in computed
        assert "twice" in page.locator("#co2-why").text_content()
        page.screenshot(path=str(ARTIFACTS / "dashboard-history-3days.png"), full_page=True)
        # switching the range picker: the day of the range's first date, from minute data
        page.select_option("#range", "day")
        page.wait_for_function("Number(document.body.dataset.loads) >= 2 && dashboardState.grain === 'minute'",
                               timeout=20_000)
        assert page.evaluate("[dashboardState.from, dashboardState.to]") == ["2025-10-25", "2025-10-25"]
        assert set(mode_points(page).values()) == {288}
        # ... and back to live: the last 24 h before the pinned now, the date pickers hidden
        page.select_option("#range", "live")
        page.wait_for_function("document.body.dataset.mode === 'live' && Number(document.body.dataset.points) > 0",
                               timeout=20_000)
        assert page.locator("#history-controls").is_hidden()
        assert page.evaluate("Chart.getChart('mix-chart').options.scales.x.max") == \
            datetime(2025, 10, 28, 11, tzinfo=timezone.utc).timestamp() * 1000

        # The week holding the data: hourly, daily ticks at local midnights, and it says it is partial.
        open_range(page, f"{base}&range=week&date=2025-10-22")
        assert (page.evaluate("[dashboardState.from, dashboardState.to]")) == ["2025-10-20", "2025-10-26"]
        assert set(mode_points(page).values()) == {49}
        week_ticks = [local(t) for t in ticks(page)]
        assert [(t.day, t.hour, t.minute) for t in week_ticks] == [(d, 0, 0) for d in range(20, 28)]
        note = page.locator("#note-mix").text_content()
        assert note == f"Partial: {round(100 * 49 / (7 * 24 + 1))} % of hours present.", note
        # next: the week of 27 October holds one landed day (and the pinned now is on the 28th)
        page.click("#next")
        page.wait_for_function("dashboardState.from === '2025-10-27' && Number(document.body.dataset.loads) >= 2",
                               timeout=20_000)
        assert set(mode_points(page).values()) == {24}

        # A year from zone_daily: one point per landed local day, month-start ticks.
        open_range(page, f"{base}&range=year&date=2025-10-26")
        assert page.evaluate("dashboardState.grain") == "daily"
        assert set(mode_points(page).values()) == {3}
        assert [(local(t).month, local(t).day, local(t).hour) for t in ticks(page)] == \
            [(m, 1, 0) for m in range(1, 13, 2)] + [(1, 1, 0)]
        page.screenshot(path=str(ARTIFACTS / "dashboard-history-year.png"), full_page=True)

        # A range with nothing landed says so (the source publishes it: not "not published").
        open_range(page, f"{base}&range=month&date=2025-08-10")
        assert page.locator("#note-mix").text_content().startswith("No data landed for this range")
        assert page.locator("#note-consumption").text_content() == "No source publishes consumption for DK-DK1."
        assert errors == []
        browser.close()


def test_even_ticks_in_local_time(warehouse):
    """evenTicks (static/ticks.js) in the browser: midnights and 6-hour steps on the 23-hour day,
    Mondays over two months, month starts over a year."""
    server = start_api(warehouse, None)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            page = browser.new_page()
            page.goto(f"{server.url}/static/vendor/README.md")
            page.add_script_tag(url=f"{server.url}/static/ticks.js")

            def even(first: datetime, last: datetime) -> tuple[str, list[datetime]]:
                found = page.evaluate(f"evenTicks({first.timestamp() * 1000}, {last.timestamp() * 1000}, "
                                      "'Europe/Copenhagen')")
                return found["unit"], [local(v) for v in found["values"]]

            spring = datetime(2025, 3, 30, tzinfo=COPENHAGEN)
            unit, found = even(spring, spring + timedelta(days=2))  # 30 and 31 March: 47 hours (wall-clock +2 days)
            assert unit == "hour" and [(t.day, t.hour) for t in found] == \
                [(30, 0), (30, 6), (30, 12), (30, 18), (31, 0), (31, 6), (31, 12), (31, 18), (1, 0)]
            unit, found = even(datetime(2025, 10, 1, tzinfo=COPENHAGEN), datetime(2025, 12, 1, tzinfo=COPENHAGEN))
            assert unit == "week" and all(t.weekday() == 0 and t.hour == 0 for t in found) and len(found) == 9
            unit, found = even(datetime(2025, 1, 1, tzinfo=COPENHAGEN), datetime(2026, 1, 1, tzinfo=COPENHAGEN))
            assert unit == "month" and [(t.month, t.day, t.hour) for t in found] == \
                [(m, 1, 0) for m in range(1, 13, 2)] + [(1, 1, 0)]
            browser.close()
    finally:
        server.__exit__(None, None, None)
