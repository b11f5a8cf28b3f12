"""CSV and Parquet answers, content negotiation and keyset cursors of `energy serve` on a real
socket, over a real DuckDB file holding generated observations and the aggregates built from
them by the aggregates' own builders."""

import csv
import io
from datetime import datetime, timedelta

import duckdb
import pytest
import requests

from energy_orchestration.serving.config import ServerConfig
from energy_orchestration.serving.server import ApiServer
from energy_orchestration.streaming.broker import free_port
from energy_orchestration.warehouse import Warehouse
from tests.integration.serving_support import build_aggregates, generated_observations

pytestmark = pytest.mark.integration

FIRST = datetime(2025, 3, 28)  # a week across the spring DST change (Europe/Copenhagen, 2025-03-30)
DAYS = 7
PARQUET = "application/vnd.apache.parquet"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    warehouse = Warehouse(tmp_path_factory.mktemp("exports") / "warehouse.duckdb", lock_timeout_seconds=30)
    generated_observations(warehouse, "DK-DK1", FIRST, DAYS)
    build_aggregates(warehouse)
    with ApiServer(ServerConfig(port=free_port()), warehouse, None) as server:
        yield server.url, warehouse


def get(api, path: str, headers: dict | None = None, **params) -> requests.Response:
    url, _ = api
    return requests.get(f"{url}/api/v1{path}", params=params, headers=headers or {}, timeout=30)


def csv_rows(answer: requests.Response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(answer.text)))


def parquet_rows(answer: requests.Response, tmp_path) -> list[dict]:
    """Parquet read back by DuckDB, values as the JSON has them (UTC instants as ISO Z text)."""
    path = tmp_path / "answer.parquet"
    path.write_bytes(answer.content)
    with duckdb.connect() as db:
        db.execute("SET TimeZone = 'UTC'")
        cursor = db.execute("SELECT * FROM read_parquet(?)", [str(path)])
        names = [d[0] for d in cursor.description]
        return [{n: as_json(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


def as_json(value):
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def same_as_csv(json_rows: list[dict], rows: list[dict]) -> bool:
    """CSV cells are text: compare each JSON value as CSV writes it (null = empty, numbers parsed)."""
    def cell(value, text):
        if value is None:
            return text == ""
        if isinstance(value, bool):
            return text == str(value).lower()
        if isinstance(value, (int, float)):
            return float(text) == value
        return text == value
    return len(json_rows) == len(rows) and all(
        list(j) == list(r) and all(cell(j[k], r[k]) for k in j) for j, r in zip(json_rows, rows, strict=True))


OBSERVATIONS = ("/zones/DK-DK1/observations", {"from": "2025-03-29T00:00:00Z", "to": "2025-03-31T00:00:00Z"})


@pytest.mark.parametrize("path, params", [
    OBSERVATIONS,
    ("/zones/DK-DK1/days/2025-03-30", {}),
    ("/zones/DK-DK1/aggregates/hourly", {}),
    ("/zones/DK-DK1/aggregates/daily", {"from": "2025-03-29", "to": "2025-04-02"}),
    ("/zones/DK-DK1/aggregates/weekly", {}),
], ids=["observations", "day", "hourly", "daily", "weekly"])
def test_csv_and_parquet_hold_the_json_rows(api, tmp_path, path, params):
    json_rows = get(api, path, **params, limit=10_000).json()["items"]
    assert len(json_rows) > 0
    as_csv = get(api, path, **params, format="csv")
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_csv.headers["x-row-count"] == str(len(json_rows)) and as_csv.headers["x-truncated"] == "false"
    assert "link" not in as_csv.headers
    assert same_as_csv(json_rows, csv_rows(as_csv))
    as_parquet = get(api, path, **params, format="parquet")
    assert as_parquet.headers["content-type"] == PARQUET
    assert as_parquet.headers["content-disposition"].startswith('attachment; filename="DK-DK1_')
    assert as_parquet.headers["content-disposition"].endswith('.parquet"')
    assert parquet_rows(as_parquet, tmp_path) == json_rows


def test_the_day_in_csv_is_the_local_day_with_utc_times_and_named_for_it(api):
    answer = get(api, "/zones/DK-DK1/days/2025-03-30", format="csv")
    rows = csv_rows(answer)
    # Copenhagen springs forward that day: 23 hours of 5-minute intervals, three quantities
    assert len(rows) == 23 * 12 * 3
    assert rows[0]["interval_start_utc"] == "2025-03-29T23:00:00Z" and rows[-1]["interval_start_utc"].endswith("Z")
    assert answer.headers["content-disposition"] == 'attachment; filename="DK-DK1_2025-03-30.csv"'
    assert list(rows[0]) == ["dataset", "zone", "quantity", "interval_start_utc", "interval_minutes", "value",
                             "unit", "status", "fetched_at_utc", "landed_at_utc"]


@pytest.mark.parametrize("accept, expected", [
    ("text/csv", "text/csv; charset=utf-8"),
    (PARQUET, PARQUET),
    ("application/x-parquet", PARQUET),
    ("application/json", "application/json"),
    ("*/*", "application/json"),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/json"),  # a browser
    ("application/json;q=0.5, text/csv", "text/csv; charset=utf-8"),
    ("text/csv;q=0, application/*", "application/json"),
])
def test_accept_header_picks_the_format(api, accept, expected):
    answer = get(api, "/zones/DK-DK1/aggregates/daily", headers={"Accept": accept})
    assert answer.status_code == 200 and answer.headers["content-type"] == expected


def test_format_parameter_wins_over_accept(api):
    answer = get(api, "/zones/DK-DK1/aggregates/daily", headers={"Accept": "text/csv"}, format="json")
    assert answer.headers["content-type"] == "application/json" and answer.json()["items"]
    answer = get(api, "/zones/DK-DK1/aggregates/daily", headers={"Accept": "text/html"}, format="parquet")
    assert answer.status_code == 200 and answer.headers["content-type"] == PARQUET


@pytest.mark.parametrize("path", ["/zones/DK-DK1/aggregates/daily", "/zones/DK-DK1/days/2025-03-30",
                                  "/zones/DK-DK1/observations?from=2025-03-29&to=2025-03-30"])
def test_an_unsatisfiable_accept_is_406_naming_what_is_served(api, path):
    answer = get(api, path, headers={"Accept": "text/html, application/xml;q=0.9"})
    assert answer.status_code == 406 and answer.headers["content-type"] == "application/problem+json"
    detail = answer.json()["detail"]
    assert "text/csv" in detail and "application/vnd.apache.parquet" in detail and "format=json|csv|parquet" in detail


@pytest.mark.parametrize("path", ["/zones/DK-DK1/aggregates/daily", "/zones/DK-DK1/days/2025-03-30",
                                  "/zones/DK-DK1/observations?from=2025-03-29&to=2025-03-30"])
def test_an_unknown_format_is_406_listing_the_formats(api, path):
    answer = get(api, path, format="xlsx")
    assert answer.status_code == 406 and answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"].startswith("format 'xlsx' is not one this endpoint answers: "
                                              "?format=json|csv|parquet")


@pytest.mark.parametrize("grain, key", [("hourly", "hour_start_utc"), ("daily", "local_date")])
def test_aggregate_cursors_walk_every_row_once_and_say_when_a_page_is_cut(api, grain, key):
    everything = [row[key] for row in get(api, f"/zones/DK-DK1/aggregates/{grain}", limit=10_000).json()["items"]]
    assert len(everything) > 3
    seen, cursor, pages = [], None, 0
    while True:
        answer = get(api, f"/zones/DK-DK1/aggregates/{grain}", limit=3, **({"cursor": cursor} if cursor else {}))
        body = answer.json()
        seen += [row[key] for row in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        assert body["truncated"] is (cursor is not None)
        if cursor is None:
            break
    assert seen == everything and len(set(seen)) == len(seen)
    assert pages == -(-len(everything) // 3)
    # exactly a page's worth left: the last full page is not "cut"
    assert get(api, f"/zones/DK-DK1/aggregates/{grain}", limit=len(everything)).json()["truncated"] is False


def test_csv_pages_follow_link_headers_through_every_row(api):
    everything = csv_rows(get(api, "/zones/DK-DK1/aggregates/hourly", format="csv"))
    url, _ = api
    link = f"{url}/api/v1/zones/DK-DK1/aggregates/hourly?format=csv&limit=50"
    seen, pages = [], 0
    while link:
        answer = requests.get(link, timeout=30)
        rows = csv_rows(answer)
        seen += rows
        pages += 1
        assert answer.headers["x-row-count"] == str(len(rows))
        cut = answer.headers["x-truncated"] == "true"
        assert cut is ("link" in answer.headers)
        link = answer.headers["link"].split(">")[0].lstrip("<") if cut else None
    assert seen == everything and pages == -(-len(everything) // 50)


def test_observation_exports_page_with_the_json_cursor(api, tmp_path):
    path, params = OBSERVATIONS
    first = get(api, path, **params, limit=100)
    first_csv = get(api, path, **params, limit=100, format="parquet")
    assert first.json()["truncated"] is True and first_csv.headers["x-truncated"] == "true"
    assert f"cursor={first.json()['next_cursor']}" in first_csv.headers["link"]
    assert parquet_rows(first_csv, tmp_path) == first.json()["items"]


def test_a_bad_cursor_is_400_for_exports_and_aggregates(api):
    for fmt in ("json", "csv"):
        answer = get(api, "/zones/DK-DK1/aggregates/hourly", cursor="!!", format=fmt)
        assert answer.status_code == 400 and "cursor" in answer.json()["detail"]
    answer = get(api, OBSERVATIONS[0], **OBSERVATIONS[1], cursor="WyJ4Il0", format="csv")
    assert answer.status_code == 400


def test_an_empty_export_is_the_header_only(api):
    answer = get(api, "/zones/FR-84/aggregates/daily", format="csv")
    assert answer.status_code == 200 and answer.headers["x-row-count"] == "0"
    assert answer.text.splitlines()[0].startswith("zone,local_date,") and len(answer.text.splitlines()) == 1


def test_the_warehouse_lock_is_free_while_an_export_is_still_being_read(warehouse):
    """The export is written under the read lock, then streamed from its file: the landing
    consumer (a writer, which waits for readers) is never held up by a slow download."""
    from energy_orchestration.serving import exports, queries

    generated_observations(warehouse, "DK-DK1", FIRST, 1)
    selection = queries.observation_selection("DK-DK1", FIRST, FIRST + timedelta(days=1))
    handle, written = exports.spool(warehouse, selection, "csv")
    try:
        assert written.rows == 24 * 12 * 3 and handle.read(100).startswith(b"dataset,zone,quantity,")
        impatient = Warehouse(warehouse.path, lock_timeout_seconds=1)
        with impatient.transaction() as db:  # WarehouseBusy after 1 s if the export still held the lock
            db.execute("DELETE FROM observations WHERE zone = 'DK-DK1'")
        rest = handle.read()
    finally:
        handle.close()
    assert len(rest) + 100 == written.bytes  # the file, already unlinked, still reads to its end
