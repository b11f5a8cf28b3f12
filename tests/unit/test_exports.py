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


def test_progress_reports_the_growing_file_and_the_output_appears_whole(tmp_path):
    import io
    import time

    from energy_orchestration.serving.exports import Written, to_output

    sizes: list[int] = []

    def produce(path):
        with path.open("wb") as out:
            for step in range(1, 3):
                out.write(b"x" * 1000)
                out.flush()
                deadline = time.monotonic() + 30
                while (not sizes or sizes[-1] < 1000 * step) and time.monotonic() < deadline:
                    time.sleep(0.05)  # until the watcher has seen this much
        return Written(2, 2000, None)

    target = tmp_path / "out.csv"
    written = to_output(produce, str(target), "csv", io.BytesIO(), sizes.append)
    assert written.rows == 2 and target.read_bytes() == b"x" * 2000
    assert 1000 in sizes and 2000 in sizes and sizes == sorted(sizes)
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]  # no partial file left


def test_a_failed_export_leaves_no_file(tmp_path):
    import io

    from energy_orchestration.serving.exports import to_output

    def produce(path):
        path.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        to_output(produce, str(tmp_path / "out.csv"), "csv", io.BytesIO())
    assert list(tmp_path.iterdir()) == []
