"""Energi Data Service stand-in over real HTTP: contract, rate limit, faults, control endpoints."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
import requests

from energy_orchestration.sources.energidataservice import EnergiDataServiceClient, normalise
from energy_orchestration.standin import FaultConfig, StandinConfig, StandinServer
from energy_orchestration.standin.synthetic_dk import (
    CO2_EMIS_FIELDS,
    ELECTRICITY_PRODEX_5MIN_FIELDS,
    POWER_SYSTEM_RIGHT_NOW_FIELDS,
    co2_emis_records,
    electricity_prodex_5min_records,
    power_system_right_now_record,
)

pytestmark = pytest.mark.integration

UTC = timezone.utc
NOW = datetime(2025, 6, 21, 10, 17, 42, tzinfo=UTC)
DATASET = "/dataset/PowerSystemRightNow"
WINDOW = {"start": "2025-06-21T00:00", "end": "2025-06-21T06:00", "timezone": "UTC"}  # 360 minutes


class FakeClock:
    """Monotonic clock the tests advance by hand, so refills need no sleeping."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


@pytest.fixture(scope="module")
def eds() -> Iterator[StandinServer]:
    """Shared server without rate limit and with a frozen data clock."""
    with StandinServer(StandinConfig(rate_limit_per_minute=0, now=lambda: NOW)) as server:
        yield server


@pytest.fixture
def url(eds: StandinServer) -> Iterator[str]:
    requests.delete(f"{eds.url}/_standin/faults", timeout=5).raise_for_status()
    requests.delete(f"{eds.url}/_standin/stats", timeout=5).raise_for_status()
    yield eds.url
    requests.delete(f"{eds.url}/_standin/faults", timeout=5)


def get(base: str, path: str = DATASET, **params: str | int) -> requests.Response:
    return requests.get(base + path, params=params, timeout=10)


def times(response: requests.Response) -> list[str]:
    return [r["Minutes1UTC"] for r in response.json()["records"]]


def set_faults(base: str, **faults: object) -> dict:
    response = requests.post(f"{base}/_standin/faults", json=faults, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


# --------------------------------------------------------------------------- contract


def test_default_is_the_newest_100_minutes_without_optional_envelope_keys(url: str) -> None:
    response = get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["total", "dataset", "records"]
    assert body["dataset"] == "PowerSystemRightNow"
    assert body["total"] == (NOW - datetime(2020, 1, 1, tzinfo=UTC)).total_seconds() // 60
    stamps = times(response)
    assert len(stamps) == 100 and stamps[0] == "2025-06-21T10:16:00" and stamps[-1] == "2025-06-21T08:37:00"
    assert stamps == sorted(stamps, reverse=True)
    assert list(body["records"][0]) == list(POWER_SYSTEM_RIGHT_NOW_FIELDS)


def test_records_equal_the_generator_and_refetching_is_identical(url: str) -> None:
    first = get(url, **WINDOW, limit=0).json()["records"]
    second = get(url, **WINDOW, limit=0).json()["records"]
    assert first == second and len(first) == 360
    assert first[-1] == power_system_right_now_record(datetime(2025, 6, 21, tzinfo=UTC))
    assert first[-1]["Minutes1DK"] == "2025-06-21T02:00:00"


def test_total_counts_all_matches_while_limit_pages(url: str) -> None:
    body = get(url, **WINDOW, limit=10).json()
    assert list(body) == ["total", "limit", "dataset", "records"]
    assert body["total"] == 360 and body["limit"] == 10 and len(body["records"]) == 10
    assert get(url, **WINDOW).json()["total"] == 360
    assert len(get(url, **WINDOW).json()["records"]) == 360  # start without limit: everything in range
    all_rows = get(url, **WINDOW, limit=0).json()
    assert all_rows["limit"] == 0 and len(all_rows["records"]) == 360
    tail = get(url, **WINDOW, offset=350, limit=20).json()
    assert tail["total"] == 360 and times_of(tail) == times_of(all_rows)[350:]


def times_of(body: dict) -> list[str]:
    return [r["Minutes1UTC"] for r in body["records"]]


def test_sorting(url: str) -> None:
    asc = get(url, **WINDOW, sort="Minutes1UTC")
    assert asc.json()["sort"] == "Minutes1UTC ASC"
    assert times(asc)[:2] == ["2025-06-21T00:00:00", "2025-06-21T00:01:00"]
    desc = get(url, **WINDOW, sort="Minutes1UTC desc")
    assert desc.json()["sort"] == "Minutes1UTC DESC" and times(desc) == times(asc)[::-1]
    by_wind = get(url, **WINDOW, sort="OffshoreWindPower DESC", limit=50).json()
    values = [r["OffshoreWindPower"] for r in by_wind["records"]]
    assert values == sorted(values, reverse=True) and by_wind["total"] == 360
    assert get(url, **WINDOW, sort="Nope").text == "Invalid column Nope"


def test_columns_and_filters(url: str) -> None:
    narrow = get(url, **WINDOW, columns="Minutes1UTC,SolarPower,Exchange_Sum", limit=3).json()
    assert [list(r) for r in narrow["records"]] == [["Minutes1UTC", "SolarPower", "Exchange_Sum"]] * 3
    raw_filter = '{"Minutes1UTC":["2025-06-21T05:00:00","2025-06-21T05:01:00"]}'
    filtered = get(url, filter=raw_filter).json()
    assert list(filtered) == ["total", "filters", "dataset", "records"]
    assert filtered["filters"] == raw_filter and filtered["total"] == 2
    assert times_of(filtered) == ["2025-06-21T05:01:00", "2025-06-21T05:00:00"]
    night = get(url, **WINDOW, filter='{"SolarPower":[0]}').json()
    assert 0 < night["total"] < 360 and all(r["SolarPower"] == 0 for r in night["records"])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"filter": "{not json"}, "Invalid filter: '{not json' is not valid JSON"),
        ({"filter": '{"PriceArea":["DK1"]}'}, "Invalid column PriceArea"),
        ({"columns": "Minutes1UTC,HourDK"}, "Invalid column HourDK"),
        ({"start": "xyz"}, "Invalid start: 'xyz'"),
        ({"end": "2025-02-30"}, "Invalid end: '2025-02-30'"),
        ({"limit": "-1"}, "Invalid limit: '-1'"),
        ({"offset": "ten"}, "Invalid offset: 'ten'"),
        ({"timezone": "Mars"}, "Invalid timezone: 'Mars'"),
    ],
)
def test_bad_parameters_are_400_plain_text(url: str, params: dict[str, str], message: str) -> None:
    response = get(url, **params)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text == message


def test_unknown_dataset_and_meta(url: str) -> None:
    missing = get(url, "/dataset/NoSuchDataset")
    assert missing.status_code == 404 and missing.text == "dataset not found"
    assert missing.headers["Content-Type"].startswith("text/plain")
    meta_missing = get(url, "/meta/dataset/NoSuchDataset")
    assert meta_missing.status_code == 204 and meta_missing.content == b""
    meta = get(url, "/meta/dataset/PowerSystemRightNow").json()
    assert meta["dataset"] == "PowerSystemRightNow" and meta["timeColumn"] == "Minutes1UTC"
    assert [c["name"] for c in meta["columns"]] == list(POWER_SYSTEM_RIGHT_NOW_FIELDS)
    assert get(url, "/dataset/powersystemrightnow", limit=1).json()["dataset"] == "PowerSystemRightNow"


def test_relative_bounds_and_timezones_over_http(url: str) -> None:
    assert times(get(url, start="now-PT15M"))[::13] == ["2025-06-21T10:16:00", "2025-06-21T10:03:00"]
    # An unencoded '+' decodes to a space; the stand-in reads it as '+', like the real service.
    raw = requests.get(f"{url}{DATASET}?start=now-PT1H&end=now+PT1H&timezone=UTC", timeout=10).json()
    encoded = requests.get(f"{url}{DATASET}?start=now-PT1H&end=now%2BPT1H", timeout=10).json()
    assert raw["total"] == encoded["total"] == 59  # 09:18 .. 10:16; nothing from the future
    danish = times(get(url, start="2025-06-21", end="2025-06-21T01:00", sort="Minutes1UTC"))
    in_utc = times(get(url, start="2025-06-21", end="2025-06-21T01:00", timezone="utc", sort="Minutes1UTC"))
    assert danish[0] == "2025-06-20T22:00:00" and in_utc[0] == "2025-06-21T00:00:00"
    assert len(danish) == len(in_utc) == 60
    assert get(url, start="2025-06-21T03:00", end="2025-06-21T03:00").json()["total"] == 0


# --------------------------------------------------------------------------- rate limiting


def test_second_request_within_a_minute_gets_429_with_retry_after() -> None:
    clock = FakeClock()
    config = StandinConfig(rate_limit_per_minute=1, now=lambda: NOW, monotonic=clock)
    with StandinServer(config) as server:
        assert get(server.url, limit=1).status_code == 200
        clock.value += 20
        limited = get(server.url, limit=1)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "40"
        assert limited.headers["Content-Type"].startswith("application/json")
        assert limited.json() == {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 40 seconds."}
        for _ in range(3):  # control endpoints and unknown datasets are not limited
            assert get(server.url, "/_standin/health").json() == {"status": "ok"}
            assert get(server.url, "/dataset/Other").status_code == 404
        clock.value += 40
        assert get(server.url, limit=1).status_code == 200
        stats = get(server.url, "/_standin/stats").json()
        assert stats["datasets"]["PowerSystemRightNow"] == {"total": 3, "by_status": {"200": 2, "429": 1}}


def test_rate_limit_zero_disables_and_can_be_changed_at_runtime(url: str) -> None:
    assert all(get(url, limit=1).status_code == 200 for _ in range(5))
    assert set_faults(url, rate_limit_per_minute=1)["effective_rate_limit_per_minute"] == 1
    assert get(url, limit=1).status_code == 200
    second = get(url, limit=1)
    assert second.status_code == 429 and 1 <= int(second.headers["Retry-After"]) <= 60
    requests.delete(f"{url}/_standin/faults", timeout=5).raise_for_status()
    assert get(url, limit=1).status_code == 200 and get(url, limit=1).status_code == 200


# --------------------------------------------------------------------------- faults and control


def test_fail_for_seconds_then_recovers(url: str) -> None:
    set_faults(url, fail_for_seconds=1.0, fail_status=503)
    failing = get(url, limit=1)
    assert failing.status_code == 503 and failing.text == "Service Unavailable"
    assert get(url, "/_standin/health").status_code == 200  # control plane unaffected
    assert 0 < requests.get(f"{url}/_standin/faults", timeout=5).json()["fail_remaining_seconds"] <= 1.0
    time.sleep(1.1)
    assert get(url, limit=1).status_code == 200
    set_faults(url, latency_ms=1)  # an unrelated update must not re-open the failure window
    assert get(url, limit=1).status_code == 200


def test_error_rate_is_reproducible_with_a_seed(url: str) -> None:
    set_faults(url, error_rate=1.0)
    assert get(url, limit=1).status_code == 503
    set_faults(url, error_rate=0.5, seed=42)
    first = [get(url, limit=1).status_code for _ in range(16)]
    set_faults(url, error_rate=0.5, seed=42)
    second = [get(url, limit=1).status_code for _ in range(16)]
    assert first == second and set(first) == {200, 503}


def test_missing_minutes_are_dropped_deterministically(url: str) -> None:
    complete = get(url, **WINDOW).json()["records"]
    set_faults(url, missing_minutes_rate=0.2)
    holey = get(url, **WINDOW).json()
    assert holey == get(url, **WINDOW).json()
    assert 0.7 * 360 < holey["total"] < 0.9 * 360
    kept = {r["Minutes1UTC"]: r for r in complete}
    assert all(kept[r["Minutes1UTC"]] == r for r in holey["records"])
    requests.delete(f"{url}/_standin/faults", timeout=5).raise_for_status()
    assert get(url, **WINDOW).json()["total"] == 360


def test_latency_is_added(url: str) -> None:
    set_faults(url, latency_ms=300)
    started = time.perf_counter()
    assert get(url, limit=1).status_code == 200
    assert time.perf_counter() - started >= 0.3


def test_fault_endpoint_validation_and_reset(url: str) -> None:
    current = requests.get(f"{url}/_standin/faults", timeout=5).json()
    assert current["error_rate"] == 0 and current["missing_minutes_rate"] == 0 and current["latency_ms"] == 0
    assert requests.post(f"{url}/_standin/faults", json={"bogus": 1}, timeout=5).status_code == 400
    assert requests.post(f"{url}/_standin/faults", json={"error_rate": 2}, timeout=5).status_code == 400
    assert requests.post(f"{url}/_standin/faults", data="nope", timeout=5).status_code == 400
    assert set_faults(url, latency_ms=5)["latency_ms"] == 5
    assert requests.delete(f"{url}/_standin/faults", timeout=5).json()["latency_ms"] == 0


def test_stats_count_requests_per_dataset_and_status(url: str) -> None:
    assert requests.get(f"{url}/_standin/stats", timeout=5).json() == {"total": 0, "datasets": {}}
    get(url, limit=1)
    get(url, start="bad")
    get(url, "/dataset/Unknown")
    get(url, "/meta/dataset/PowerSystemRightNow")  # metadata is not a data request
    stats = requests.get(f"{url}/_standin/stats", timeout=5).json()
    assert stats == {
        "total": 3,
        "datasets": {
            "PowerSystemRightNow": {"total": 2, "by_status": {"200": 1, "400": 1}},
            "Unknown": {"total": 1, "by_status": {"404": 1}},
        },
    }


def test_faults_can_be_configured_at_start_up() -> None:
    config = StandinConfig(rate_limit_per_minute=0, now=lambda: NOW, faults=FaultConfig(fail_for_seconds=30))
    with StandinServer(config) as server:
        base = server.url
        assert get(base, limit=1).status_code == 503
        requests.delete(f"{base}/_standin/faults", timeout=5).raise_for_status()
        assert get(base, limit=1).status_code == 200
    with pytest.raises(requests.ConnectionError):  # stop() released the port
        requests.get(f"{base}/_standin/health", timeout=2)


def test_module_entry_point_serves_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "energy_orchestration.standin", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stderr.readline()
        match = re.search(r"Energi Data Service stand-in listening on (http://\S+)", line)
        assert match, line
        assert requests.get(f"{match.group(1)}/_standin/health", timeout=5).json() == {"status": "ok"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------- 5-minute per-area datasets

FIVE_MIN = {
    "CO2Emis": (CO2_EMIS_FIELDS, co2_emis_records),
    "ElectricityProdex5MinRealtime": (ELECTRICITY_PRODEX_5MIN_FIELDS, electricity_prodex_5min_records),
}


def rows(body: dict) -> list[tuple[str, str]]:
    return [(r["Minutes5UTC"], r["PriceArea"]) for r in body["records"]]


def newest_first(records: list[dict]) -> list[dict]:
    """Generator output (oldest first, DK1 then DK2) in the service's default order."""
    by_step: dict[str, list[dict]] = {}
    for record in records:
        by_step.setdefault(record["Minutes5UTC"], []).append(record)
    return [r for step in sorted(by_step, reverse=True) for r in by_step[step]]


@pytest.mark.parametrize("dataset", FIVE_MIN)
def test_five_minute_default_page_is_the_newest_50_steps_dk1_then_dk2(url: str, dataset: str) -> None:
    response = get(url, f"/dataset/{dataset}")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["total", "dataset", "records"] and body["dataset"] == dataset
    assert body["total"] == 2 * ((NOW - datetime(2020, 1, 1, tzinfo=UTC)).total_seconds() // 300)
    assert len(body["records"]) == 100
    assert [a for _, a in rows(body)] == ["DK1", "DK2"] * 50
    steps = [t for t, _ in rows(body)][::2]
    assert steps[0] == "2025-06-21T10:10:00" and steps[-1] == "2025-06-21T06:05:00"  # 10:15 is not complete
    assert steps == sorted(steps, reverse=True) and len(set(steps)) == 50
    assert list(body["records"][0]) == list(FIVE_MIN[dataset][0])


@pytest.mark.parametrize("dataset", FIVE_MIN)
def test_five_minute_window_filter_sort_and_columns(url: str, dataset: str) -> None:
    path = f"/dataset/{dataset}"
    full = get(url, path, **WINDOW, limit=0).json()  # 6 hours = 72 steps
    assert full["total"] == 144 == len(full["records"])
    expected = FIVE_MIN[dataset][1](datetime(2025, 6, 21, tzinfo=UTC), datetime(2025, 6, 21, 6, tzinfo=UTC))
    assert full["records"] == newest_first(expected)
    assert get(url, path, **WINDOW, limit=0).json() == full  # deterministic
    dk1 = get(url, path, **WINDOW, filter='{"PriceArea":["DK1"]}').json()
    assert list(dk1) == ["total", "filters", "dataset", "records"] and dk1["filters"] == '{"PriceArea":["DK1"]}'
    assert dk1["total"] == 72 and dk1["records"] == [r for r in full["records"] if r["PriceArea"] == "DK1"]
    asc = get(url, path, **WINDOW, sort="Minutes5UTC", limit=4).json()
    assert asc["sort"] == "Minutes5UTC ASC" and asc["total"] == 144
    assert rows(asc) == [("2025-06-21T00:00:00", "DK1"), ("2025-06-21T00:00:00", "DK2"),
                         ("2025-06-21T00:05:00", "DK1"), ("2025-06-21T00:05:00", "DK2")]
    page = get(url, path, **WINDOW, offset=5, limit=7).json()
    assert page["total"] == 144 and page["records"] == full["records"][5:12]
    narrow = get(url, path, **WINDOW, columns="Minutes5UTC,PriceArea", limit=2).json()
    assert narrow["records"] == [{"Minutes5UTC": "2025-06-21T05:55:00", "PriceArea": "DK1"},
                                 {"Minutes5UTC": "2025-06-21T05:55:00", "PriceArea": "DK2"}]
    danish = get(url, path, start="2025-06-21", end="2025-06-21T01:00", sort="Minutes5UTC").json()
    assert rows(danish)[0] == ("2025-06-20T22:00:00", "DK1") and danish["total"] == 24
    # 09:20..10:10; none from the future
    assert get(url, path, start="now-PT1H", end="now+PT1H").json()["total"] == 2 * 11
    bad = get(url, path, columns="Minutes1UTC")
    assert bad.status_code == 400 and bad.text == "Invalid column Minutes1UTC"


def test_five_minute_meta(url: str) -> None:
    meta = get(url, "/meta/dataset/ElectricityProdex5MinRealtime").json()
    assert meta["timeColumn"] == "Minutes5UTC" and meta["localTimeColumn"] == "Minutes5DK"
    assert meta["resolution"] == "PT5M"
    types = {c["name"]: c["type"] for c in meta["columns"]}
    assert list(types) == list(ELECTRICITY_PRODEX_5MIN_FIELDS)
    assert types["Minutes5UTC"] == "datetime" and types["PriceArea"] == "string" and types["BornholmSE4"] == "number"
    assert get(url, "/dataset/co2emis", limit=1).json()["dataset"] == "CO2Emis"


def test_rate_limit_is_per_dataset() -> None:
    clock = FakeClock()
    config = StandinConfig(rate_limit_per_minute=1, now=lambda: NOW, monotonic=clock)
    with StandinServer(config) as server:
        for dataset in ("PowerSystemRightNow", "CO2Emis", "ElectricityProdex5MinRealtime"):
            assert get(server.url, f"/dataset/{dataset}", limit=1).status_code == 200
        clock.value += 30
        for dataset in ("CO2Emis", "ElectricityProdex5MinRealtime"):
            limited = get(server.url, f"/dataset/{dataset}", limit=1)
            assert limited.status_code == 429 and limited.headers["Retry-After"] == "30"
        clock.value += 30
        assert get(server.url, "/dataset/CO2Emis", limit=1).status_code == 200
        stats = get(server.url, "/_standin/stats").json()["datasets"]
        assert stats["CO2Emis"] == {"total": 3, "by_status": {"200": 2, "429": 1}}
        assert stats["PowerSystemRightNow"] == {"total": 1, "by_status": {"200": 1}}


def test_faults_apply_to_the_five_minute_datasets(url: str) -> None:
    path = "/dataset/CO2Emis"
    complete = get(url, path, **WINDOW).json()
    set_faults(url, missing_minutes_rate=0.3)
    holey = get(url, path, **WINDOW).json()
    assert holey == get(url, path, **WINDOW).json() and holey["total"] % 2 == 0
    assert 0.5 * 144 < holey["total"] < 0.9 * 144
    assert all(r in complete["records"] for r in holey["records"])
    set_faults(url, missing_minutes_rate=0, error_rate=1.0)
    failing = get(url, path, limit=1)
    assert failing.status_code == 503 and failing.text == "Service Unavailable"


def test_bad_record_rate_is_set_through_the_control_endpoint(url: str) -> None:
    assert requests.get(f"{url}/_standin/faults", timeout=5).json()["bad_record_rate"] == 0
    assert requests.post(f"{url}/_standin/faults", json={"bad_record_rate": 2}, timeout=5).status_code == 400
    assert requests.post(f"{url}/_standin/faults", json={"bad_record_rate": "x"}, timeout=5).status_code == 400
    clean = {d: get(url, f"/dataset/{d}", **WINDOW).json()["records"] for d in FIVE_MIN}
    assert set_faults(url, bad_record_rate=1.0)["bad_record_rate"] == 1.0
    spoiled = {d: get(url, f"/dataset/{d}", **WINDOW).json()["records"] for d in FIVE_MIN}
    assert spoiled == {d: get(url, f"/dataset/{d}", **WINDOW).json()["records"] for d in FIVE_MIN}
    co2 = [r["CO2Emission"] for r in spoiled["CO2Emis"]]
    assert "n/a" in co2 and 1e9 in co2 and any(isinstance(v, float) and v < 0 for v in co2)
    prodex = spoiled["ElectricityProdex5MinRealtime"]
    assert any(r["SolarPower"] != c["SolarPower"] and r["SolarPower"] < 0
               for r, c in zip(prodex, clean["ElectricityProdex5MinRealtime"], strict=False))
    assert any(r["OnshoreWindPower"] == "n/a" for r in prodex) and any(r["OffshoreWindPower"] == 1e9 for r in prodex)
    psrn = get(url, **WINDOW, limit=3).json()["records"]
    assert any("n/a" in r.values() or 1e9 in r.values() or r["SolarPower"] < 0 for r in psrn)
    requests.delete(f"{url}/_standin/faults", timeout=5).raise_for_status()
    assert {d: get(url, f"/dataset/{d}", **WINDOW).json()["records"] for d in FIVE_MIN} == clean


@pytest.mark.parametrize(("dataset", "bad_rules"), [
    ("CO2Emis", {"out_of_bounds", "not_a_number"}),
    ("ElectricityProdex5MinRealtime", {"negative_production", "not_a_number", "out_of_bounds"}),
    ("PowerSystemRightNow", {"negative_production", "not_a_number", "out_of_bounds"}),
])
def test_round_trip_through_the_client_and_the_parser(url: str, dataset: str, bad_rules: set[str]) -> None:
    client = EnergiDataServiceClient(base_url=url)
    start, end = datetime(2025, 6, 21, 8, tzinfo=UTC), datetime(2025, 6, 21, 9, tzinfo=UTC)
    records = client.fetch_window(dataset, start, end)
    assert len(records) == (60 if dataset == "PowerSystemRightNow" else 24)
    clean = normalise(dataset, records, NOW)
    assert clean.rejections == [] and len(clean.observations) >= len(records)
    assert set(clean.observations.zone) >= {"DK-DK1", "DK-DK2"}
    set_faults(url, bad_record_rate=1.0)
    spoiled = normalise(dataset, client.fetch_window(dataset, start, end), NOW)
    assert {r.rule for r in spoiled.rejections} == bad_rules
    assert len(spoiled.rejections) == len(records) and spoiled.rejected_records == set()
    assert len(spoiled.observations) == len(clean.observations) - len(records)
