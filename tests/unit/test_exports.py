"""Content negotiation and the per-type projection of the CSV/Parquet exports."""

import pytest

from energy_orchestration.serving.exports import filename, negotiate, projection


@pytest.mark.parametrize("accept, expected", [
    (None, "json"), ("", "json"), ("*/*", "json"), ("application/*", "json"), ("application/json", "json"),
    ("text/csv", "csv"), ("TEXT/CSV; charset=utf-8", "csv"),
    ("application/vnd.apache.parquet", "parquet"), ("application/x-parquet", "parquet"),
    ("text/csv;q=0.5, application/x-parquet", "parquet"),       # the highest q wins
    ("text/csv, application/vnd.apache.parquet", "csv"),        # a tie: the first listed
    ("text/csv;q=0, */*;q=0.1", "json"),                        # q=0 refuses
    ("text/csv;q=bogus, application/json;q=0.2", "json"),       # an unreadable q counts as 0
    ("text/html", None), ("text/html, application/xml;q=0.9", None), ("text/csv;q=0", None),
])
def test_accept_header_negotiation(accept, expected):
    assert negotiate(accept) == expected


def test_projection_formats_times_and_hides_non_finite_numbers():
    description = [("zone", "VARCHAR"), ("hour_start_utc", "TIMESTAMP"), ("mean", "DOUBLE"), ('odd "name"', "DATE")]
    csv = projection(description, "csv")
    assert "strftime(\"hour_start_utc\", '%Y-%m-%dT%H:%M:%SZ') AS \"hour_start_utc\"" in csv
    assert 'CASE WHEN isfinite("mean") THEN "mean" END AS "mean"' in csv
    assert '"odd ""name""" AS "odd ""name"""' in csv
    assert '"hour_start_utc"::TIMESTAMPTZ AS "hour_start_utc"' in projection(description, "parquet")


def test_file_names_say_zone_what_and_range():
    assert filename("FR-84", "daily", "2025-01-01", "end", fmt="csv") == "FR-84_daily_2025-01-01_end.csv"
    assert filename("DK", "observations", "2025-01-01T00:00:00Z", fmt="parquet") == \
        "DK_observations_2025-01-01T00-00-00Z.parquet"
