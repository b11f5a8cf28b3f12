"""The platform clock (ENERGY_CLOCK_NOW) and start-up validation of every setting."""

from datetime import datetime, timedelta, timezone

import pytest

from energy_orchestration import cli, settings
from energy_orchestration.model import utc_now


def test_the_clock_is_the_system_clock_unless_pinned(monkeypatch):
    monkeypatch.delenv("ENERGY_CLOCK_NOW", raising=False)
    assert abs(utc_now() - datetime.now(timezone.utc)) < timedelta(seconds=5)
    monkeypatch.setenv("ENERGY_CLOCK_NOW", "2025-03-30T03:30:00+02:00")
    assert utc_now() == datetime(2025, 3, 30, 1, 30, tzinfo=timezone.utc)
    assert utc_now().tzinfo is timezone.utc


@pytest.mark.parametrize("value", ["2025-03-30T01:30:00", "yesterday", "2025-13-01T00:00:00Z"])
def test_a_pinned_clock_must_name_a_real_instant(monkeypatch, value):
    monkeypatch.setenv("ENERGY_CLOCK_NOW", value)
    with pytest.raises(ValueError, match="ENERGY_CLOCK_NOW"):
        utc_now()
    assert any(line.startswith("ENERGY_CLOCK_NOW=") for line in settings.problems())


@pytest.mark.parametrize("name, value, allowed", [
    ("ENERGY_API_PORT", "eighty", "an integer from 1 to 65535"),
    ("ENERGY_CONSUMER_BATCH_MAX_SECONDS", "0", "a number > 0"),
    ("ENERGY_STANDIN_BAD_RECORD_RATE", "1.5", "a number from 0 to 1"),
    ("ENERGY_API_AUTH", "maybe", "one of `auto`, `on`, `off`"),
    ("ENERGY_PARTITIONS_START", "2025-02-30", "a date YYYY-MM-DD"),
    ("ENERGY_API_WS_TOPIC_ALLOW", "(", "a valid regular expression"),
    ("ENERGY_TOPIC_PARTITIONS", "-1", "an integer >= 1"),
    ("ENERGY_LIVE_DATASETS", "PowerSystemRightNow,Nope", "comma-separated dataset names from CO2Emis, "),
])
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(monkeypatch, name, value, allowed):
    monkeypatch.setenv(name, value)
    [line] = settings.problems()
    assert line.startswith(f"{name}={value!r} is not allowed: expected {allowed}")


def test_secret_values_are_not_echoed(monkeypatch):
    assert all(s.check is None for s in settings.SETTINGS if s.secret)  # nothing to report, nothing leaked
    assert settings.problems() == []


COMMANDS = [["demo"], ["standin"], ["consume"], ["serve"], ["status"], ["query", "SELECT 1"],
            ["backfill", "--from", "2025-01-01", "--to", "2025-01-02"], ["settings"]]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: argv[0])
def test_every_command_refuses_a_bad_setting_in_one_line(monkeypatch, capsys, argv):
    """Checked before anything runs: no traceback, no half-started process, exit 2."""
    monkeypatch.setenv("ENERGY_GAP_REPAIR_HOURS", "3 days")
    monkeypatch.setenv("ENERGY_STATE_DIR", "/nonexistent/never-created")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "energy: ENERGY_GAP_REPAIR_HOURS='3 days' is not allowed: expected an integer >= 1"]


def test_max_rows_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["query", "SELECT 1", "--max-rows", "-1"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--max-rows: expected a whole number >= 1, got '-1'" in err and "Traceback" not in err
