"""Every error the API answers is one RFC 9457 problem body, and OpenAPI documents each status
with that schema (real server on a real socket)."""

import pytest
import requests

from energy_orchestration.serving.auth import AuthPolicy
from energy_orchestration.serving.config import ServerConfig
from energy_orchestration.serving.server import ApiServer
from energy_orchestration.streaming.broker import free_port
from energy_orchestration.warehouse import Warehouse

pytestmark = pytest.mark.integration

TOKEN = "problem-test-token"


@pytest.fixture
def api(warehouse):
    config = ServerConfig(port=free_port(), auth=AuthPolicy(True, (TOKEN,)))
    with ApiServer(config, warehouse, None) as server:
        yield server.url


def assert_problem(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["title"] and isinstance(body["detail"], str) and body["detail"]
    return body


def test_errors_are_problem_json(api):
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert_problem(requests.get(f"{api}/api/v1/zones", timeout=10), 401)
    bad_range = assert_problem(requests.get(f"{api}/api/v1/zones/DK-DK1/observations", headers=auth, timeout=10,
                                            params={"from": "2025-01-02T00:00:00Z", "to": "2025-01-01T00:00:00Z"}), 400)
    assert bad_range["detail"] == "'from' must be before 'to'"
    unknown = assert_problem(requests.get(f"{api}/api/v1/zones/XX/latest", headers=auth, timeout=10), 422)
    assert unknown["errors"][0]["loc"] == ["path", "zone"] and "DK-DK1" in unknown["detail"]
    assert_problem(requests.get(f"{api}/api/v1/no-such-thing", headers=auth, timeout=10), 404)
    assert_problem(requests.post(f"{api}/api/v1/zones", headers=auth, timeout=10), 405)


def test_a_missing_warehouse_is_503_naming_it_and_is_not_created(tmp_path):
    missing = Warehouse(tmp_path / "nowhere" / "warehouse.duckdb")
    with ApiServer(ServerConfig(port=free_port()), missing, None) as server:
        body = assert_problem(requests.get(f"{server.url}/api/v1/freshness", timeout=10), 503)
        assert str(missing.path) in body["detail"]
        assert requests.get(f"{server.url}/health", timeout=10).status_code == 200
    assert not missing.path.parent.exists()


def test_openapi_documents_every_error_status_with_the_problem_schema(api):
    spec = requests.get(f"{api}/openapi.json", timeout=10).json()
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= {"title", "status", "detail"}
    operations = [op for path, item in spec["paths"].items() if path.startswith("/api/v1") for op in item.values()]
    assert operations
    for operation in operations:
        responses = operation["responses"]
        assert {"400", "401", "404", "422", "503"} <= set(responses), operation["operationId"]
        for status in ("400", "401", "404", "422", "503"):
            assert responses[status]["content"] == {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
