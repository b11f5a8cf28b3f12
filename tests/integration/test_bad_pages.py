"""A provider page that is not what the contract says is kept in quarantine with its body."""

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from energy_orchestration.ingest import Window, fetch_and_publish
from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
from energy_orchestration.sources.http import SourceError

pytestmark = pytest.mark.integration

BODY = b"<html><body>Gateway maintenance</body></html>"


class MaintenancePage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args) -> None:
        pass


def test_a_malformed_page_fails_the_fetch_and_is_quarantined_with_its_body(bootstrap, warehouse):
    server = ThreadingHTTPServer(("127.0.0.1", 0), MaintenancePage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        end = datetime.now(timezone.utc).replace(second=0, microsecond=0)
        window = Window("PowerSystemRightNow", end - timedelta(minutes=5), end)
        client = EnergiDataServiceClient(f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(SourceError, match="malformed page"):
            fetch_and_publish(client, bootstrap, window, warehouse)
    finally:
        server.shutdown()
    with warehouse.connect(read_only=True) as db:
        rows = db.execute("SELECT stage, rule, dataset, reason, payload FROM quarantine").fetchall()
    assert len(rows) == 1
    stage, rule, dataset, reason, payload = rows[0]
    assert (stage, rule, dataset) == ("fetch", "bad_page", "PowerSystemRightNow")
    assert "not JSON" in reason and payload == BODY.decode()


class WrongShape(BaseHTTPRequestHandler):
    """Valid JSON, wrong shape: 'records' is an object, not a list."""

    body = b'{"total": 1, "records": {"Minutes1UTC": "2026-04-08T21:30:00"}}'

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


class Truncating(BaseHTTPRequestHandler):
    """A chunked body cut off mid-stream (the connection drops) for the first ``failures`` requests."""

    protocol_version = "HTTP/1.1"
    failures = 0
    requests_seen = 0
    good = b'{"total": 0, "records": []}'

    def do_GET(self) -> None:  # noqa: N802
        cls = type(self)
        cls.requests_seen += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if cls.requests_seen <= cls.failures:
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"400\r\n" + b'{"records": [' + b" " * 100)  # promises 1024 bytes, sends 113
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(self.good)))
        self.end_headers()
        self.wfile.write(self.good)

    def log_message(self, *args) -> None:
        pass


def _serve(handler):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _window() -> Window:
    end = datetime(2026, 4, 8, 22, 0, tzinfo=timezone.utc)
    return Window("PowerSystemRightNow", end - timedelta(minutes=5), end)


def test_a_wrong_shape_page_is_quarantined_like_a_malformed_one(bootstrap, warehouse):
    server = _serve(WrongShape)
    try:
        client = EnergiDataServiceClient(f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(SourceError, match="expected an object with a 'records' list"):
            fetch_and_publish(client, bootstrap, _window(), warehouse)
    finally:
        server.shutdown()
    with warehouse.connect(read_only=True) as db:
        rows = db.execute("SELECT stage, rule, dataset, payload FROM quarantine").fetchall()
    assert len(rows) == 1
    stage, rule, dataset, payload = rows[0]
    assert (stage, rule, dataset) == ("fetch", "bad_page", "PowerSystemRightNow")
    assert json.loads(payload) == json.loads(WrongShape.body)


def _no_sleep(seconds: float) -> None:
    pass


@pytest.mark.parametrize("failures", [2, 10])
def test_a_truncated_body_is_retried_then_reported_clearly(failures):
    from energy_orchestration.sources.http import PoliteSession, SourceUnavailable

    Truncating.failures, Truncating.requests_seen = failures, 0
    server = _serve(Truncating)
    try:
        client = EnergiDataServiceClient(f"http://127.0.0.1:{server.server_address[1]}",
                                         http=PoliteSession(sleep=_no_sleep))
        window = _window()
        if failures < client.http.retry.max_attempts:
            with pytest.raises(SourceError, match="no rows yet"):  # the retry got the (empty) page
                client.fetch_window(window.dataset, window.start, window.end)
        else:
            with pytest.raises(SourceUnavailable, match="truncated response body"):
                client.fetch_window(window.dataset, window.start, window.end)
    finally:
        server.shutdown()
    assert Truncating.requests_seen == min(failures + 1, 4)
