"""Which window the minute sensor asks for: overlap, first fetch, catch-up after an outage."""

from datetime import datetime, timedelta, timezone

from energy_orchestration.ingest import Window, WindowPolicy, estimated_requests, floor_to, plan_window

POLICY = WindowPolicy(overlap=timedelta(minutes=5), initial_lookback=timedelta(minutes=15),
                      max_window=timedelta(hours=2))


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_first_fetch_reaches_back_the_initial_lookback():
    window = plan_window("PowerSystemRightNow", t("2026-11-23T10:07:42"), None, POLICY)
    assert (window.start, window.end) == (t("2026-11-23T09:52"), t("2026-11-23T10:07"))


def test_next_fetch_overlaps_the_last_acknowledged_window():
    window = plan_window("PowerSystemRightNow", t("2026-11-23T10:08:05"), t("2026-11-23T10:07"), POLICY)
    assert (window.start, window.end) == (t("2026-11-23T10:02"), t("2026-11-23T10:08"))


def test_after_failed_runs_the_window_grows_back_to_the_last_acknowledgement():
    # runs at 10:08..10:10 failed: the cursor still says 10:07
    window = plan_window("PowerSystemRightNow", t("2026-11-23T10:11:01"), t("2026-11-23T10:07"), POLICY)
    assert window.start == t("2026-11-23T10:02") and window.end == t("2026-11-23T10:11")


def test_a_long_outage_is_caught_up_max_window_at_a_time():
    window = plan_window("PowerSystemRightNow", t("2026-11-23T20:00"), t("2026-11-23T10:07"), POLICY)
    assert window.start == t("2026-11-23T10:02")
    assert window.end - window.start == timedelta(hours=2)


def test_nothing_is_due_when_the_acknowledgement_is_ahead_of_the_clock():
    assert plan_window("PowerSystemRightNow", t("2026-11-23T10:00:30"), t("2026-11-23T10:06"), POLICY) is None


def test_floor_to_minute_and_five_minutes():
    moment = t("2026-11-23T10:07:42")
    assert floor_to(moment, timedelta(minutes=1)) == t("2026-11-23T10:07")
    assert floor_to(moment, timedelta(minutes=5)) == t("2026-11-23T10:05")


def test_a_window_costs_one_eds_request_and_a_page_per_100_odre_rows():
    day = (t("2026-04-08T00:00"), t("2026-04-09T00:00"))
    assert estimated_requests(Window("PowerSystemRightNow", *day)) == 1
    assert estimated_requests(Window("eco2mix-regional-tr", *day)) == 12           # 96 quarter-hours x 12 regions
    assert estimated_requests(Window("eco2mix-national-tr", *day)) == 12           # counted like the regions
    assert estimated_requests(Window("eco2mix-regional-tr", day[0], day[0] + timedelta(minutes=15))) == 1


def test_windows_the_tick_budget_does_not_reach_are_left_for_the_next_tick():
    from energy_orchestration.ingest import fetch_windows_within

    windows = [Window("PowerSystemRightNow", t("2026-11-23T10:02"), t("2026-11-23T10:08")),
               Window("CO2Emis", t("2026-11-23T09:55"), t("2026-11-23T10:05"))]
    asked: list[str] = []

    def client_for(provider: str, deadline: float):
        asked.append(provider)
        raise AssertionError("no client may be built once the budget is spent")

    outcome = fetch_windows_within(windows, client_for, "unused:9092", None, deadline=100.0, clock=lambda: 100.0)
    assert outcome.not_reached == windows and outcome.outcomes == [] and outcome.failures == [] and asked == []


def test_a_failing_window_is_reported_and_the_others_still_run():
    from energy_orchestration.ingest import fetch_windows_within
    from energy_orchestration.sources.http import SourceUnavailable

    windows = [Window("PowerSystemRightNow", t("2026-11-23T10:02"), t("2026-11-23T10:08")),
               Window("CO2Emis", t("2026-11-23T09:55"), t("2026-11-23T10:05"))]
    asked: list[str] = []

    class Failing:
        def fetch_window(self, dataset, start, end):
            asked.append(dataset)
            raise SourceUnavailable("HTTP 503")

    producers: list[float] = []
    outcome = fetch_windows_within(windows, lambda provider, deadline: Failing(), "unused:9092", None,
                                   deadline=100.0, clock=lambda: 0.0,
                                   producer_for=lambda servers, timeout: producers.append(timeout) or object())
    assert asked == ["PowerSystemRightNow", "CO2Emis"] and outcome.outcomes == [] and outcome.not_reached == []
    assert [(w.dataset, why) for w, why in outcome.failures] == [
        ("PowerSystemRightNow", "SourceUnavailable: HTTP 503"), ("CO2Emis", "SourceUnavailable: HTTP 503")]
    assert producers == [100.0, 100.0]  # a failed window drops the tick's producer; its timeout is the time left
