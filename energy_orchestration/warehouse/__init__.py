"""DuckDB warehouse: the one module that opens the file (see connection.py for why)."""

from energy_orchestration.warehouse.connection import Warehouse, WarehouseBusy, WarehouseMissing

__all__ = ["Warehouse", "WarehouseBusy", "WarehouseMissing", "default_warehouse"]


def default_warehouse() -> Warehouse:
    """The warehouse configured by ENERGY_WAREHOUSE_PATH / ENERGY_STATE_DIR."""
    from energy_orchestration import settings

    return Warehouse(settings.warehouse_path(), settings.get_float("ENERGY_WAREHOUSE_LOCK_TIMEOUT_SECONDS"))
