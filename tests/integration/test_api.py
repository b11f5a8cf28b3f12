"""HTTP contract of `energy serve` on real sockets, over a warehouse the real pipeline filled."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from energy_orchestration.model import QUANTITIES, ZONES
from energy_orchestration.sources import DATASETS

pytestmark = [pytest.mark.integration, pytest.mark.clock]  # the sample is "the last hours" of the clock


def get(served, path: str, **params) -> requests.Response:
    server, _ = served
    return requests.get(f"{server.url}{path}", params=params, timeout=10)


def test_vocabulary_lists_every_zone_quantity_and_dataset(served):
    zones = get(served, "/api/v1/zones").json()
    assert [z["zone"] for z in zones] == list(ZONES)
    assert {z["time_zone"] for z in zones if z["zone"].startswith("FR")} == {"Europe/Paris"}
    assert {q["quantity"] for q in get(served, "/api/v1/quantities").json()} == set(QUANTITIES)
    datasets = {d["dataset"]: d for d in get(served, "/api/v1/datasets").json()}
    assert set(datasets) == set(DATASETS)
    assert datasets["PowerSystemRightNow"]["topic"].endswith(".raw.powersystemrightnow")


@pytest.mark.parametrize("zone", ["DK-DK1", "FR-84", "FR"])
def test_latest_values_per_zone_match_the_newest_landed_values(served, zone):
    _, warehouse = served
    answer = get(served, f"/api/v1/zones/{zone}/latest").json()
    with warehouse.connect(read_only=True) as db:
        expected = db.execute("""
            SELECT quantity, value, strftime(interval_start_utc, '%Y-%m-%dT%H:%M:%SZ') FROM observations WHERE zone = ?
            QUALIFY row_number() OVER (PARTITION BY quantity ORDER BY interval_start_utc DESC, dataset) = 1
            ORDER BY quantity""", [zone]).fetchall()
    got = [(v["quantity"], v["value"], v["interval_start_utc"]) for v in answer["values"]]
    assert expected and got == expected
    assert answer["cache_caught_up"] is True
    every = get(served, "/api/v1/latest").json()["values"]
    assert {v["zone"] for v in every} >= {"DK", "DK-DK1", "DK-DK2", "FR", "FR-84", "FR-11"}


def test_a_local_day_is_the_zones_calendar_day_in_utc(served):
    _, warehouse = served
    # the local day holding the newest row: never an empty day at midnight
    with warehouse.connect(read_only=True) as db:
        newest = db.execute("""SELECT max(interval_start_utc) FROM observations
                               WHERE zone = 'DK-DK1' AND quantity = 'exchange_de'""").fetchall()[0][0]
    today = newest.replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo("Europe/Copenhagen")).date()
    answer = get(served, f"/api/v1/zones/DK-DK1/days/{today}", quantity="exchange_de").json()
    start = datetime.combine(today, datetime.min.time(), ZoneInfo("Europe/Copenhagen")).astimezone(ZoneInfo("UTC"))
    assert answer["from_utc"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert answer["time_zone"] == "Europe/Copenhagen"
    with warehouse.connect(read_only=True) as db:
        expected = db.execute("""SELECT count(*) FROM observations WHERE zone = 'DK-DK1' AND quantity = 'exchange_de'
                                 AND interval_start_utc >= ? AND interval_start_utc < ?""",
                              [start.replace(tzinfo=None), (start + timedelta(days=1)).replace(tzinfo=None)]
                              ).fetchall()[0][0]
    assert expected > 0 and len(answer["items"]) == expected
    assert {i["quantity"] for i in answer["items"]} == {"exchange_de"}
    times = [i["interval_start_utc"] for i in answer["items"]]
    assert times == sorted(times)


def test_ranges_page_through_every_row_once_in_order(served):
    _, warehouse = served
    params = {"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00+01:00", "limit": 97}
    seen, pages, cursor = [], 0, None
    while True:
        answer = get(served, "/api/v1/zones/FR-84/observations", **params,
                     **({"cursor": cursor} if cursor else {})).json()
        seen += [(i["interval_start_utc"], i["dataset"], i["quantity"]) for i in answer["items"]]
        pages += 1
        cursor = answer["next_cursor"]
        if cursor is None:
            break
    with warehouse.connect(read_only=True) as db:
        total = db.execute("SELECT count(*) FROM observations WHERE zone = 'FR-84'").fetchall()[0][0]
    assert len(seen) == total == len(set(seen)) and seen == sorted(seen)
    assert pages == -(-total // 97)


@pytest.mark.parametrize("path, params, status, says", [
    ("/api/v1/zones/XX/latest", {}, 422, "DK-DK1"),
    ("/api/v1/zones/DK/days/2026-13-01", {}, 422, "date"),
    ("/api/v1/zones/DK/days/1066-10-14", {}, 400, "between 1970 and 2100"),
    ("/api/v1/zones/DK/observations", {"from": "2026-01-02", "to": "2026-01-01"}, 400, "before"),
    ("/api/v1/zones/DK/observations", {"from": "2026-01-01"}, 422, "to"),
    ("/api/v1/zones/DK/observations", {"from": "2026-01-01", "to": "2026-01-02", "cursor": "!!"}, 400, "cursor"),
    ("/api/v1/zones/DK/observations", {"from": "2026-01-01", "to": "2026-01-02", "limit": 0}, 422, "limit"),
    ("/api/v1/zones/DK/days/2026-01-01", {"quantity": "price"}, 422, "consumption"),
    ("/api/v1/zones/DK/aggregates/yearly", {}, 422, "hourly"),
    ("/api/v1/zones/DK/aggregates/daily", {"from": "2026-02-01", "to": "2026-01-01"}, 400, "after"),
])
def test_bad_input_is_a_clear_4xx(served, path, params, status, says):
    answer = get(served, path, **params)
    assert answer.status_code == status, answer.text
    assert says in answer.text


def test_freshness_reports_last_interval_lag_and_staleness(served):
    _, warehouse = served
    report = get(served, "/api/v1/freshness").json()["datasets"]
    psrn = report["PowerSystemRightNow"]
    with warehouse.connect(read_only=True) as db:
        newest = db.execute("""SELECT strftime(max(interval_start_utc), '%Y-%m-%dT%H:%M:%SZ') FROM observations
                               WHERE dataset = 'PowerSystemRightNow'""").fetchall()[0][0]
    assert psrn["last_interval_utc"] == newest and psrn["consumer_lag"] == 0 and psrn["stale"] is False
    assert psrn["live"] is True and psrn["last_landed_utc"]
    # a dataset that is not fetched is neither live nor stale; none landed
    consolidated = report["eco2mix-regional-cons-def"]
    assert consolidated == {**consolidated, "live": False, "stale": False, "last_landed_utc": None}


def test_dashboard_series_hold_the_mix_co2_consumption_and_exchanges(served):
    answer = get(served, "/api/v1/zones/FR-84/dashboard", hours=24).json()
    series = answer["series"]
    assert {"production_nuclear", "consumption", "exchange_net", "co2_intensity_computed"} <= set(series)
    assert answer["datasets"] == ["eco2mix-regional-tr"]
    assert all(len(points) > 4 for points in series.values())


def test_openapi_spec_and_the_dashboard_are_served_without_a_cdn(served):
    spec = get(served, "/openapi.json").json()
    assert "/api/v1/zones/{zone}/aggregates/{grain}" in spec["paths"]
    page = get(served, "/").text
    assert "/static/vendor/chart.umd.min.js" in page and "https://" not in page and "http://" not in page
    assert get(served, "/static/vendor/chart.umd.min.js").status_code == 200
    assert "Chart" in get(served, "/static/vendor/chart.umd.min.js").text[:2000]


@pytest.mark.parametrize("grain, key", [("hourly", "hour_start_utc"), ("daily", "local_date"),
                                        ("weekly", "week_start"), ("monthly", "month_start")])
def test_aggregates_serve_every_column_of_the_wide_table(served, grain, key):
    _, warehouse = served
    table = f"zone_{grain}"
    with warehouse.connect(read_only=True) as db:
        columns = [d[0] for d in db.execute(f"SELECT * FROM {table} LIMIT 0").description]
        rows = db.execute(f"SELECT count(*) FROM {table} WHERE zone = 'FR-84'").fetchall()[0][0]
    answer = get(served, f"/api/v1/zones/FR-84/aggregates/{grain}").json()
    assert rows > 0 and len(answer["items"]) == rows
    assert list(answer["items"][0]) == columns
    assert {"production_nuclear", "co2_intensity_computed", "renewable_share_pct", "coverage_pct"} <= set(columns)
    keys = [item[key] for item in answer["items"]]
    assert keys == sorted(keys)
    first = answer["items"][0]
    if grain != "hourly":  # from/to pick local dates, inclusive
        one = get(served, f"/api/v1/zones/FR-84/aggregates/{grain}", **{"from": first[key], "to": first[key]}).json()
        assert [i[key] for i in one["items"]] == [first[key]]
    assert get(served, f"/api/v1/zones/FR-84/aggregates/{grain}", **{"from": "2099-01-01"}).json()["items"] == []
