"""ODRÉ éCO2mix stand-in over real HTTP: contract, caps, quirks, and agreement with the client."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests

from energy_orchestration.sources.http import NotYetPublished, PoliteSession, RetryPolicy, SourceError
from energy_orchestration.sources.odre import REGIONAL_TR, OdreClient, normalise
from energy_orchestration.standin import OdreStandinConfig, StandinConfig, StandinServer
from energy_orchestration.standin.synthetic_fr import EMISSION_FACTORS

pytestmark = pytest.mark.integration

UTC = timezone.utc
NOW = datetime(2025, 11, 3, 10, 17, 42, tzinfo=UTC)
API = "/api/explore/v2.1/catalog/datasets"
FIXTURES = Path(__file__).parents[1] / "fixtures"
CODES = ("11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93")


class Clock:
    def __init__(self, value):
        self.value = value

    def __call__(self):
        return self.value


@pytest.fixture(scope="module")
def server_and_clock() -> Iterator[tuple[StandinServer, Clock]]:
    clock = Clock(NOW)
    with StandinServer(StandinConfig(rate_limit_per_minute=0, now=clock)) as server:
        yield server, clock


@pytest.fixture
def base(server_and_clock) -> Iterator[str]:
    server, clock = server_and_clock
    clock.value = NOW
    requests.delete(f"{server.url}/_standin/faults", timeout=5).raise_for_status()
    requests.delete(f"{server.url}/_standin/stats", timeout=5).raise_for_status()
    yield server.url
    clock.value = NOW
    requests.delete(f"{server.url}/_standin/faults", timeout=5)


@pytest.fixture
def clock(server_and_clock) -> Clock:
    return server_and_clock[1]


def get(base: str, dataset: str, endpoint: str = "records", **params) -> requests.Response:
    return requests.get(f"{base}{API}/{dataset}/{endpoint}", params=params, timeout=30)


def results(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["results"]


def odre(base: str, **kwargs) -> OdreClient:
    return OdreClient(base, PoliteSession(retry=RetryPolicy(max_attempts=2, backoff_seconds=0.01)), **kwargs)


def at(day: str, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


def requests_made(base: str, dataset: str) -> int:
    stats = requests.get(f"{base}/_standin/stats", timeout=5).json()
    return stats["datasets"].get(dataset, {}).get("total", 0)


# --- the client and the stand-in agree ---------------------------------------------------------

def test_client_gets_every_quarter_hour_of_every_region_exactly_once(base):
    start, end = at("2025-10-25"), at("2025-10-28")
    exported = odre(base).fetch_window("eco2mix-regional-tr", start, end)       # > 1 day: one export
    assert requests_made(base, "eco2mix-regional-tr") == 1
    paged = odre(base, export_threshold=timedelta(days=7)).fetch_window("eco2mix-regional-tr", start, end)
    assert requests_made(base, "eco2mix-regional-tr") == 1 + 35                 # 3,456 rows / 100 per page
    expected = {(start + timedelta(minutes=15 * q)).isoformat() + "|" + code
                for q in range(3 * 96) for code in CODES}
    for records in (exported, paged):
        keys = [REGIONAL_TR.record_key(r) for r in records]
        assert len(keys) == 3 * 96 * 12 == len(set(keys))
        assert set(k.replace("+00:00|", "|") for k in keys) == {k.replace("+00:00|", "|") for k in expected}
    assert exported == paged
    batch = normalise("eco2mix-regional-tr", paged, NOW)
    assert batch.rejections == [] and batch.skipped == {}
    assert len(batch.observations) == len(paged) * len(REGIONAL_TR.mappings)
    assert set(batch.observations.status) == {"realtime"}


def test_fields_and_their_order_match_the_recorded_responses(base):
    recorded_regional = json.loads((FIXTURES / "odre_eco2mix-regional-tr_records_2026-08-27.json").read_text())
    recorded_national = json.loads((FIXTURES / "odre_eco2mix-national-tr_records_2026-08-27.json").read_text())
    [regional] = results(get(base, "eco2mix-regional-tr", limit=1))
    [national] = results(get(base, "eco2mix-national-tr", limit=1, order_by="date_heure"))
    assert list(regional) == list(recorded_regional["results"][0])
    assert list(national) == list(recorded_national["results"][0])


def test_regional_quirks_are_served(base):
    rows = results(get(base, "eco2mix-regional-tr", limit=100, order_by="date_heure, code_insee_region",
                       where="date_heure >= date'2025-11-02T11:00:00Z'"))
    assert [r["code_insee_region"] for r in rows[:12]] == list(CODES)
    for row in rows:
        assert isinstance(row["pompage"], str) and int(row["pompage"]) <= 0
        assert isinstance(row["stockage_batterie"], str) and int(row["stockage_batterie"]) <= 0
        assert isinstance(row["destockage_batterie"], str) and int(row["destockage_batterie"]) >= 0
        assert row["column_68"] is None and row["nature"] == "Données temps réel"
        assert row["date_heure"].endswith("+00:00")
    by_region = {r["code_insee_region"]: r for r in rows[:12]}
    for code in ("11", "27", "52", "53", "93"):  # no nuclear plant: 0 MW and a null load factor
        assert by_region[code]["nucleaire"] == 0 and by_region[code]["tch_nucleaire"] is None
    assert by_region["84"]["nucleaire"] > 5000 and by_region["84"]["hydraulique"] > by_region["32"]["hydraulique"]
    assert by_region["11"]["ech_physiques"] > 0  # Île-de-France imports


def test_regions_differ_where_the_plants_are(base):
    day = odre(base).fetch_window("eco2mix-regional-tr", at("2025-10-15"), at("2025-10-16"))
    totals: dict[str, Counter] = {}
    for row in day:
        counter = totals.setdefault(row["code_insee_region"], Counter())
        for name in ("nucleaire", "solaire", "eolien", "hydraulique", "consommation"):
            counter[name] += row[name]
    top = lambda name, n: {code for code, _ in sorted(totals.items(), key=lambda kv: -kv[1][name])[:n]}  # noqa: E731
    assert top("nucleaire", 4) <= {"84", "24", "28", "44", "75"}
    assert top("hydraulique", 3) == {"84", "76", "93"}
    assert top("eolien", 2) == {"32", "44"}
    assert top("solaire", 3) <= {"75", "76", "93", "84"}
    assert top("consommation", 2) == {"11", "84"}


def test_national_rows_are_the_sum_of_the_regions(base):
    where = "date_heure = date'2025-11-02T18:00:00Z'"
    regional = results(get(base, "eco2mix-regional-tr", limit=20, where=where))
    [national] = results(get(base, "eco2mix-national-tr", where=where))
    assert len(regional) == 12
    for name in ("consommation", "nucleaire", "eolien", "solaire", "hydraulique", "pompage", "bioenergies",
                 "ech_physiques", "stockage_batterie", "destockage_batterie"):
        assert int(national[name]) == sum(int(r[name]) for r in regional), name
    assert national["gaz"] + national["charbon"] + national["fioul"] == sum(r["thermique"] for r in regional)
    assert int(national["eolien_terrestre"]) + int(national["eolien_offshore"]) == national["eolien"]
    assert national["gaz_tac"] + national["gaz_cogen"] + national["gaz_ccg"] + national["gaz_autres"] == national["gaz"]
    mix = {k: int(national[k]) for k in EMISSION_FACTORS}
    intensity = sum(mix[k] * EMISSION_FACTORS[k] for k in mix) / sum(mix.values())
    assert national["taux_co2"] == pytest.approx(intensity, abs=1)
    assert isinstance(national["eolien_terrestre"], str)  # 2025 rows: the string-typed fields
    assert national["ech_comm_espagne"] is not None        # :00 and :30 only
    [quarter] = results(get(base, "eco2mix-national-tr", where="date_heure = date'2025-11-02T18:15:00Z'"))
    assert quarter["ech_comm_espagne"] is None


# --- time: DST, publication lag, future rows, revisions, history ---------------------------------

def test_the_autumn_dst_day_has_100_quarter_hours_and_distinct_keys(base):
    response = get(base, "eco2mix-regional-tr", limit=100, order_by="date_heure",
                   where="date = '2025-10-26' and code_insee_region = '11'")
    rows = results(response)
    assert response.json()["total_count"] == 100  # 25 local hours
    hours = Counter(r["heure"] for r in rows)
    assert hours["02:00"] == hours["02:45"] == 2 and hours["01:45"] == 1
    twice = [r["date_heure"] for r in rows if r["heure"] == "02:00"]
    assert twice == ["2025-10-26T00:00:00+00:00", "2025-10-26T01:00:00+00:00"]
    batch = normalise("eco2mix-regional-tr", rows, NOW)
    assert batch.rejections == [] and len(set(batch.record_keys)) == 100
    assert batch.observations.interval_start_utc.nunique() == 100


def test_a_quarter_hour_appears_once_it_ended_plus_the_publication_lag(base, clock):
    def latest() -> str:
        return results(get(base, "eco2mix-regional-tr", limit=1, order_by="date_heure desc"))[0]["date_heure"]

    assert latest() == "2025-11-03T09:45:00+00:00"  # 10:00 ends at 10:15, + 8 min lag = 10:23
    clock.value = datetime(2025, 11, 3, 10, 22, 59, tzinfo=UTC)
    assert latest() == "2025-11-03T09:45:00+00:00"
    clock.value = datetime(2025, 11, 3, 10, 23, tzinfo=UTC)
    assert latest() == "2025-11-03T10:00:00+00:00"


def test_the_national_set_holds_forecast_only_rows_until_the_end_of_the_paris_day(base):
    rows = results(get(base, "eco2mix-national-tr", limit=100, order_by="date_heure",
                       where="date_heure >= date'2025-11-03T09:30:00Z'"))
    assert rows[0]["date_heure"] == "2025-11-03T09:30:00+00:00" and rows[1]["consommation"] is not None
    future = rows[2:]
    assert len(future) == 52 and future[-1]["date_heure"] == "2025-11-03T22:45:00+00:00"  # 23:45 Paris
    for row in future:
        assert row["consommation"] is None and row["nucleaire"] is None and row["taux_co2"] is None
        assert row["prevision_j"] > 0 and row["prevision_j1"] > 0
    records = odre(base).fetch_window("eco2mix-national-tr", at("2025-11-03", 9), at("2025-11-04"))
    batch = normalise("eco2mix-national-tr", records, NOW)
    assert len(records) == 56 and batch.skipped == {"forecast_only": 52} and batch.rejections == []
    assert batch.observations.record_index.nunique() == 4  # 09:00-09:45 measured
    with pytest.raises(NotYetPublished, match="only forecast rows"):
        odre(base).fetch_window("eco2mix-national-tr", at("2025-11-03", 12), at("2025-11-03", 13))
    with pytest.raises(NotYetPublished, match="no rows"):
        odre(base).fetch_window("eco2mix-regional-tr", at("2025-11-03", 12), at("2025-11-03", 13))


def test_rows_older_than_the_delay_are_revised_with_the_same_key(base, clock):
    window = (at("2025-10-20", 12), at("2025-10-20", 13))
    before = odre(base).fetch_window("eco2mix-regional-tr", *window)
    clock.value = NOW + timedelta(days=20)  # 2025-10-20 is now older than the 30-day delay
    after = odre(base).fetch_window("eco2mix-regional-tr", *window)
    assert [REGIONAL_TR.record_key(r) for r in before] == [REGIONAL_TR.record_key(r) for r in after]
    assert {r["nature"] for r in before} == {"Données temps réel"}
    assert {r["nature"] for r in after} == {"Données consolidées"}
    changed = sum(a["consommation"] != b["consommation"] for a, b in zip(after, before, strict=False))
    assert changed > len(before) // 2
    for a, b in zip(after, before, strict=False):
        assert a["consommation"] == pytest.approx(b["consommation"], rel=0.01)
    first = normalise("eco2mix-regional-tr", before, clock.value)
    second = normalise("eco2mix-regional-tr", after, clock.value)
    assert set(first.observations.status) == {"realtime"} and set(second.observations.status) == {"consolidated"}
    assert first.record_keys == second.record_keys


def test_history_older_than_the_real_time_range_lives_in_cons_def(base):
    assert get(base, "eco2mix-regional-tr", where="date_heure >= date'2025-08-01' and date_heure < date'2025-08-02'"
               ).json() == {"total_count": 0, "results": []}
    with pytest.raises(NotYetPublished):
        odre(base).fetch_window("eco2mix-regional-tr", at("2025-08-01"), at("2025-08-02"))
    history = odre(base).fetch_window("eco2mix-regional-cons-def", at("2025-08-01"), at("2025-08-02"))
    assert len(history) == 48 * 12
    assert {r["date_heure"][14:16] for r in history} == {"00", "30"}
    assert {r["nature"] for r in history} == {"Données consolidées"}
    batch = normalise("eco2mix-regional-cons-def", history, NOW)
    assert batch.rejections == [] and set(batch.observations.interval_minutes) == {30}
    old = results(get(base, "eco2mix-regional-cons-def", limit=1, where="date_heure = date'2023-06-01T12:00:00Z'"))
    assert old[0]["nature"] == "Données définitives"
    newest = results(get(base, "eco2mix-regional-cons-def", limit=1, order_by="date_heure desc"))[0]
    oldest_rt = results(get(base, "eco2mix-regional-tr", limit=1, order_by="date_heure"))[0]
    assert newest["date_heure"] == "2025-09-03T23:30:00+00:00"
    assert oldest_rt["date_heure"] == "2025-09-04T00:00:00+00:00"


def test_national_history_lives_in_the_national_cons_def_set(base):
    """France as a whole has its own consolidated/definitive set: same fields and quirks as the
    real-time one (strings before 2026), 30-minute steps, no forecast-only rows."""
    with pytest.raises(NotYetPublished):
        odre(base).fetch_window("eco2mix-national-tr", at("2025-08-01"), at("2025-08-02"))
    history = odre(base).fetch_window("eco2mix-national-cons-def", at("2025-08-01"), at("2025-08-02"))
    assert len(history) == 48 and {r["date_heure"][14:16] for r in history} == {"00", "30"}
    assert {r["nature"] for r in history} == {"Données consolidées"} and {r["perimetre"] for r in history} == {"France"}
    assert all(isinstance(r["eolien_terrestre"], str) and r["consommation"] is not None for r in history)
    batch = normalise("eco2mix-national-cons-def", history, NOW)
    assert batch.rejections == [] and batch.skipped == {}
    assert set(batch.observations.zone) == {"FR"} and set(batch.observations.interval_minutes) == {30}
    assert {"consumption", "production_nuclear", "production_wind_onshore", "co2_intensity_reported"} <= set(
        batch.observations.quantity)
    newest = results(get(base, "eco2mix-national-cons-def", limit=1, order_by="date_heure desc"))[0]
    assert newest["date_heure"] == "2025-09-03T23:30:00+00:00"


# --- parameters ----------------------------------------------------------------------------------

def test_select_order_by_refine_and_ranges(base):
    rows = results(get(base, "eco2mix-regional-tr", limit=5, select="date_heure, consommation",
                       refine="code_insee_region:84", order_by="date_heure desc"))
    assert [list(r) for r in rows] == [["date_heure", "consommation"]] * 5
    assert rows[0]["date_heure"] == "2025-11-03T09:45:00+00:00"
    rows = results(get(base, "eco2mix-regional-tr", limit=24, select="code_insee_region,date_heure",
                       order_by="code_insee_region desc, date_heure", where="date_heure >= date'2025-11-01'"))
    assert {r["code_insee_region"] for r in rows} == {"93"} and rows[0]["date_heure"] == "2025-11-01T00:00:00+00:00"
    inclusive = get(base, "eco2mix-national-tr",
                    where="date_heure in [date'2025-11-01T00:00:00Z'..date'2025-11-01T01:00:00Z']")
    exclusive = get(base, "eco2mix-national-tr",
                    where="date_heure in ]date'2025-11-01T00:00:00Z'..date'2025-11-01T01:00:00Z'[")
    assert inclusive.json()["total_count"] == 5 and exclusive.json()["total_count"] == 3
    by_consumption = results(get(base, "eco2mix-regional-tr", limit=3, order_by="consommation desc",
                                 where="date_heure >= date'2025-11-02' and date_heure < date'2025-11-03'"))
    assert by_consumption[0]["consommation"] >= by_consumption[1]["consommation"] >= by_consumption[2]["consommation"]


def test_default_order_is_newest_first_with_every_region_per_timestamp(base):
    rows = results(get(base, "eco2mix-regional-tr", limit=24))
    assert len(rows) == 24 and len({r["date_heure"] for r in rows[:12]}) == 1
    assert {r["code_insee_region"] for r in rows[:12]} == set(CODES)
    assert rows[0]["date_heure"] > rows[12]["date_heure"]
    assert len(results(get(base, "eco2mix-regional-tr"))) == 10  # default limit


def test_timezone_changes_the_output_and_the_literals(base):
    rows = results(get(base, "eco2mix-national-tr", limit=2, order_by="date_heure", timezone="Europe/Paris",
                       where="date_heure >= date'2025-11-01T00:00:00'"))
    assert rows[0]["date_heure"] == "2025-11-01T00:00:00+01:00" and rows[0]["heure"] == "00:00"
    summer = results(get(base, "eco2mix-national-tr", limit=1, timezone="Europe/Paris",
                         where="date_heure = date'2025-10-01T10:00:00Z'"))
    assert summer[0]["date_heure"] == "2025-10-01T12:00:00+02:00"


def test_exports_are_a_bare_array_without_the_records_caps(base):
    response = get(base, "eco2mix-regional-tr", "exports/json", order_by="date_heure, code_insee_region",
                   where="date_heure >= date'2025-10-20T00:00:00Z' and date_heure < date'2025-10-30T00:00:00Z'")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    rows = response.json()
    assert isinstance(rows, list) and len(rows) == 10 * 96 * 12 > 10_000
    assert rows[0]["date_heure"] == "2025-10-20T00:00:00+00:00" and rows[0]["code_insee_region"] == "11"


@pytest.mark.parametrize("dataset, endpoint, params, status, code", [
    ("eco2mix-regional-tr", "records", {"limit": 101}, 400, "InvalidRESTParameterError"),
    ("eco2mix-regional-tr", "records", {"limit": -1}, 400, "InvalidRESTParameterError"),
    ("eco2mix-regional-tr", "records", {"limit": 100, "offset": 9901}, 400, "InvalidRESTParameterError"),
    ("eco2mix-regional-tr", "records", {"limit": 10, "offset": 9991}, 400, "InvalidRESTParameterError"),
    ("eco2mix-regional-tr", "records", {"where": "date >= '2025-10-26'"}, 400, "ODSQLError"),
    ("eco2mix-regional-tr", "records", {"where": "date in ['2025-10-26'..'2025-10-27']"}, 400, "ODSQLError"),
    ("eco2mix-regional-tr", "records", {"where": "date_heure >= date'2025-11-01' or code_insee_region = '11'"}, 400,
     "ODSQLError"),
    ("eco2mix-regional-tr", "records", {"where": "date_heure >= (("}, 400, "ODSQLError"),
    ("eco2mix-regional-tr", "records", {"where": "date_heur >= date'2025-11-01'"}, 400, "ODSQLError"),
    ("eco2mix-regional-tr", "records", {"where": "date_heure >= date'yesterday'"}, 400, "ODSQLError"),
    ("eco2mix-national-tr", "records", {"where": "code_insee_region = '11'"}, 400, "ODSQLError"),
    ("eco2mix-regional-tr", "records", {"select": "consommation, nope"}, 400, "ODSQLError"),
    ("eco2mix-regional-tr", "records", {"order_by": "nope desc"}, 400, "ODSQLError"),
    ("eco2mix-regional-tr", "records", {"timezone": "Mars/Olympus_Mons"}, 400, "InvalidRESTParameterError"),
    ("eco2mix-regional-tr", "records", {"refine": "nope:1"}, 400, "InvalidRESTParameterError"),
    ("eco2mix-regional-tr", "exports/csv", {}, 400, "InvalidRESTParameterError"),
    ("no-such-dataset", "records", {}, 404, "NotFound"),
])
def test_error_shapes(base, dataset, endpoint, params, status, code):
    response = get(base, dataset, endpoint, **params)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error_code"] == code and body["message"]


def test_the_largest_allowed_page_is_served(base):
    response = get(base, "eco2mix-regional-tr", limit=100, offset=9900, order_by="date_heure")
    assert len(results(response)) == 100 and response.json()["total_count"] > 10_000


def test_the_client_surfaces_the_stand_ins_odsql_error(base):
    client = odre(base)
    url = f"{base}{API}/eco2mix-regional-tr/records"
    with pytest.raises(SourceError, match="ODSQLError: ODSQL query is malformed: range comparison") as caught:
        client._get(url, {"where": "date >= '2025-10-26'", "order_by": "date_heure", "limit": 10})
    assert caught.value.status == 400


def test_injected_faults_apply_to_these_paths_too(base):
    requests.post(f"{base}/_standin/faults", json={"error_rate": 1.0, "error_status": 503},
                  timeout=5).raise_for_status()
    assert get(base, "eco2mix-regional-tr", limit=1).status_code == 503
    requests.delete(f"{base}/_standin/faults", timeout=5).raise_for_status()
    assert get(base, "eco2mix-regional-tr", limit=1).status_code == 200
    assert requests_made(base, "eco2mix-regional-tr") == 2


def test_optional_rate_limit_answers_429_with_rate_limit_headers():
    ticks = Clock(1000.0)
    config = StandinConfig(rate_limit_per_minute=0, now=lambda: NOW, monotonic=ticks,
                           odre=OdreStandinConfig(rate_limit_per_minute=2))
    with StandinServer(config) as server:
        first = get(server.url, "eco2mix-regional-tr", limit=1)
        assert first.status_code == 200 and first.headers["X-RateLimit-Limit"] == "2"
        limited = get(server.url, "eco2mix-regional-tr", limit=1)
        assert limited.status_code == 429
        assert limited.headers["Retry-After"] == "30" and limited.headers["X-RateLimit-Remaining"] == "0"
        assert int(limited.headers["X-RateLimit-Reset"]) == int(NOW.timestamp()) + 30
        assert limited.json()["call_limit"] == 2
        assert get(server.url, "eco2mix-national-tr", limit=1).status_code == 200  # per dataset
        assert requests.get(f"{server.url}/dataset/PowerSystemRightNow", params={"limit": 1}, timeout=5).ok
        waits: list[float] = []

        def wait(seconds: float) -> None:
            waits.append(seconds)
            ticks.value += seconds

        client = OdreClient(server.url, PoliteSession(sleep=wait))
        assert len(client.fetch_window("eco2mix-regional-tr", at("2025-11-02"), at("2025-11-02", 1))) == 48
        assert waits == [30.0]
