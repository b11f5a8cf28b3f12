"""The demo's Dagster launcher slows two of Dagster's idle loops, and fails loudly when it cannot."""

import importlib
import subprocess
import sys
import time

import pytest
from dagster._grpc.client import DagsterGrpcClient
from dagster._grpc.server_watcher import create_grpc_watch_thread

from energy_orchestration.dagster_loops import SLOWED_LOOPS, main, slow_dagster_loops


@pytest.fixture
def restored_constants(monkeypatch):
    """The constants go back to Dagster's values after the test (other tests run watch threads)."""
    for module_name, constant in SLOWED_LOOPS:
        module = importlib.import_module(module_name)
        monkeypatch.setattr(module, constant, getattr(module, constant))
    return monkeypatch


class CountingClient(DagsterGrpcClient):
    """Answers the watch thread's server-id question without a server, counting the questions."""

    def __init__(self) -> None:
        super().__init__(port=1, host="127.0.0.1")
        self.asked = 0

    def get_server_id(self, timeout: int = 0) -> str:
        self.asked += 1
        return "the-same-server"


def test_the_watch_thread_asks_the_code_server_at_the_slowed_interval(restored_constants):
    slow_dagster_loops()
    client = CountingClient()
    stop, thread = create_grpc_watch_thread(
        "energy_orchestration", client, get_location_entry=lambda name: None,
        refresh_code_location=lambda name: None, on_disconnect=lambda name: None,
        on_reconnected=lambda name: None, on_updated=lambda name, server_id: None, on_error=lambda name: None)
    thread.start()
    time.sleep(3.5)  # Dagster's own interval (1 s) would have asked 4 times by now
    stop.set()
    thread.join(5)
    assert not thread.is_alive()
    assert client.asked == 1


def test_every_constant_is_set(restored_constants):
    slow_dagster_loops()
    for (module_name, constant), (_, seconds) in SLOWED_LOOPS.items():
        assert getattr(importlib.import_module(module_name), constant) == seconds


@pytest.mark.parametrize("change", ["renamed", "no longer read"])
def test_a_dagster_that_changed_the_constant_stops_the_start_with_its_name(restored_constants, change):
    from dagster._grpc import server_watcher

    if change == "renamed":
        restored_constants.delattr(server_watcher, "WATCH_INTERVAL")
    else:
        restored_constants.setattr(server_watcher, "watch_grpc_server_thread", lambda *args, **kwargs: None)
    with pytest.raises(RuntimeError, match=r"dagster\._grpc\.server_watcher\.WATCH_INTERVAL .*dagster_loops\.py"):
        slow_dagster_loops()


def test_an_unknown_program_is_refused_with_the_usage():
    with pytest.raises(SystemExit, match="webserver,daemon"):
        main(["dev"])


@pytest.mark.parametrize(("program", "usage"), [("webserver", "dagster_webserver"), ("daemon", "dagster._daemon")])
def test_the_launcher_hands_over_to_dagsters_own_command(program, usage):
    done = subprocess.run([sys.executable, "-m", "energy_orchestration.dagster_loops", program, "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"Usage: python -m {usage} " in done.stdout  # its own command, our arguments

