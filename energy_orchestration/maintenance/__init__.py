"""Keeping the Dagster instance's storage bounded: old runs, their event logs and compute logs."""
