"""Energi Data Service stand-in: parameter parsing, query engine and synthetic data (no HTTP)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from energy_orchestration.standin.energidataservice import (
    BAD_VALUE_KINDS,
    CO2_EMIS,
    DANISH_TZ,
    ELECTRICITY_PRODEX_5MIN,
    POWER_SYSTEM_RIGHT_NOW,
    ParamError,
    bad_rows,
    parse_columns,
    parse_duration,
    parse_filter,
    parse_limit_offset,
    parse_query,
    parse_sort,
    parse_time_bound,
    parse_timezone,
    run_query,
)
from energy_orchestration.standin.synthetic_dk import (
    AREA_EXCHANGES,
    BORDER_CAPACITY_MW,
    CO2_EMIS_FIELDS,
    DK1_SHARE,
    ELECTRICITY_PRODEX_5MIN_FIELDS,
    POWER_SYSTEM_RIGHT_NOW_FIELDS,
    co2_emis_columns,
    co2_emis_records,
    dk_offset_minutes,
    electricity_prodex_5min_columns,
    electricity_prodex_5min_records,
    minute_index,
    power_system_right_now_columns,
    power_system_right_now_record,
    power_system_right_now_records,
)

UTC = timezone.utc
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "eds_PowerSystemRightNow_2026-04-08.json"
PRODEX_FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "eds_ElectricityProdex5MinRealtime_2025-02-21.json"
FIELDS = POWER_SYSTEM_RIGHT_NOW.fields
NOW = datetime(2025, 6, 21, 10, 17, 42, tzinfo=UTC)  # summer: Danish time is UTC+2
HISTORY = datetime(2020, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def bound(value: str, tz=DANISH_TZ, now: datetime = NOW) -> datetime:
    return parse_time_bound(value, name="start", now=now, tz=tz)


def query(params: dict[str, str], now: datetime = NOW, **kwargs) -> dict:
    q = parse_query(params, POWER_SYSTEM_RIGHT_NOW, now)
    return run_query(POWER_SYSTEM_RIGHT_NOW, q, now=now, history_start=kwargs.pop("history_start", HISTORY), **kwargs)


def day_columns(start: datetime, minutes: int = 1440) -> dict[str, np.ndarray]:
    first = minute_index(start)
    return power_system_right_now_columns(np.arange(first, first + minutes, dtype=np.int64))


# --------------------------------------------------------------------------- absolute bounds


@pytest.mark.parametrize(
    ("value", "danish", "in_utc"),
    [
        ("2025", utc(2024, 12, 31, 23), utc(2025, 1, 1)),
        ("2025-06", utc(2025, 5, 31, 22), utc(2025, 6, 1)),
        ("2025-06-21", utc(2025, 6, 20, 22), utc(2025, 6, 21)),
        ("2025-06-21T12:30", utc(2025, 6, 21, 10, 30), utc(2025, 6, 21, 12, 30)),
        ("2025-06-21T12:30:15", utc(2025, 6, 21, 10, 30, 15), utc(2025, 6, 21, 12, 30, 15)),
        ("2025-01-15T08:00", utc(2025, 1, 15, 7), utc(2025, 1, 15, 8)),
    ],
)
def test_absolute_bounds_are_danish_local_time_unless_utc(value: str, danish: datetime, in_utc: datetime) -> None:
    assert bound(value) == danish
    assert bound(value, tz=UTC) == in_utc


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-10-26", utc(2025, 10, 25, 22)),  # still summer time at local midnight
        ("2025-10-27", utc(2025, 10, 26, 23)),  # so 26 October lasts 25 hours
        ("2025-03-30", utc(2025, 3, 29, 23)),  # still winter time at local midnight
        ("2025-03-31", utc(2025, 3, 30, 22)),  # so 30 March lasts 23 hours
    ],
)
def test_dst_days_in_danish_time(value: str, expected: datetime) -> None:
    assert bound(value) == expected


def test_dst_day_lengths_show_up_in_totals() -> None:
    later = utc(2026, 1, 1)
    autumn = query({"start": "2025-10-26", "end": "2025-10-27", "limit": "1"}, now=later)
    spring = query({"start": "2025-03-30", "end": "2025-03-31", "limit": "1"}, now=later)
    assert autumn["total"] == 25 * 60
    assert spring["total"] == 23 * 60
    utc_day = {"start": "2025-10-26", "end": "2025-10-27", "timezone": "UTC", "limit": "1"}
    assert query(utc_day, now=later)["total"] == 1440


# --------------------------------------------------------------------------- relative bounds


@pytest.mark.parametrize(
    ("value", "tz", "expected"),
    [
        ("now", DANISH_TZ, NOW),
        ("NOW", UTC, NOW),
        ("now-P1D", DANISH_TZ, NOW - timedelta(days=1)),
        ("now-PT15M", DANISH_TZ, NOW - timedelta(minutes=15)),
        ("now+PT1H", DANISH_TZ, NOW + timedelta(hours=1)),
        ("now PT1H", DANISH_TZ, NOW + timedelta(hours=1)),  # an unencoded '+' arrives as a space
        ("now-P1DT2H", DANISH_TZ, NOW - timedelta(days=1, hours=2)),
        ("now-P1W", DANISH_TZ, NOW - timedelta(weeks=1)),
        ("now-PT30S", DANISH_TZ, NOW - timedelta(seconds=30)),
        ("now-P1M", DANISH_TZ, utc(2025, 5, 21, 10, 17, 42)),
        ("now-P1Y", DANISH_TZ, utc(2024, 6, 21, 10, 17, 42)),
        ("StartOfDay", DANISH_TZ, utc(2025, 6, 20, 22)),
        ("StartOfDay", UTC, utc(2025, 6, 21)),
        ("startofday", UTC, utc(2025, 6, 21)),
        ("StartOfDay-P1D", DANISH_TZ, utc(2025, 6, 19, 22)),
        ("StartOfDay+PT6H", UTC, utc(2025, 6, 21, 6)),
        ("StartOfMonth", DANISH_TZ, utc(2025, 5, 31, 22)),
        ("StartOfMonth-P1M", DANISH_TZ, utc(2025, 4, 30, 22)),
        ("StartOfYear", DANISH_TZ, utc(2024, 12, 31, 23)),
        ("StartOfYear", UTC, utc(2025, 1, 1)),
    ],
)
def test_relative_bounds(value: str, tz, expected: datetime) -> None:
    assert bound(value, tz=tz) == expected


def test_relative_calendar_durations_follow_the_danish_wall_clock_across_dst() -> None:
    now = utc(2025, 10, 26, 12)  # the autumn DST day, 13:00 in Copenhagen
    assert bound("StartOfDay", now=now) == utc(2025, 10, 25, 22)
    assert bound("StartOfDay-P1D", now=now) == utc(2025, 10, 24, 22)
    assert bound("StartOfDay+P1D", now=now) == utc(2025, 10, 26, 23)  # 25 hours later
    assert bound("StartOfDay", now=utc(2025, 6, 21, 22, 30)) == utc(2025, 6, 21, 22)  # already the 22nd in DK


def test_durations() -> None:
    d = parse_duration("P1Y2M3W4DT5H6M7.5S")
    assert (d.years, d.months, d.days, d.seconds) == (1, 2, 25, 5 * 3600 + 6 * 60 + 7.5)
    assert parse_duration("PT15M").seconds == 900
    for bad in ("P", "PT", "P1DT", "1D", "P1.5D", "PT1X", "P-1D"):
        with pytest.raises(ParamError, match="Invalid duration"):
            parse_duration(bad)


@pytest.mark.parametrize(
    "value",
    ["xyz", "", "2025-13-01", "2025-02-30", "2025-06-21T25:00", "now-", "now-P", "now*PT1H", "now-PT1X", "21-06-2025"],
)
def test_bad_bounds_are_rejected_with_a_clear_message(value: str) -> None:
    with pytest.raises(ParamError) as excinfo:
        bound(value)
    assert str(excinfo.value) == f"Invalid start: '{value}'"


def test_timezone_parameter() -> None:
    assert parse_timezone(None) is DANISH_TZ
    assert parse_timezone("dk") is DANISH_TZ
    assert parse_timezone("UTC") is UTC
    assert parse_timezone("utc") is UTC
    with pytest.raises(ParamError, match="Invalid timezone: 'CET'"):
        parse_timezone("CET")


# --------------------------------------------------------------------------- filter/columns/sort/paging


def test_filter_parsing() -> None:
    assert parse_filter(None, FIELDS) == {}
    assert parse_filter('{"SolarPower": [0, 1.5]}', FIELDS) == {"SolarPower": [0, 1.5]}
    assert parse_filter('{"Minutes1UTC": "2025-01-01T00:00:00"}', FIELDS) == {"Minutes1UTC": ["2025-01-01T00:00:00"]}
    with pytest.raises(ParamError, match="not valid JSON"):
        parse_filter("{bad", FIELDS)
    with pytest.raises(ParamError, match="must be a JSON object"):
        parse_filter("[1, 2]", FIELDS)
    with pytest.raises(ParamError) as excinfo:
        parse_filter('{"PriceArea": ["DK1"]}', FIELDS)
    assert str(excinfo.value) == "Invalid column PriceArea"


def test_columns_parsing() -> None:
    assert parse_columns(None, FIELDS) == FIELDS
    assert parse_columns("", FIELDS) == FIELDS
    assert parse_columns("SolarPower, Minutes1UTC", FIELDS) == ("SolarPower", "Minutes1UTC")
    with pytest.raises(ParamError) as excinfo:
        parse_columns("Minutes1UTC,HourUTC", FIELDS)
    assert str(excinfo.value) == "Invalid column HourUTC"


def test_sort_parsing() -> None:
    assert parse_sort(None, FIELDS) == []
    assert parse_sort("Minutes1UTC", FIELDS) == [("Minutes1UTC", False)]
    assert parse_sort("Minutes1UTC desc", FIELDS) == [("Minutes1UTC", True)]
    assert parse_sort("Minutes1UTC DESC", FIELDS) == [("Minutes1UTC", True)]
    assert parse_sort("SolarPower Asc", FIELDS) == [("SolarPower", False)]
    assert parse_sort("SolarPower desc, Minutes1UTC", FIELDS) == [("SolarPower", True), ("Minutes1UTC", False)]
    with pytest.raises(ParamError, match="Invalid column HourUTC"):
        parse_sort("HourUTC desc", FIELDS)
    with pytest.raises(ParamError, match="Invalid sort"):
        parse_sort("Minutes1UTC sideways", FIELDS)


def test_offset_and_limit_parsing() -> None:
    assert parse_limit_offset(None, "limit") is None
    assert parse_limit_offset("0", "limit") == 0
    assert parse_limit_offset("25", "limit") == 25
    for bad in ("-1", "abc", "1.5", ""):
        with pytest.raises(ParamError) as excinfo:
            parse_limit_offset(bad, "offset")
        assert str(excinfo.value) == f"Invalid offset: '{bad}'"


def test_default_limit_depends_on_start() -> None:
    assert parse_query({}, POWER_SYSTEM_RIGHT_NOW, NOW).effective_limit == 100
    assert parse_query({"start": "now-P1D"}, POWER_SYSTEM_RIGHT_NOW, NOW).effective_limit == 0
    assert parse_query({"limit": "7"}, POWER_SYSTEM_RIGHT_NOW, NOW).effective_limit == 7


# --------------------------------------------------------------------------- query engine


def test_never_future_rows_and_publication_lag() -> None:
    newest = query({"limit": "1"})["records"][0]["Minutes1UTC"]
    assert newest == "2025-06-21T10:16:00"  # 10:17 is not complete yet at 10:17:42
    lagged = query({"limit": "1"}, lag_seconds=180)["records"][0]["Minutes1UTC"]
    assert lagged == "2025-06-21T10:13:00"
    future = query({"start": "now+PT1M", "end": "now+PT1H"})
    assert future["total"] == 0 and future["records"] == []
    assert query({"start": "now-PT5M", "end": "2030-01-01"})["total"] == 4  # 10:13..10:16 (10:12:42 rounds up)


def test_total_is_counted_from_history_start_without_generating_it() -> None:
    result = query({})
    expected_total = (minute_index(NOW) - minute_index(HISTORY))  # every complete minute since history start
    assert result["total"] == expected_total
    assert len(result["records"]) == 100
    later_history = query({"limit": "5"}, history_start=utc(2025, 6, 21))
    assert later_history["total"] == 10 * 60 + 17


def test_end_before_start_is_empty() -> None:
    assert query({"start": "2025-06-02", "end": "2025-06-01"})["total"] == 0
    assert query({"start": "2025-06-01", "end": "2025-06-01"})["records"] == []


def test_paging_in_both_directions() -> None:
    params = {"start": "2025-06-20", "end": "2025-06-20T01:00", "timezone": "UTC"}
    desc = query({**params, "limit": "0"})["records"]
    asc = query({**params, "sort": "Minutes1UTC asc"})["records"]
    assert len(desc) == len(asc) == 60
    assert desc == asc[::-1]
    assert [r["Minutes1UTC"] for r in asc[:2]] == ["2025-06-20T00:00:00", "2025-06-20T00:01:00"]
    page = query({**params, "offset": "50", "limit": "20"})
    assert page["total"] == 60 and page["records"] == desc[50:60]
    assert query({**params, "offset": "100"})["records"] == []


def test_value_sort_and_filter_paths() -> None:
    params = {"start": "2025-06-20", "end": "2025-06-21", "timezone": "UTC"}
    by_wind = query({**params, "sort": "OnshoreWindPower desc", "limit": "0"})["records"]
    wind = [r["OnshoreWindPower"] for r in by_wind]
    assert wind == sorted(wind, reverse=True) and len(wind) == 1440
    dark = query({**params, "filter": '{"SolarPower": [0]}'})
    assert 0 < dark["total"] < 1440
    assert all(r["SolarPower"] == 0.0 for r in dark["records"])
    assert all(r["Minutes1UTC"][11:13] in {"19", "20", "21", "22", "23", "00", "01", "02"} for r in dark["records"])
    with pytest.raises(ParamError, match="Range too large for sort on SolarPower"):
        query({"sort": "SolarPower desc"})
    with pytest.raises(ParamError, match="Invalid filter value"):
        query({**params, "filter": '{"SolarPower": ["sunny"]}'})


def test_time_column_filters() -> None:
    named = query({"filter": json.dumps(
        {"Minutes1UTC": ["2025-06-21T05:00:00", "2025-06-21T05:01:00", "2025-06-22T00:00:00"]})})
    # the future one is dropped
    assert [r["Minutes1UTC"] for r in named["records"]] == ["2025-06-21T05:01:00", "2025-06-21T05:00:00"]
    later = utc(2026, 1, 1)
    repeated = query({"filter": json.dumps({"Minutes1DK": "2025-10-26T02:30:00"})}, now=later)  # autumn hour twice
    assert [r["Minutes1UTC"] for r in repeated["records"]] == ["2025-10-26T01:30:00", "2025-10-26T00:30:00"]
    skipped = query({"filter": json.dumps({"Minutes1DK": "2025-03-30T02:30:00"})}, now=later)  # never in Denmark
    assert skipped["total"] == 0


def test_missing_minutes_are_deterministic_and_consistent_across_paths() -> None:
    params = {"start": "2025-06-20", "end": "2025-06-21", "timezone": "UTC", "limit": "0"}
    full = query(params)["records"]
    holes = query(params, missing_rate=0.25)
    again = query(params, missing_rate=0.25)
    assert holes == again
    assert 0.65 * 1440 < holes["total"] < 0.85 * 1440 and holes["total"] == len(holes["records"])
    by_minute = {r["Minutes1UTC"]: r for r in full}
    assert all(by_minute[r["Minutes1UTC"]] == r for r in holes["records"])  # kept minutes are untouched
    more_holes = {r["Minutes1UTC"] for r in query(params, missing_rate=0.5)["records"]}
    assert more_holes < {r["Minutes1UTC"] for r in holes["records"]}
    paged = query({**params, "limit": "100", "offset": "10"}, missing_rate=0.25)
    assert paged["records"] == holes["records"][10:110]
    total_all = query({"limit": "3"}, missing_rate=0.25)["total"]  # chunked scan over the whole history
    assert 0.7 < total_all / query({"limit": "3"})["total"] < 0.8


def test_envelope_keys() -> None:
    assert list(query({})) == ["total", "dataset", "records"]
    full = query({"limit": "5", "filter": '{"SolarPower": [0]}', "sort": "Minutes1UTC desc", "start": "2025-06-21"})
    assert list(full) == ["total", "limit", "filters", "sort", "dataset", "records"]
    assert full["filters"] == '{"SolarPower": [0]}' and full["sort"] == "Minutes1UTC DESC"
    narrow = query({"columns": "Minutes1UTC,CO2Emission", "limit": "2"})
    assert [list(r) for r in narrow["records"]] == [["Minutes1UTC", "CO2Emission"]] * 2


# --------------------------------------------------------------------------- synthetic data


def test_record_fields_match_the_recorded_real_sample() -> None:
    real = json.loads(FIXTURE.read_text())["records"][0]
    generated = power_system_right_now_record(utc(2026, 4, 8, 21, 30))
    assert list(generated) == list(real) == list(POWER_SYSTEM_RIGHT_NOW_FIELDS)
    assert generated["Minutes1UTC"] == real["Minutes1UTC"] and generated["Minutes1DK"] == real["Minutes1DK"]
    assert all(isinstance(generated[k], float) for k in list(generated)[2:])


def test_generator_is_deterministic_within_and_across_processes() -> None:
    minute = utc(2025, 3, 14, 15, 9)
    first = power_system_right_now_record(minute)
    assert power_system_right_now_record(minute) == first
    assert power_system_right_now_record(minute.replace(second=59)) == first
    in_range = power_system_right_now_records(minute - timedelta(minutes=3), minute + timedelta(minutes=3))
    assert in_range[3] == first
    code = (
        "import json; from datetime import datetime, timezone;"
        "from energy_orchestration.standin.synthetic_dk import power_system_right_now_record as r;"
        "print(json.dumps(r(datetime(2025, 3, 14, 15, 9, tzinfo=timezone.utc))))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30)
    assert json.loads(other.stdout) == first


def test_solar_follows_the_sun() -> None:
    assert power_system_right_now_record(utc(2025, 1, 15, 2))["SolarPower"] == 0.0
    assert power_system_right_now_record(utc(2025, 6, 21, 23, 30))["SolarPower"] == 0.0
    summer_noon = power_system_right_now_record(utc(2025, 6, 21, 11))["SolarPower"]
    assert 300.0 < summer_noon < 3600.0
    winter = day_columns(utc(2025, 12, 21))["SolarPower"]
    summer = day_columns(utc(2025, 6, 21))["SolarPower"]
    assert winter[: 7 * 60].max() == 0.0 and winter[16 * 60 :].max() == 0.0  # short December day
    assert summer.max() > 2 * winter.max()
    assert (summer > 0).sum() > 2 * (winter > 0).sum()


@pytest.mark.parametrize("day", [utc(2025, 1, 15), utc(2025, 6, 21), utc(2025, 10, 25, 12)])
def test_balance_capacities_and_co2_are_plausible(day: datetime) -> None:
    c = day_columns(day)
    production = sum(c[k] for k in ("ProductionGe100MW", "ProductionLt100MW", "SolarPower",
                                    "OffshoreWindPower", "OnshoreWindPower"))
    load = production + c["Exchange_Sum"]
    assert 2000.0 < load.min() and load.max() < 7500.0
    borders = sum(c[k] for k in BORDER_CAPACITY_MW)
    assert np.abs(borders - c["Exchange_Sum"]).max() < 0.011
    for name, capacity in {**BORDER_CAPACITY_MW, "Exchange_DK1_DK2": 600.0}.items():
        assert np.abs(c[name]).max() <= capacity, name
    assert 0.0 <= c["OnshoreWindPower"].min() and c["OnshoreWindPower"].max() <= 4800.0
    assert 0.0 <= c["OffshoreWindPower"].min() and c["OffshoreWindPower"].max() <= 2700.0
    assert c["ProductionGe100MW"].min() > 0 and c["ProductionLt100MW"].min() > 0
    assert 10.0 < c["CO2Emission"].min() and c["CO2Emission"].max() < 450.0
    for name in ("aFRR_ActivatedDK1", "aFRR_ActivatedDK2", "mFRR_ActivatedDK1", "mFRR_ActivatedDK2",
                 "ImbalanceDK1", "ImbalanceDK2"):
        assert np.abs(c[name]).max() < 400.0, name
    assert np.isclose(c["CO2Emission"], np.round(c["CO2Emission"], 2)).all()


def test_load_is_higher_by_day_in_winter_and_on_weekdays() -> None:
    def load_at(c: dict[str, np.ndarray]) -> np.ndarray:
        keys = ("ProductionGe100MW", "ProductionLt100MW", "SolarPower", "OffshoreWindPower", "OnshoreWindPower",
                "Exchange_Sum")
        return sum(c[k] for k in keys)

    winter_week = load_at(day_columns(utc(2025, 1, 6), 7 * 1440)).reshape(7, 24, 60).mean(axis=2)  # Monday..Sunday
    summer_week = load_at(day_columns(utc(2025, 7, 7), 7 * 1440)).reshape(7, 24, 60).mean(axis=2)
    assert winter_week.mean() > summer_week.mean() + 300
    assert winter_week[:5, 17].mean() > winter_week[:5, 3].mean() + 500  # evening peak vs night (UTC hours)
    assert winter_week[:5].mean() > winter_week[5:].mean() + 100  # weekend dip


def test_values_change_smoothly_minute_to_minute() -> None:
    c = day_columns(utc(2025, 10, 24), 3 * 1440)  # includes the autumn DST switch
    for name in POWER_SYSTEM_RIGHT_NOW_FIELDS[2:]:
        step = np.abs(np.diff(c[name])).max()
        assert step < 150.0, (name, step)


def test_local_time_column_matches_zoneinfo_including_dst() -> None:
    copenhagen = ZoneInfo("Europe/Copenhagen")
    c = day_columns(utc(2025, 10, 25, 23), 4 * 60)
    dk = list(c["Minutes1DK"])
    assert dk.count("2025-10-26T02:30:00") == 2  # the repeated hour is expected
    rng = np.random.default_rng(7)
    sample = rng.integers(minute_index(utc(2020, 1, 1)), minute_index(utc(2031, 1, 1)), 5000)
    transitions = [minute_index(utc(y, m, 25)) + k
                   for y in range(2020, 2031) for m in (3, 10) for k in range(0, 8 * 1440, 29)]
    minutes = np.concatenate([sample, np.array(transitions, dtype=np.int64)])
    offsets = dk_offset_minutes(minutes)
    for minute, offset in zip(minutes.tolist(), offsets.tolist(), strict=False):
        moment = utc(1970, 1, 1) + timedelta(minutes=minute)
        assert moment.astimezone(copenhagen).utcoffset() == timedelta(minutes=offset), moment


def test_a_whole_year_generates_vectorised() -> None:
    c = day_columns(utc(2025, 1, 1), 525_600)
    assert len(c["Minutes1UTC"]) == 525_600 and c["Minutes1UTC"][-1] == "2025-12-31T23:59:00"


# --------------------------------------------------------------------------- 5-minute per-area datasets


def query5(spec, params: dict[str, str], now: datetime = NOW, **kwargs) -> dict:
    return run_query(spec, parse_query(params, spec, now), now=now, history_start=HISTORY, **kwargs)


def rows_of(body: dict) -> list[tuple[str, str]]:
    return [(r["Minutes5UTC"], r["PriceArea"]) for r in body["records"]]


FIVE_MIN = [CO2_EMIS, ELECTRICITY_PRODEX_5MIN]
HOUR = {"start": "2025-06-21T08:00", "end": "2025-06-21T09:00", "timezone": "UTC"}  # 12 steps


def slot_columns(generate, start: datetime, slots: int) -> dict[str, np.ndarray]:
    first = minute_index(start)
    minutes = np.repeat(np.arange(first, first + 5 * slots, 5, dtype=np.int64), 2)
    return generate(minutes, np.tile(np.array([0, 1]), slots))


def test_five_minute_fields_match_the_recorded_real_sample() -> None:
    real = json.loads(PRODEX_FIXTURE.read_text())["records"]
    generated = electricity_prodex_5min_records(utc(2025, 2, 21, 19, 10), utc(2025, 2, 21, 19, 15))
    assert [list(r) for r in generated] == [list(r) for r in real[:2]] == [list(ELECTRICITY_PRODEX_5MIN_FIELDS)] * 2
    for mine, theirs in zip(generated, real[:2], strict=False):
        assert {k for k, v in mine.items() if v is None} == {k for k, v in theirs.items() if v is None}
        assert all(k in ("Minutes5UTC", "Minutes5DK", "PriceArea") or isinstance(v, float)
                   for k, v in mine.items() if v is not None)
    assert [(r["Minutes5UTC"], r["Minutes5DK"], r["PriceArea"]) for r in generated] == [
        (r["Minutes5UTC"], r["Minutes5DK"], r["PriceArea"]) for r in real[:2]
    ]
    co2 = co2_emis_records(utc(2025, 2, 21, 19, 10), utc(2025, 2, 21, 19, 20))
    assert [list(r) for r in co2] == [list(CO2_EMIS_FIELDS)] * 4
    assert [r["PriceArea"] for r in co2] == ["DK1", "DK2", "DK1", "DK2"]


@pytest.mark.parametrize("spec", FIVE_MIN, ids=lambda s: s.name)
def test_five_minute_total_counts_two_rows_per_step_newest_first(spec) -> None:
    body = query5(spec, {**HOUR, "limit": "0"})
    assert body["total"] == 24 == len(body["records"])
    assert rows_of(body)[:4] == [("2025-06-21T08:55:00", "DK1"), ("2025-06-21T08:55:00", "DK2"),
                                 ("2025-06-21T08:50:00", "DK1"), ("2025-06-21T08:50:00", "DK2")]
    assert rows_of(body)[-1] == ("2025-06-21T08:00:00", "DK2")
    assert [r["Minutes5DK"] for r in body["records"][:2]] == ["2025-06-21T10:55:00"] * 2
    # without start: 100 rows, the newest complete step first (10:15 is not complete at 10:17:42)
    default = query5(spec, {})
    assert list(default) == ["total", "dataset", "records"] and len(default["records"]) == 100
    assert default["total"] == 2 * ((NOW - HISTORY) // timedelta(minutes=5))
    assert rows_of(default)[:2] == [("2025-06-21T10:10:00", "DK1"), ("2025-06-21T10:10:00", "DK2")]
    assert rows_of(default)[-1] == ("2025-06-21T06:05:00", "DK2")


@pytest.mark.parametrize("spec", FIVE_MIN, ids=lambda s: s.name)
def test_five_minute_never_future_rows(spec) -> None:
    assert query5(spec, {"start": "now-PT10M"})["total"] == 2  # only 10:10 (10:07:42 rounds up to 10:10)
    assert rows_of(query5(spec, {"limit": "1"}, now=utc(2025, 6, 21, 10, 15)))[0][0] == "2025-06-21T10:10:00"
    assert rows_of(query5(spec, {"limit": "1"}, lag_seconds=300))[0][0] == "2025-06-21T10:05:00"
    assert query5(spec, {"start": "now", "end": "now+PT1H"})["total"] == 0


@pytest.mark.parametrize("spec", FIVE_MIN, ids=lambda s: s.name)
def test_five_minute_price_area_filter_sort_columns_and_paging(spec) -> None:
    full = query5(spec, {**HOUR, "limit": "0"})["records"]
    dk1 = query5(spec, {**HOUR, "filter": '{"PriceArea":["DK1"]}'})
    assert dk1["total"] == 12 and dk1["records"] == [r for r in full if r["PriceArea"] == "DK1"]
    assert dk1["filters"] == '{"PriceArea":["DK1"]}'
    dk2 = query5(spec, {**HOUR, "filter": '{"PriceArea":"DK2"}'})["records"]
    assert dk2 == [r for r in full if r["PriceArea"] == "DK2"]
    assert query5(spec, {**HOUR, "filter": '{"PriceArea":["DK1","DK2"]}'})["records"] == full
    assert query5(spec, {**HOUR, "filter": '{"PriceArea":["DK3"]}'})["total"] == 0
    asc = query5(spec, {**HOUR, "sort": "Minutes5UTC asc"})
    assert asc["sort"] == "Minutes5UTC ASC"
    assert rows_of(asc)[:3] == [("2025-06-21T08:00:00", "DK1"), ("2025-06-21T08:00:00", "DK2"),
                                ("2025-06-21T08:05:00", "DK1")]
    assert sorted(map(str, asc["records"])) == sorted(map(str, full))
    assert query5(spec, {**HOUR, "sort": "Minutes5UTC desc"})["records"] == full
    for offset, limit in (("3", "5"), ("0", "1"), ("23", "5"), ("1", "0")):
        page = query5(spec, {**HOUR, "offset": offset, "limit": limit})
        stop = None if limit == "0" else int(offset) + int(limit)
        assert page["total"] == 24 and page["records"] == full[int(offset):stop]
    narrow = query5(spec, {**HOUR, "columns": "PriceArea,Minutes5UTC", "limit": "2"})
    assert [list(r) for r in narrow["records"]] == [["PriceArea", "Minutes5UTC"]] * 2
    by_area = query5(spec, {**HOUR, "sort": "PriceArea desc, Minutes5UTC", "limit": "2"})
    assert rows_of(by_area) == [("2025-06-21T08:00:00", "DK2"), ("2025-06-21T08:05:00", "DK2")]
    named = query5(spec, {"filter": json.dumps({"Minutes5UTC": ["2025-06-21T08:00:00", "2025-06-21T08:01:00"]})})
    assert rows_of(named) == [("2025-06-21T08:00:00", "DK1"), ("2025-06-21T08:00:00", "DK2")]
    with pytest.raises(ParamError, match="Invalid column Minutes1UTC"):
        query5(spec, {"columns": "Minutes1UTC"})


def test_five_minute_value_filters_with_a_price_area() -> None:
    params = {"start": "2025-06-20", "end": "2025-06-21", "timezone": "UTC"}
    dark = query5(ELECTRICITY_PRODEX_5MIN, {**params, "filter": '{"PriceArea":["DK2"],"SolarPower":[0]}'})
    assert 0 < dark["total"] < 288
    assert all(r["PriceArea"] == "DK2" and r["SolarPower"] == 0.0 for r in dark["records"])
    times = [r["Minutes5UTC"] for r in dark["records"]]
    assert times == sorted(times, reverse=True)
    windy = query5(ELECTRICITY_PRODEX_5MIN, {**params, "sort": "OnshoreWindPower desc", "limit": "10"})
    values = [r["OnshoreWindPower"] for r in windy["records"]]
    assert values == sorted(values, reverse=True) and windy["total"] == 576
    assert {r["PriceArea"] for r in windy["records"]} == {"DK1"}  # 85 % of onshore wind is in DK1


@pytest.mark.parametrize("spec", FIVE_MIN, ids=lambda s: s.name)
def test_five_minute_missing_steps_drop_both_areas_deterministically(spec) -> None:
    params = {"start": "2025-06-20", "end": "2025-06-21", "timezone": "UTC", "limit": "0"}
    full = {(r["Minutes5UTC"], r["PriceArea"]): r for r in query5(spec, params)["records"]}
    holes = query5(spec, params, missing_rate=0.3)
    assert holes == query5(spec, params, missing_rate=0.3)
    assert holes["total"] % 2 == 0 and 0.5 * 576 < holes["total"] < 0.9 * 576
    assert all(full[(r["Minutes5UTC"], r["PriceArea"])] == r for r in holes["records"])
    assert query5(spec, {**params, "offset": "7", "limit": "9"}, missing_rate=0.3)["records"] == holes["records"][7:16]


@pytest.mark.parametrize("spec", FIVE_MIN, ids=lambda s: s.name)
def test_five_minute_rows_are_deterministic(spec) -> None:
    first = query5(spec, {**HOUR, "limit": "0"})
    assert query5(spec, {**HOUR, "limit": "0"}) == first
    columns = slot_columns(spec.generate, utc(2025, 6, 21, 8), 12)
    again = {k: v[::-1] for k, v in slot_columns(spec.generate, utc(2025, 6, 21, 8), 12).items()}
    assert all(np.array_equal(columns[k], again[k][::-1], equal_nan=columns[k].dtype.kind == "f") for k in columns)
    later = query5(spec, {**HOUR, "limit": "0"}, now=utc(2026, 1, 1))  # a later clock does not change the past
    assert later["records"] == first["records"]


@pytest.mark.parametrize("day", [utc(2025, 1, 15), utc(2025, 6, 21), utc(2025, 10, 25, 12)])
def test_five_minute_values_are_consistent_with_power_system_right_now(day: datetime) -> None:
    psrn = day_columns(day)
    mean = {k: v.reshape(-1, 5).mean(axis=1) for k, v in psrn.items() if not k.startswith("Minutes")}
    prodex = slot_columns(electricity_prodex_5min_columns, day, 288)
    co2 = slot_columns(co2_emis_columns, day, 288)
    dk1, dk2 = ({k: v[i::2] for k, v in prodex.items()} for i in (0, 1))
    assert (dk1["Minutes5UTC"] == psrn["Minutes1UTC"][::5]).all() and (dk1["PriceArea"] == "DK1").all()
    for name, share in DK1_SHARE.items():  # the areas add up to the national value
        assert np.abs(dk1[name] + dk2[name] - mean[name]).max() <= 0.011, name
        assert np.abs(dk1[name] - share * mean[name]).max() <= 0.006, name
    for area, rows in (("DK1", dk1), ("DK2", dk2)):  # links are the per-border minute columns
        for column, source in AREA_EXCHANGES[area].items():
            if source is None:
                assert np.isnan(rows[column]).all(), (area, column)
            else:
                assert np.abs(rows[column] - source[1] * mean[source[0]]).max() <= 0.006, (area, column)
    assert (dk1["ExchangeGreatBelt"] == -dk2["ExchangeGreatBelt"]).all()
    # CO2: the production-weighted mean of the areas is the national intensity
    production = {i: sum(rows[k] for k in DK1_SHARE) for i, rows in enumerate((dk1, dk2))}
    weighted = (co2["CO2Emission"][0::2] * production[0] + co2["CO2Emission"][1::2] * production[1]) / (
        production[0] + production[1]
    )
    assert np.abs(weighted - mean["CO2Emission"]).max() < 1.0


def test_five_minute_co2_follows_each_areas_thermal_share() -> None:
    prodex = slot_columns(electricity_prodex_5min_columns, utc(2025, 6, 18), 7 * 288)
    co2 = slot_columns(co2_emis_columns, utc(2025, 6, 18), 7 * 288)["CO2Emission"]
    production = sum(prodex[k] for k in DK1_SHARE)
    thermal = (prodex["ProductionGe100MW"] + prodex["ProductionLt100MW"]) / production
    assert np.corrcoef(thermal, co2)[0, 1] > 0.95
    assert 5.0 <= co2.min() and co2.max() <= 450.0
    assert np.isclose(co2, np.round(co2, 2)).all()
    assert np.abs(np.diff(co2[0::2])).max() < 40.0  # smooth from one step to the next


def test_bad_rows_are_deterministic_and_rotate_through_the_kinds() -> None:
    minutes = np.repeat(np.arange(minute_index(utc(2025, 6, 21)), minute_index(utc(2025, 6, 22)), 5), 2)
    areas = np.tile(np.array([0, 1]), minutes.size // 2)
    none = bad_rows(CO2_EMIS, minutes, areas, 0.0)
    assert (none == -1).all()
    all_bad = bad_rows(CO2_EMIS, minutes, areas, 1.0)
    assert set(all_bad) == {0, 1, 2} and ((all_bad[1:] - all_bad[:-1]) % 3 == 1).all()  # row after row
    some = bad_rows(CO2_EMIS, minutes, areas, 0.2)
    assert np.array_equal(some, bad_rows(CO2_EMIS, minutes, areas, 0.2))
    assert 0.1 < (some >= 0).mean() < 0.3
    more = bad_rows(CO2_EMIS, minutes, areas, 0.5)
    assert ((some >= 0) <= (more >= 0)).all() and (some[some >= 0] == all_bad[some >= 0]).all()
    assert len(BAD_VALUE_KINDS) == 3


@pytest.mark.parametrize("spec", [CO2_EMIS, ELECTRICITY_PRODEX_5MIN, POWER_SYSTEM_RIGHT_NOW], ids=lambda s: s.name)
def test_bad_record_rate_spoils_one_value_per_bad_row(spec) -> None:
    params = {"start": "2025-06-21T08:00", "end": "2025-06-21T09:00", "timezone": "UTC", "limit": "0"}
    clean = query5(spec, params)["records"]
    spoiled = query5(spec, params, bad_record_rate=1.0)
    assert spoiled == query5(spec, params, bad_record_rate=1.0)
    seen = set()
    for good, bad in zip(clean, spoiled["records"], strict=True):
        changed = [k for k in good if good[k] != bad[k]]
        assert len(changed) == 1, changed
        column = changed[0]
        assert column in spec.corruptible
        if bad[column] == "n/a":
            seen.add("not_a_number")
        elif bad[column] == 1e9:
            seen.add("huge")
        else:
            assert bad[column] < 0 <= good[column]
            seen.add("negative")
    assert seen == set(BAD_VALUE_KINDS)
    assert query5(spec, params, bad_record_rate=0.0)["records"] == clean
    partly = query5(spec, params, bad_record_rate=0.3)["records"]
    assert 0 < sum(p != c for p, c in zip(partly, clean, strict=False)) < len(clean)


def test_five_minute_local_time_filter_across_dst() -> None:
    later = utc(2026, 1, 1)
    repeated = query5(CO2_EMIS, {"filter": json.dumps({"Minutes5DK": "2025-10-26T02:30:00"})}, now=later)
    assert rows_of(repeated) == [("2025-10-26T01:30:00", "DK1"), ("2025-10-26T01:30:00", "DK2"),
                                 ("2025-10-26T00:30:00", "DK1"), ("2025-10-26T00:30:00", "DK2")]
    autumn = query5(CO2_EMIS, {"start": "2025-10-26", "end": "2025-10-27", "limit": "1"}, now=later)
    assert autumn["total"] == 2 * 25 * 12  # the Danish day has 25 hours of 12 steps, two areas each
    assert query5(CO2_EMIS, {"filter": json.dumps({"Minutes5UTC": "2025-06-21T08:03:00"})})["total"] == 0
