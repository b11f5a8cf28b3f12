"""The chaos suite reuses the integration suite's real parts (embedded broker, DuckDB file, stand-in)."""

from tests.integration.conftest import (  # noqa: F401  (fixtures)
    bootstrap,
    broker,
    isolated_topics,
    land_all,
    land_range,
    standin,
    warehouse,
)
