"""The warehouse: one interface, two backends (a single DuckDB file, or DuckLake); connection.py
and lake.py are the only modules that open it."""

from __future__ import annotations

from pathlib import Path

from energy_orchestration.warehouse.connection import (
    LANDING_CLAIM,
    Warehouse,
    WarehouseBusy,
    WarehouseConflict,
    WarehouseMissing,
)

__all__ = ["LANDING_CLAIM", "Warehouse", "WarehouseBusy", "WarehouseConflict", "WarehouseMissing",
           "configured_warehouse", "default_warehouse"]


def default_warehouse() -> Warehouse:
    """The warehouse the settings configure (see :func:`configured_warehouse`)."""
    return configured_warehouse()


def configured_warehouse(path: Path | None = None, lock_timeout_seconds: float | None = None,
                         url: str | None = None) -> Warehouse:
    """The one factory: DuckLake when ``url`` (default ``ENERGY_WAREHOUSE_URL``) is set, else the
    DuckDB file at ``path`` (default ``ENERGY_WAREHOUSE_PATH`` / ``ENERGY_STATE_DIR``).

    For DuckLake ``path`` is only where the landing consumer's health file sits, so a host's
    ``energy status`` still finds it; the data path, catalog password and S3 options come from
    their ``ENERGY_WAREHOUSE_*`` settings."""
    from energy_orchestration import settings

    path = path or settings.warehouse_path()
    timeout = lock_timeout_seconds if lock_timeout_seconds is not None else \
        settings.get_float("ENERGY_WAREHOUSE_LOCK_TIMEOUT_SECONDS")
    url = url if url is not None else settings.get("ENERGY_WAREHOUSE_URL")
    if not url:
        return Warehouse(path, timeout)
    from energy_orchestration.warehouse.lake import DuckLakeWarehouse, S3Options

    data_path = settings.lake_data_path()
    on_s3 = data_path.startswith("s3://")
    s3 = S3Options(endpoint=settings.get("ENERGY_WAREHOUSE_S3_ENDPOINT"),
                   region=settings.get("ENERGY_WAREHOUSE_S3_REGION"),
                   key_id=settings.get("ENERGY_WAREHOUSE_S3_ACCESS_KEY_ID"),
                   secret=settings.get("ENERGY_WAREHOUSE_S3_SECRET_ACCESS_KEY"),
                   url_style=settings.get("ENERGY_WAREHOUSE_S3_URL_STYLE"),
                   use_ssl=settings.get("ENERGY_WAREHOUSE_S3_USE_SSL") == "1") if on_s3 else None
    return DuckLakeWarehouse(path, timeout, url=url, data_path=data_path,
                             catalog_password=settings.get("ENERGY_WAREHOUSE_CATALOG_PASSWORD"), s3=s3,
                             conflict_retries=settings.get_int("ENERGY_WAREHOUSE_CONFLICT_RETRIES"))
