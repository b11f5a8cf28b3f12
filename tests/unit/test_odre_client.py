"""ODRÉ client against scripted HTTP answers (I/O faked; retry logic and paging are real)."""

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
import requests

from energy_orchestration.sources.http import NotYetPublished, PoliteSession, RetryPolicy, SourceError
from energy_orchestration.sources.odre import (
    MAX_OFFSET_PLUS_LIMIT,
    PAGE_LIMIT,
    REGIONAL_TR,
    OdreClient,
    odsql_date,
    window_where,
)
from tests.unit import http_fakes
from tests.unit.http_fakes import ScriptedSession

UTC = timezone.utc
BASE = "http://standin"
RECORDS = f"{BASE}/api/explore/v2.1/catalog/datasets/eco2mix-regional-tr/records"
EXPORTS = f"{BASE}/api/explore/v2.1/catalog/datasets/eco2mix-regional-tr/exports/json"
CODES = ("11", "24", "27", "28", "32", "44", "52", "53", "75", "76", "84", "93")


def response(status: int, body, url: str = RECORDS, headers=None) -> requests.Response:
    return http_fakes.response(status, body, url, headers)


class FakeOpendatasoft:
    """A tiny Opendatasoft: the client's ``where``, ``order_by``, ``limit``/``offset`` with the
    real caps (400 InvalidRESTParameterError), over an in-memory table."""

    WHERE = re.compile(r"date_heure >= date'(?P<lo>[^']+)' and date_heure < date'(?P<hi>[^']+)'")

    def __init__(self, rows: list[dict]):
        self.rows = rows
        self.calls: list[dict] = []

    def get(self, url, params, timeout, headers):
        self.calls.append({"url": url, "params": dict(params)})
        limit, offset = int(params.get("limit", 10)), int(params.get("offset", 0))
        if limit > 100 or offset + limit > 10_000:
            return response(400, {"error_code": "InvalidRESTParameterError", "message": "offset + limit > 10000"}, url)
        match = self.WHERE.fullmatch(params["where"])
        lo, hi = (datetime.fromisoformat(match.group(g).replace("Z", "+00:00")) for g in ("lo", "hi"))
        chosen = [r for r in self.rows if lo <= datetime.fromisoformat(r["date_heure"]) < hi]
        keys = [k.strip() for k in params["order_by"].split(",")]
        chosen.sort(key=lambda r: tuple(r[k] for k in keys))
        page = chosen if url.endswith("/exports/json") else chosen[offset:offset + limit]
        body = page if url.endswith("/exports/json") else {"total_count": len(chosen), "results": page}
        return response(200, body, url)


def regional_rows(start: datetime, quarter_hours: int) -> list[dict]:
    rows = []
    for step in range(quarter_hours):
        stamp = (start + timedelta(minutes=15 * step)).isoformat()
        for code in reversed(CODES):  # stored in no useful order
            rows.append({"code_insee_region": code, "nature": "Données temps réel", "date_heure": stamp,
                         "consommation": 1000 + step, "pompage": "0"})
    return rows


def client(session, **kwargs):
    sleeps: list[float] = []
    http = PoliteSession(retry=RetryPolicy(max_attempts=3, backoff_seconds=1.0), session=session,
                         sleep=sleeps.append)  # type: ignore[arg-type]
    return OdreClient(BASE, http, **kwargs), sleeps


START = datetime(2026, 8, 27, 6, 0, tzinfo=UTC)


def test_short_window_asks_records_with_a_utc_odsql_window_and_an_order():
    rows = regional_rows(START, 2)
    session = ScriptedSession(response(200, {"total_count": 24, "results": rows}))
    odre, _ = client(session)
    assert odre.fetch_window("eco2mix-regional-tr", START, START + timedelta(minutes=30)) == rows
    [call] = session.calls
    assert call["url"] == RECORDS
    assert call["params"] == {
        "where": "date_heure >= date'2026-08-27T06:00:00Z' and date_heure < date'2026-08-27T06:30:00Z'",
        "order_by": "date_heure, code_insee_region", "limit": 100, "offset": 0, "timezone": "UTC"}
    assert "Authorization" not in call["headers"]


def test_the_national_set_is_ordered_by_time_alone():
    row = {"date_heure": "2026-08-27T06:00:00+00:00", "consommation": 50000}
    session = ScriptedSession(response(200, {"total_count": 1, "results": [row]}))
    odre, _ = client(session)
    odre.fetch_window("eco2mix-national-tr", START, START + timedelta(minutes=15))
    assert session.calls[0]["params"]["order_by"] == "date_heure"


def test_odsql_literals_are_full_utc_timestamps():
    paris = timezone(timedelta(hours=2))
    assert odsql_date(datetime(2026, 8, 27, 9, 45, tzinfo=paris)) == "date'2026-08-27T07:45:00Z'"
    assert window_where(START, START).count("date'") == 2
    with pytest.raises(ValueError):
        odsql_date(datetime(2026, 8, 27))


def test_cursor_paging_walks_past_the_offset_cap_without_losing_or_repeating_rows():
    rows = regional_rows(START, 900)  # 10,800 rows: more than offset + limit may ever reach
    server = FakeOpendatasoft(rows)
    odre, _ = client(server, export_threshold=timedelta(days=30))
    got = odre.fetch_window("eco2mix-regional-tr", START, START + timedelta(minutes=15 * 900))
    assert len(got) == len(rows) > MAX_OFFSET_PLUS_LIMIT
    assert len({REGIONAL_TR.record_key(r) for r in got}) == len(rows)
    assert [r["date_heure"] for r in got] == sorted(r["date_heure"] for r in got)
    assert all(c["url"] == RECORDS for c in server.calls)
    assert max(int(c["params"]["offset"]) + int(c["params"]["limit"]) for c in server.calls) <= MAX_OFFSET_PLUS_LIMIT
    assert all(int(c["params"]["limit"]) == PAGE_LIMIT for c in server.calls)
    # pages end inside a timestamp (100 is not a multiple of 12): the cursor re-asks that
    # timestamp and skips only the regions already taken
    second = server.calls[1]["params"]
    assert "date'2026-08-27T08:00:00Z'" in second["where"] and second["offset"] == 4  # 8 x 12 + 4
    assert len(server.calls) == -(-len(rows) // PAGE_LIMIT)


def test_overlapping_pages_are_de_duplicated_by_key():
    rows = regional_rows(START, 10)  # 120 rows
    first = response(200, {"total_count": 120, "results": rows[:100]})
    # a service whose order within a timestamp changed between pages repeats some rows
    second = response(200, {"total_count": 28, "results": rows[90:] + rows[90:96]})
    odre, _ = client(ScriptedSession(first, second))
    got = odre.fetch_window("eco2mix-regional-tr", START, START + timedelta(hours=3))
    assert len(got) == 120 and len({REGIONAL_TR.record_key(r) for r in got}) == 120


def test_a_page_full_of_one_timestamp_moves_the_offset_not_the_cursor():
    same = [{"code_insee_region": str(i), "date_heure": "2026-08-27T06:00:00+00:00", "consommation": 1}
            for i in range(150)]
    session = ScriptedSession(response(200, {"total_count": 150, "results": same[:100]}),
                              response(200, {"total_count": 150, "results": same[100:]}))
    odre, _ = client(session)
    assert len(odre.fetch_window("eco2mix-regional-tr", START, START + timedelta(hours=1))) == 150
    assert session.calls[1]["params"]["offset"] == 100
    assert "date'2026-08-27T06:00:00Z'" in session.calls[1]["params"]["where"]


def test_long_windows_use_the_export_endpoint_in_chunks():
    rows = regional_rows(START, 4 * 96)  # 4 days, 4,608 rows
    server = FakeOpendatasoft(rows)
    odre, _ = client(server, export_chunk=timedelta(days=3))
    got = odre.fetch_window("eco2mix-regional-tr", START, START + timedelta(days=4))
    assert len(got) == len(rows) and len({REGIONAL_TR.record_key(r) for r in got}) == len(rows)
    assert [c["url"] for c in server.calls] == [EXPORTS, EXPORTS]
    assert "limit" not in server.calls[0]["params"] and "offset" not in server.calls[0]["params"]
    assert server.calls[1]["params"]["where"].startswith("date_heure >= date'2026-08-30T06:00:00Z'")


def test_a_one_day_window_still_uses_records():
    server = FakeOpendatasoft(regional_rows(START, 96))
    odre, _ = client(server)
    assert len(odre.fetch_window("eco2mix-regional-tr", START, START + timedelta(days=1))) == 1152
    assert {c["url"] for c in server.calls} == {RECORDS}


@pytest.mark.parametrize("code, message", [
    ("ODSQLError", "ODSQL query is malformed: Unknown field: date_heur"),
    ("InvalidRESTParameterError", "Invalid value for limit API parameter: 200 was found but -1 <= limit <= 100"),
])
def test_api_errors_are_surfaced_with_their_code_and_message(code, message):
    session = ScriptedSession(response(400, {"error_code": code, "message": message}))
    odre, sleeps = client(session)
    with pytest.raises(SourceError) as caught:
        odre.fetch_window("eco2mix-regional-tr", START, START + timedelta(hours=1))
    assert f"{code}: {message}" in str(caught.value)
    assert caught.value.status == 400 and json.loads(caught.value.body)["error_code"] == code
    assert len(session.calls) == 1 and sleeps == []  # not retried


def test_nothing_published_yet():
    odre, _ = client(ScriptedSession(response(200, {"total_count": 0, "results": []})))
    with pytest.raises(NotYetPublished, match="no rows"):
        odre.fetch_window("eco2mix-regional-tr", START, START + timedelta(hours=1))


def test_a_window_holding_only_future_forecast_rows_is_not_published_yet():
    future = [{"perimetre": "France", "date_heure": "2026-08-27T21:00:00+00:00", "consommation": None,
               "prevision_j": 50000, "prevision_j1": 50500, "nucleaire": None, "eolien_terrestre": "ND"}]
    odre, _ = client(ScriptedSession(response(200, {"total_count": 1, "results": future})))
    with pytest.raises(NotYetPublished, match="only forecast rows"):
        odre.fetch_window("eco2mix-national-tr", START, START + timedelta(hours=1))


def test_malformed_pages_keep_the_body():
    odre, _ = client(ScriptedSession(response(200, {"total_count": 3})))
    with pytest.raises(SourceError, match="malformed page") as caught:
        odre.fetch_window("eco2mix-regional-tr", START, START + timedelta(hours=1))
    assert caught.value.body
    odre, _ = client(ScriptedSession(response(200, {"results": []}, EXPORTS)))
    with pytest.raises(SourceError, match="malformed export"):
        odre.fetch_window("eco2mix-regional-tr", START, START + timedelta(days=2))


def test_rate_limits_are_honoured_via_retry_after():
    limited = response(429, {"errorcode": 10002, "error": "Too many requests"}, RECORDS,
                       {"Retry-After": "7", "X-RateLimit-Remaining": "0"})
    rows = regional_rows(START, 1)
    odre, sleeps = client(ScriptedSession(limited, response(200, {"total_count": 12, "results": rows})))
    assert len(odre.fetch_window("eco2mix-regional-tr", START, START + timedelta(minutes=15))) == 12
    assert sleeps == [7.0]


def test_the_api_key_goes_in_a_header_of_this_client_only_and_never_in_its_repr():
    rows = regional_rows(START, 1)
    session = ScriptedSession(response(200, {"total_count": 12, "results": rows}))
    shared = PoliteSession(session=session)  # type: ignore[arg-type]
    odre = OdreClient(BASE, shared, api_key="s3cret")
    odre.fetch_window("eco2mix-regional-tr", START, START + timedelta(minutes=15))
    assert session.calls[0]["headers"]["Authorization"] == "Apikey s3cret"
    assert "s3cret" not in repr(odre) and "s3cret" not in repr(odre.http)
    assert shared.session is session  # a session shared with other clients is left untouched


def test_naive_datetimes_are_refused():
    odre, _ = client(ScriptedSession())
    with pytest.raises(ValueError):
        odre.fetch_window("eco2mix-regional-tr", datetime(2026, 8, 27), datetime(2026, 8, 28))
