"""Revisits: re-fetch the trailing hours of every live dataset once an hour, so revisions land.

Providers revise values they already published (éCO2mix turns real-time rows into consolidated
ones with other values; Energi Data Service corrects recent minutes). The live fetch re-reads
only ``ENERGY_FETCH_OVERLAP_MINUTES`` behind its cursor and gap repair only fetches *missing*
intervals, so without this nothing would ever read a past window again and a revision would
never reach the warehouse. A revisit is an ordinary ``fetch_job`` run: landing rewrites only rows
whose value or status changed, keeps the replaced version in ``observation_revisions``, and
leaves everything else untouched (a revisit of unrevised data writes nothing).
"""


from datetime import datetime, timedelta, timezone

import dagster as dg

from energy_orchestration import settings
from energy_orchestration.assets.keys import LIVE_DATASETS
from energy_orchestration.ingest import Window, cut_windows, due_end
from energy_orchestration.model import utc_now
from energy_orchestration.sensors.fetch import fetch_job, fetch_run_config

MAX_WINDOW = timedelta(hours=24)


def revisit_windows(now: datetime, hours: int, datasets: tuple[str, ...] = LIVE_DATASETS) -> list[Window]:
    """Per dataset, ``[due_end - hours, due_end)`` (aware UTC) in windows of at most a day; none
    when ``hours`` is 0. Ends at ``due_end``: the newest intervals belong to the live fetch."""
    if hours <= 0:
        return []
    windows: list[Window] = []
    for dataset in datasets:
        end = due_end(dataset, now).replace(tzinfo=timezone.utc)
        windows += cut_windows(dataset, end - timedelta(hours=hours), end, MAX_WINDOW)
    return windows


@dg.schedule(job=fetch_job, cron_schedule="41 * * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING,
             description="Hourly: re-fetch the last ENERGY_REVISIT_HOURS of every live dataset so provider "
                         "revisions land (kept in observation_history).")
def revisit_schedule(_context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    windows = revisit_windows(utc_now(), settings.get_int("ENERGY_REVISIT_HOURS"))
    if not windows:
        return dg.SkipReason("revisits are off (ENERGY_REVISIT_HOURS=0)")
    return dg.RunRequest(run_config=fetch_run_config(windows), tags={"energy/kind": "revisit"})
