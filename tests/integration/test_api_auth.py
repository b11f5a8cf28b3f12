"""Bearer-token authentication on real sockets: on by default off loopback, off on loopback,
tokens never in the log."""

import logging
import os
import subprocess
import sys

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from energy_orchestration.serving.config import ServerConfig
from energy_orchestration.serving.server import ApiServer
from energy_orchestration.streaming.broker import free_port

pytestmark = pytest.mark.integration

TOKEN = "s3cret-token-for-tests"


@pytest.fixture
def exposed(monkeypatch, warehouse):
    """Bound to 0.0.0.0 with the settings a user would set: authentication turns itself on."""
    monkeypatch.setenv("ENERGY_API_TOKENS", f"other-token, {TOKEN}")
    monkeypatch.delenv("ENERGY_API_AUTH", raising=False)
    config = ServerConfig.from_settings(host="0.0.0.0", port=free_port())
    with ApiServer(config, warehouse, None):
        yield f"http://127.0.0.1:{config.port}", f"ws://127.0.0.1:{config.port}"


def test_bound_to_all_interfaces_a_request_without_a_valid_token_is_rejected(exposed):
    url, _ = exposed
    refused = requests.get(f"{url}/api/v1/zones/DK-DK1/latest", timeout=10)
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    wrong = requests.get(f"{url}/api/v1/zones", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    ok = requests.get(f"{url}/api/v1/zones", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert ok.status_code == 200 and ok.json()[0]["zone"] == "DK"
    assert requests.get(f"{url}/health", timeout=10).status_code == 200  # no data there: readiness checks need no token


def test_websocket_needs_the_token_too(exposed, caplog):
    _, ws = exposed
    with pytest.raises(InvalidStatus) as refused:
        connect(f"{ws}/api/v1/live").close()
    assert refused.value.response.status_code == 403
    caplog.set_level(logging.INFO)
    with connect(f"{ws}/api/v1/live?token={TOKEN}") as socket:
        assert '"snapshot"' in socket.recv(timeout=10)
    with connect(f"{ws}/api/v1/live", additional_headers={"Authorization": f"Bearer {TOKEN}"}) as socket:
        assert '"snapshot"' in socket.recv(timeout=10)
    assert "live?token=***" in caplog.text and TOKEN not in caplog.text  # uvicorn logs the path, redacted


def test_on_loopback_no_token_is_needed_by_default(monkeypatch, warehouse):
    monkeypatch.delenv("ENERGY_API_AUTH", raising=False)
    monkeypatch.delenv("ENERGY_API_TOKENS", raising=False)
    config = ServerConfig.from_settings(host="127.0.0.1", port=free_port())
    with ApiServer(config, warehouse, None) as server:
        assert requests.get(f"{server.url}/api/v1/zones/DK-DK1/latest", timeout=10).status_code == 200


def test_serve_refuses_to_expose_the_api_without_tokens(tmp_path):
    env = {**os.environ, "ENERGY_STATE_DIR": str(tmp_path), "ENERGY_API_TOKENS": "", "ENERGY_API_AUTH": "auto"}
    result = subprocess.run([sys.executable, "-m", "energy_orchestration.cli", "serve", "--host", "0.0.0.0",
                             "--port", str(free_port())], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "ENERGY_API_TOKENS is empty" in result.stderr


def test_tokens_never_reach_the_log_of_a_verbose_server(tmp_path):
    """`energy -v serve` logs at DEBUG (the WebSocket library prints handshake headers there);
    a token must not appear in any form: Authorization header, ``?token=``, or a percent-encoded
    parameter name (``?%74oken=``, which the API decodes and accepts like ``token``)."""
    import time

    port = free_port()
    env = {**os.environ, "ENERGY_STATE_DIR": str(tmp_path), "ENERGY_API_TOKENS": TOKEN, "ENERGY_API_AUTH": "on"}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "energy_orchestration.cli", "-v", "serve", "--host",
                                   "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url, ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/health", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, log_path.read_text()
                time.sleep(0.2)
        with connect(f"{ws}/api/v1/live", additional_headers={"Authorization": f"Bearer {TOKEN}"}) as socket:
            assert '"snapshot"' in socket.recv(timeout=10)
        with connect(f"{ws}/api/v1/live?%74oken={TOKEN}") as socket:
            assert '"snapshot"' in socket.recv(timeout=10)
        with connect(f"{ws}/api/v1/live?zone=DK&token={TOKEN}") as socket:
            assert '"snapshot"' in socket.recv(timeout=10)
        assert requests.get(f"{url}/api/v1/zones", headers={"Authorization": f"Bearer {TOKEN}"},
                            timeout=10).status_code == 200
        time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(30)
    text = log_path.read_text()
    assert "DEBUG" in text and "/api/v1/live" in text  # the verbose log really was written
    assert TOKEN not in text
