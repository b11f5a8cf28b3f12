"""Time partitions shared by the asset graph: all on one local calendar, Europe/Paris.

Europe/Paris has the same rules as Europe/Copenhagen, so one calendar serves every zone we
carry (see ``model.ZONE_TIME_ZONES``), and keeping every partitions definition in it lets
Dagster map hours to days (it refuses mappings across time zones). Hour keys are local too:
a spring DST day has 23 of them and an autumn one 25 (``2025-10-26-02:00`` then
``2025-10-26-02:00+0100``); the tables themselves are keyed by UTC hour.

Raw data has the hour in progress as a partition (the landing sensor reports rows as they
land); ``zone_hourly`` has closed hours only. The current day, week and month are partitions,
built from the hours so far, because a live platform shows "today so far".
"""

from datetime import datetime, timezone

import dagster as dg

from energy_orchestration import settings

LOCAL_TIME_ZONE = "Europe/Paris"
START = settings.get("ENERGY_PARTITIONS_START")

RAW_HOURLY = dg.HourlyPartitionsDefinition(start_date=f"{START}-00:00", timezone=LOCAL_TIME_ZONE, end_offset=1)
HOURLY = dg.HourlyPartitionsDefinition(start_date=f"{START}-00:00", timezone=LOCAL_TIME_ZONE)
DAILY = dg.DailyPartitionsDefinition(start_date=START, timezone=LOCAL_TIME_ZONE, end_offset=1)
HISTORY_DAILY = dg.DailyPartitionsDefinition(start_date=START, timezone=LOCAL_TIME_ZONE, end_offset=1)
"""History days up to today (so far): the range a backfill may ask for is ENERGY_PARTITIONS_START .. today."""
WEEKLY = dg.WeeklyPartitionsDefinition(start_date=START, timezone=LOCAL_TIME_ZONE, day_offset=1, end_offset=1)
MONTHLY = dg.MonthlyPartitionsDefinition(start_date=START, timezone=LOCAL_TIME_ZONE, end_offset=1)

PERIOD_PARTITIONS = {"daily": DAILY, "weekly": WEEKLY, "monthly": MONTHLY}


def hour_key(hour_start_utc: datetime) -> str:
    """The hourly partition key of a UTC hour (naive UTC, as the warehouse stores it)."""
    return HOURLY.get_partition_key_for_timestamp(hour_start_utc.replace(tzinfo=timezone.utc).timestamp())


def hour_start_utc(key: str) -> datetime:
    """The UTC start (naive) of an hourly partition key."""
    return HOURLY.time_window_for_partition_key(key).start.astimezone(timezone.utc).replace(tzinfo=None)
