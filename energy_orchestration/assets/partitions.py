"""Time partitions shared by the asset graph.

Raw data is partitioned by UTC hour, including the hour in progress (the landing sensor reports
rows as they land). ``zone_hourly`` has closed UTC hours only. Days, weeks (Monday) and months
follow local time, Europe/Paris, which has the same rules as Europe/Copenhagen, so one local
calendar serves every zone we carry (see ``model.ZONE_TIME_ZONES``); the current period is a
partition too, built from the hours so far, because a live platform shows "today so far".
"""


import dagster as dg

from energy_orchestration import settings

LOCAL_TIME_ZONE = "Europe/Paris"
START = settings.get("ENERGY_PARTITIONS_START")

RAW_HOURLY = dg.HourlyPartitionsDefinition(start_date=f"{START}-00:00", timezone="UTC", end_offset=1)
HOURLY = dg.HourlyPartitionsDefinition(start_date=f"{START}-00:00", timezone="UTC")
DAILY = dg.DailyPartitionsDefinition(start_date=START, timezone=LOCAL_TIME_ZONE, end_offset=1)
HISTORY_DAILY = dg.DailyPartitionsDefinition(start_date=START, timezone=LOCAL_TIME_ZONE)
WEEKLY = dg.WeeklyPartitionsDefinition(start_date=START, timezone=LOCAL_TIME_ZONE, day_offset=1, end_offset=1)
MONTHLY = dg.MonthlyPartitionsDefinition(start_date=START, timezone=LOCAL_TIME_ZONE, end_offset=1)

PERIOD_PARTITIONS = {"daily": DAILY, "weekly": WEEKLY, "monthly": MONTHLY}
