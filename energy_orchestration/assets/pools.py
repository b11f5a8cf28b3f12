"""Concurrency pools shared by assets and ops (limits are set in dagster.yaml, `concurrency: pools:`)."""

WAREHOUSE_POOL = "warehouse"
"""Every step that writes the DuckDB warehouse (aggregates) declares ``pool=WAREHOUSE_POOL``.

Writers take the warehouse's exclusive lock anyway; the pool (limit 1) makes them wait in
Dagster's queue, visible in the UI, instead of on the lock with a timeout.
"""
