"""The plain decisions behind the schedule and the landing sensor (no Dagster, no files)."""

import datetime as dt

import pytest

from shop_pipeline.automation_rules import (
    FileVersion,
    LandingCursor,
    ModelFacts,
    MonitoringFacts,
    RetrainPolicy,
    retrain_triggers,
    scan_landing,
    yesterday_partition,
)
from shop_pipeline.settings import DAILY_HOUR_ENV, TIMEZONE_ENV, ScheduleSettings

S = 1_000_000_000  # ns per second
SETTLE = 30
FIRST, LAST = dt.date(2025, 1, 1), dt.date(2025, 12, 31)


def version(name, written_s, changed_s=None, size=100, day=dt.date(2025, 1, 2)):
    return FileVersion(f"events/{name}", day, size, written_s * S, (changed_s or written_s) * S)


def scan(files, cursor, now_s):
    return scan_landing(files, cursor, now_s * S, SETTLE, FIRST, LAST)


def launched(result):
    return sorted(v.relative for files in result.batches.values() for v in files)


def test_a_file_copied_in_with_an_old_mtime_is_still_new():
    first = scan([version("a.csv", 1000)], LandingCursor(), 2000)
    # b.csv was written long before the mark but arrived now (cp -p / mv set ctime, not mtime)
    second = scan([version("a.csv", 1000), version("b.csv", 500, changed_s=2050)], first.cursor, 2100)
    assert launched(second) == ["events/b.csv"]
    assert launched(scan([version("a.csv", 1000), version("b.csv", 500, changed_s=2050)], second.cursor, 2110)) == []


def test_a_file_still_being_written_is_not_hidden_by_a_file_copied_in_at_the_same_time():
    # at t=1000: a.csv (old bytes, just copied in) is settled; e.csv was last written at t=990
    files = [version("a.csv", 900, changed_s=995), version("e.csv", 990)]
    first = scan(files, LandingCursor(), 1000)
    assert launched(first) == ["events/a.csv"]
    assert [v.relative for v, _ in first.settling] == ["events/e.csv"]
    # e.csv gets its last bytes at t=992 and settles: it is launched, a.csv is not launched again
    files = [version("a.csv", 900, changed_s=995), version("e.csv", 992, size=180)]
    assert launched(scan(files, first.cursor, 1030)) == ["events/e.csv"]


def test_the_cursor_holds_only_the_last_settle_period():
    cursor, files = LandingCursor(), []
    for i in range(500):  # a file every 10 s, each copied in 20 s after its last write
        now = 10_000 + 10 * i
        files.append(version(f"f{i:03d}.csv", now - 40, changed_s=now - 20))
        result = scan(files, cursor, now)
        assert launched(result) == [f"events/f{i:03d}.csv"]
        cursor = result.cursor
        assert len(cursor.recent) <= SETTLE // 10 + 1
    assert len(cursor.to_json()) < 400
    assert LandingCursor.from_json(cursor.to_json()) == cursor


def test_files_are_grouped_per_day_and_a_batch_has_a_stable_run_key():
    files = [
        version("x.csv", 10, day=dt.date(2025, 1, 2)),
        version("y.csv", 10, day=dt.date(2025, 1, 3)),
        version("z.csv", 10, day=dt.date(2025, 1, 2)),
    ]
    result = scan(files, LandingCursor(), 1000)
    assert {day: [v.relative for v in vs] for day, vs in result.batches.items()} == {
        dt.date(2025, 1, 2): ["events/x.csv", "events/z.csv"],
        dt.date(2025, 1, 3): ["events/y.csv"],
    }
    again = scan(list(reversed(files)), LandingCursor(), 1000)
    assert again.batch_run_key(dt.date(2025, 1, 2)) == result.batch_run_key(dt.date(2025, 1, 2))


def test_an_unreadable_cursor_is_an_error_not_a_silent_reset():
    assert LandingCursor.from_json(None) == LandingCursor()
    with pytest.raises(ValueError, match="reset it in the UI"):
        LandingCursor.from_json("{not json")


@pytest.mark.parametrize(
    "scheduled, expected",
    [
        (dt.datetime(2025, 3, 10, 6, 0, tzinfo=dt.UTC), dt.date(2025, 3, 9)),
        # 06:00 in Berlin is 05:00 UTC: the local and the UTC yesterday agree
        (dt.datetime(2025, 3, 10, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=1))), dt.date(2025, 3, 9)),
        # 06:00 in Tokyo is 21:00 UTC on the 9th: the 9th is not over in UTC, so the 8th
        (dt.datetime(2025, 3, 10, 6, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))), dt.date(2025, 3, 8)),
        # 23:30 in New York is 04:30 UTC the next day
        (dt.datetime(2025, 3, 10, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))), dt.date(2025, 3, 10)),
    ],
)
def test_yesterday_is_the_last_utc_day_that_has_ended(scheduled, expected):
    assert yesterday_partition(scheduled) == expected


def test_schedule_settings_from_the_environment(monkeypatch):
    monkeypatch.delenv(TIMEZONE_ENV, raising=False)
    monkeypatch.delenv(DAILY_HOUR_ENV, raising=False)
    assert ScheduleSettings.from_env() == ScheduleSettings("UTC", 6, 0)
    monkeypatch.setenv(TIMEZONE_ENV, "Europe/Berlin")
    monkeypatch.setenv(DAILY_HOUR_ENV, "7")
    settings = ScheduleSettings.from_env()
    assert (settings.timezone, settings.cron) == ("Europe/Berlin", "0 7 * * *")
    monkeypatch.setenv(TIMEZONE_ENV, "Mars/Olympus")
    with pytest.raises(ValueError, match="IANA"):
        ScheduleSettings.from_env()
    monkeypatch.setenv(TIMEZONE_ENV, "UTC")
    monkeypatch.setenv(DAILY_HOUR_ENV, "25")
    with pytest.raises(ValueError, match="time of day"):
        ScheduleSettings.from_env()


# -- retraining thresholds at their boundary values (retrain_triggers; the sensor's wiring is
# defs/test_automation_retrain.py) ------------------------------------------------------------

RETRAIN_NOW = dt.datetime(2025, 4, 1, 6, 0)
POLICY = RetrainPolicy(min_new_events=1000, max_psi=0.25, max_champion_age_days=30)


def retrain_codes(new_events=0, champion_age=dt.timedelta(days=1), psi=0.0):
    model = ModelFacts(
        model_name="demand_forecast",
        champion_version="v1",
        champion_promoted_at=RETRAIN_NOW - champion_age,
        champion_train_end=dt.date(2025, 3, 30),
        latest_version="v1",
        latest_as_of=dt.date(2025, 3, 30),
        new_clean_events=new_events,
    )
    facts = MonitoringFacts(RETRAIN_NOW, dt.date(2025, 3, 31), [model], {"product_day.units": psi})
    return [trigger.code for trigger in retrain_triggers(facts, POLICY, RETRAIN_NOW)]


def test_exactly_min_new_events_retrains_and_one_fewer_does_not():
    assert retrain_codes(new_events=1000) == ["new_data"]
    assert retrain_codes(new_events=999) == []


def test_a_champion_exactly_max_age_old_is_kept_and_a_second_older_is_stale():
    assert retrain_codes(champion_age=dt.timedelta(days=30)) == []
    assert retrain_codes(champion_age=dt.timedelta(days=30, seconds=1)) == ["stale_champion"]


def test_drift_exactly_at_max_psi_is_kept_and_just_above_retrains():
    assert retrain_codes(psi=0.25) == []
    assert retrain_codes(psi=0.2501) == ["drift"]
