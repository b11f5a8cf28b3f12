"""The production profile's instance yaml differs from the demo's only in its storage."""

import yaml

from energy_orchestration.demo import DAGSTER_YAML
from energy_orchestration.profiles.production import PRODUCTION_DAGSTER_YAML, ProductionStack, missing_env


def test_production_instance_is_the_demo_instance_on_postgres():
    production = yaml.safe_load(PRODUCTION_DAGSTER_YAML.read_text())
    demo = yaml.safe_load(DAGSTER_YAML.read_text())
    storage = production.pop("storage")
    assert production == demo
    db = storage["postgres"]["postgres_db"]
    assert {k: v for k, v in db.items() if k != "scheme"} == {
        "hostname": {"env": "DAGSTER_PG_HOST"}, "port": {"env": "DAGSTER_PG_PORT"},
        "username": {"env": "DAGSTER_PG_USER"}, "password": {"env": "DAGSTER_PG_PASSWORD"},
        "db_name": {"env": "DAGSTER_PG_DB"}}


def test_the_profile_refuses_to_start_without_its_settings(tmp_path):
    assert "DAGSTER_PG_PASSWORD" in missing_env({"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092"})
    stack = ProductionStack({"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092", "ENERGY_KAFKA_EMBEDDED": "1"}, tmp_path, 1, 2)
    assert "ENERGY_KAFKA_EMBEDDED" not in stack.env  # a cluster: no embedded-broker workarounds
    try:
        stack.configure()
    except RuntimeError as exc:
        assert "DAGSTER_PG_HOST" in str(exc) and "ENERGY_EDS_BASE_URL" in str(exc)
    else:
        raise AssertionError("configure() accepted a profile without PostgreSQL settings")


def test_energy_up_says_what_is_missing_and_exits_non_zero(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGY_", "KAFKA_", "DAGSTER_"))}
    result = subprocess.run([sys.executable, "-m", "energy_orchestration.cli", "up", "--profile", "production",
                             "--home", str(tmp_path)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "needs KAFKA_BOOTSTRAP_SERVERS" in result.stdout and "no defaults in production" in result.stdout
