"""A provider page that is not what the contract says is kept in quarantine with its body."""

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
