"""Dagster assets. Every asset here uses ``backfill_policy``, which Dagster still marks beta;
the warning would repeat on every import (CLI included), so it is silenced once, here."""

import warnings

import dagster as dg

warnings.filterwarnings("ignore", category=dg.BetaWarning, message="Parameter `backfill_policy`")
