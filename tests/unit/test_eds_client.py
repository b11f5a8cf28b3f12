"""Client behaviour against scripted HTTP answers (I/O faked; the retry logic is real)."""

import json
from datetime import datetime, timezone

import pytest
import requests

from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
from energy_orchestration.sources.http import (
    NotYetPublished,
    PoliteSession,
    RetryPolicy,
    SourceError,
    SourceUnavailable,
)
from tests.unit import http_fakes
from tests.unit.http_fakes import ScriptedSession

START = datetime(2026, 4, 8, 21, 0, tzinfo=timezone.utc)
END = datetime(2026, 4, 8, 22, 0, tzinfo=timezone.utc)


def response(status: int, body, headers=None) -> requests.Response:
    return http_fakes.response(status, body, "http://standin/dataset/PowerSystemRightNow", headers)


def client(*answers, max_attempts=4):
    sleeps: list[float] = []
    session = ScriptedSession(*answers)
    http = PoliteSession(retry=RetryPolicy(max_attempts=max_attempts, backoff_seconds=1.0),
                         session=session, sleep=sleeps.append)  # type: ignore[arg-type]
    return EnergiDataServiceClient("http://standin", http), session, sleeps


def page(records, total=None):
    return {"total": len(records) if total is None else total, "dataset": "PowerSystemRightNow", "records": records}


def test_asks_for_a_sorted_utc_window_in_one_request(psrn_records):
    eds, session, _ = client(response(200, page(psrn_records)))
    assert eds.fetch_window("PowerSystemRightNow", START, END) == psrn_records
    assert [c["params"] for c in session.calls] == [{"start": "2026-04-08T21:00", "end": "2026-04-08T22:00",
                                                     "timezone": "UTC", "sort": "Minutes1UTC", "limit": 0}]


def test_honours_retry_after_on_429(psrn_records):
    limited = response(429, {"statusCode": 429, "message": "Rate limit is exceeded. Try again in 17 seconds."},
                       {"Retry-After": "17"})
    eds, session, sleeps = client(limited, response(200, page(psrn_records)))
    assert len(eds.fetch_window("PowerSystemRightNow", START, END)) == 2
    assert sleeps == [17.0]


def test_waits_a_429_asks_for_do_not_use_up_the_attempts(psrn_records):
    """A backfill sharing the one-request-per-minute budget with the live tick may be told to wait
    several times in a row; that is the provider pacing us, not failing."""
    limited = response(429, {"statusCode": 429}, {"Retry-After": "60"})
    eds, session, sleeps = client(*[limited] * 6, response(200, page(psrn_records)), max_attempts=4)
    assert len(eds.fetch_window("PowerSystemRightNow", START, END)) == 2
    assert sleeps == [60.0] * 6 and len(session.calls) == 7


def test_rate_limited_waits_are_bounded_per_call():
    limited = response(429, {"statusCode": 429}, {"Retry-After": "60"})
    eds, session, sleeps = client(*[limited] * 20, max_attempts=2)  # 600 s of waits allowed, then 2 attempts
    with pytest.raises(SourceUnavailable, match="after 2 attempts; last: HTTP 429"):
        eds.fetch_window("PowerSystemRightNow", START, END)
    assert sleeps == [60.0] * 11 and len(session.calls) == 12


def test_a_429_asking_for_too_long_a_wait_fails_fast():
    eds, _, sleeps = client(response(429, {"statusCode": 429}, {"Retry-After": "3600"}))
    with pytest.raises(SourceUnavailable, match="rate limited for 3600s"):
        eds.fetch_window("PowerSystemRightNow", START, END)
    assert sleeps == []


def test_retries_5xx_and_timeouts_with_exponential_backoff(psrn_records):
    eds, session, sleeps = client(response(503, b"Service Unavailable"), requests.Timeout("slow"),
                                  response(502, b"bad gateway"), response(200, page(psrn_records)))
    assert len(eds.fetch_window("PowerSystemRightNow", START, END)) == 2
    assert sleeps == [1.0, 2.0, 4.0]


def test_gives_up_after_max_attempts_with_the_last_problem():
    eds, _, sleeps = client(*[response(503, b"Service Unavailable")] * 3, max_attempts=3)
    with pytest.raises(SourceUnavailable, match="after 3 attempts; last: HTTP 503"):
        eds.fetch_window("PowerSystemRightNow", START, END)
    assert sleeps == [1.0, 2.0]


def test_other_4xx_fail_at_once_with_the_service_text():
    eds, session, _ = client(response(400, b"Invalid column Foo"))
    with pytest.raises(SourceError, match="HTTP 400 .*Invalid column Foo") as caught:
        eds.fetch_window("PowerSystemRightNow", START, END)
    assert caught.value.status == 400 and len(session.calls) == 1


@pytest.mark.parametrize("body", [b"<html>oops</html>", json.dumps({"total": 3}).encode()])
def test_malformed_pages_are_errors_that_keep_the_body(body):
    eds, _, _ = client(response(200, body))
    with pytest.raises(SourceError, match="malformed page") as caught:
        eds.fetch_window("PowerSystemRightNow", START, END)
    assert caught.value.body


def test_total_zero_means_not_yet_published():
    eds, _, _ = client(response(200, page([])))
    with pytest.raises(NotYetPublished):
        eds.fetch_window("PowerSystemRightNow", START, END)


def test_pages_beyond_a_capped_first_answer_are_walked_by_offset(psrn_records):
    first, second = psrn_records
    eds, session, _ = client(response(200, page([first], total=2)), response(200, page([second], total=2)))
    assert eds.fetch_window("PowerSystemRightNow", START, END) == [first, second]
    assert session.calls[1]["params"]["offset"] == 1


class TimeoutRecordingSession(ScriptedSession):
    def __init__(self, *answers):
        super().__init__(*answers)
        self.timeouts: list[float] = []

    def get(self, url, params, timeout, headers):
        self.timeouts.append(timeout)
        return super().get(url, params, timeout, headers)


def bounded_client(*answers, left: float, timeout_seconds: float = 30.0):
    """A client whose calls must be over ``left`` seconds from now (the live sensor's tick budget)."""
    import time

    sleeps: list[float] = []
    session = TimeoutRecordingSession(*answers)
    http = PoliteSession(timeout_seconds=timeout_seconds, retry=RetryPolicy(max_attempts=4, backoff_seconds=1.0),
                         session=session, sleep=sleeps.append,  # type: ignore[arg-type]
                         deadline=time.monotonic() + left)
    return EnergiDataServiceClient("http://standin", http), session, sleeps


def test_a_deadline_cuts_each_attempts_timeout_to_the_time_left(psrn_records):
    eds, session, _ = bounded_client(response(200, page(psrn_records)), left=60.0, timeout_seconds=600.0)
    assert len(eds.fetch_window("PowerSystemRightNow", START, END)) == 2
    [timeout] = session.timeouts
    assert 0 < timeout <= 60.0


def test_no_request_starts_once_the_deadline_has_passed():
    eds, session, sleeps = bounded_client(response(503, b"x"), left=-1.0)
    with pytest.raises(SourceUnavailable, match="time budget spent"):
        eds.fetch_window("PowerSystemRightNow", START, END)
    assert session.calls == [] and sleeps == []


def test_a_retry_after_beyond_the_deadline_fails_at_once():
    limited = response(429, {"statusCode": 429}, {"Retry-After": "17"})
    eds, _, sleeps = bounded_client(limited, left=5.0)
    with pytest.raises(SourceUnavailable, match="beyond the time budget"):
        eds.fetch_window("PowerSystemRightNow", START, END)
    assert sleeps == []


def test_back_off_never_sleeps_past_the_deadline(psrn_records):
    eds, _, sleeps = bounded_client(response(503, b"x"), response(200, page(psrn_records)), left=0.5)
    assert len(eds.fetch_window("PowerSystemRightNow", START, END)) == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.5


@pytest.mark.parametrize("fixture", ["eds_PowerSystemRightNow_2026-04-08.json",
                                     "odre_eco2mix-regional-tr_records_2026-08-27.json"])
def test_a_recorded_page_reads_the_same_as_with_the_standard_decoder(fixture):
    """The fast page reader (orjson) must not change one value of a real provider's page."""
    from pathlib import Path

    from energy_orchestration.sources.http import parse_page

    body = (Path(__file__).parents[1] / "fixtures" / fixture).read_bytes()
    page = response(200, body)
    assert parse_page(page) == json.loads(body.decode("utf-8"))


@pytest.mark.parametrize("body, expected", [
    (b'{"records": [{"SolarPower": NaN}]}', "nan"),                      # not JSON to orjson, read before
    ("\ufeff{\"records\": []}".encode("utf-8"), []),                     # a byte-order mark
    ('{"records": [{"zone": "Île-de-France"}]}'.encode("utf-16"), [{"zone": "Île-de-France"}]),  # not UTF-8
])
def test_a_page_the_fast_reader_refuses_is_read_as_before(body, expected):
    from energy_orchestration.sources.http import parse_page

    records = parse_page(response(200, body))["records"]
    if expected == "nan":
        assert records[0]["SolarPower"] != records[0]["SolarPower"]
    else:
        assert records == expected
