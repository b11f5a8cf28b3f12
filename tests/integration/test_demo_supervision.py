"""`energy demo` keeps going when a part dies: the real embedded broker is killed (twice) and
the demo restarts it with a growing back-off, leaving the other parts running."""

import os
import signal
import sys
import threading
import time

import pytest

from energy_orchestration.demo import DemoStack
from energy_orchestration.streaming.broker import broker_command, free_port, port_open

pytestmark = pytest.mark.integration


def test_the_demo_restarts_a_dead_broker_with_back_off_and_keeps_the_rest(tmp_path, monkeypatch, capsys):
    port = free_port()
    monkeypatch.setenv("ENERGY_BROKER_PORT", str(port))
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    stack = DemoStack(state_dir=tmp_path)
    stack.configure()
    assert stack.env["ENERGY_KAFKA_EMBEDDED"] == "1"
    url = f"tcp://127.0.0.1:{port}"
    broker = stack._spawn("broker", broker_command(url), stop_signal=signal.SIGINT)
    stack._wait_ready(broker, lambda: port_open(port), 30)
    other = stack._spawn("consumer", [sys.executable, "-c", "import time; time.sleep(600)"])
    done = threading.Event()
    watcher = threading.Thread(target=stack.watch, kwargs={"backoff_start": 0.5, "until": done}, daemon=True)
    watcher.start()
    try:
        pids = [broker.process.pid]
        for _ in range(2):
            os.killpg(pids[-1], signal.SIGKILL)
            deadline = time.monotonic() + 30
            while True:
                current = next(c for c in stack.children if c.name == "broker").process
                if current.pid != pids[-1] and current.poll() is None and port_open(port):
                    pids.append(current.pid)
                    break
                assert time.monotonic() < deadline, "the broker was not restarted"
                time.sleep(0.1)
        assert other.process.poll() is None and other in stack.children  # untouched
        said = capsys.readouterr().out
        assert "broker exited with code -9; restarting it in 0.5s" in said
        assert "broker exited with code -9; restarting it in 1s" in said  # back-off doubled
    finally:
        done.set()
        watcher.join(5)
        stack.stop(grace_seconds=5)
