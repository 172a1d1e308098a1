"""The log of the API's answers and its ingestion into monitoring.online_predictions: every whole line
once, however often the logs are read, and nothing from a line a crash cut short."""

import datetime as dt
import json
import os
import re
import time

import duckdb
import pytest

from shop_pipeline.serving.prediction_log import PredictionLog, ingest_prediction_logs

NOW = dt.datetime(2031, 4, 2, 6, 0)


def answer(log: PredictionLog, n: int) -> str:
    return log.append("orders/risk", "or-1", "snap-1", {"order_id": f"o-{n}"}, {"risk_score": n / 10})


def rows(con) -> list[tuple]:
    return con.execute(
        "SELECT request_id, endpoint, model_version, snapshot_id, request->>'order_id', "
        "CAST(response->>'risk_score' AS DOUBLE), source_file, ingested_at "
        "FROM monitoring.online_predictions ORDER BY request->>'order_id'"
    ).fetchall()


def in_a_time_zone_west_of_utc(monkeypatch) -> None:
    """The process's local time is UTC-3 (undone by monkeypatch, then time.tzset in the caller's finally)."""
    monkeypatch.setenv("TZ", "America/Sao_Paulo")  # UTC-3, no daylight saving since 2019
    time.tzset()


@pytest.fixture
def west_of_utc(monkeypatch):
    in_a_time_zone_west_of_utc(monkeypatch)
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


def test_each_answer_is_one_whole_json_line_in_this_processs_file(tmp_path, west_of_utc):
    folder = tmp_path / "serving" / "logs"  # made with its parents on the first answer
    log = PredictionLog(folder)
    ids = [answer(log, n) for n in range(3)]
    log.close()
    (path,) = folder.iterdir()
    assert re.fullmatch(rf"predictions-\d{{8}}T\d{{12}}-{os.getpid()}\.jsonl", path.name)  # UTC start, pid
    started = dt.datetime.strptime(path.name.split("-")[1], "%Y%m%dT%H%M%S%f")
    assert abs(started - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(hours=1)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["request_id"] for line in lines] == ids and len(set(ids)) == 3
    assert lines[1] | {"logged_at": None} == {
        "request_id": ids[1],
        "endpoint": "orders/risk",
        "model_version": "or-1",
        "snapshot_id": "snap-1",
        "logged_at": None,
        "request": {"order_id": "o-1"},
        "response": {"risk_score": 0.1},
    }
    logged_at = dt.datetime.fromisoformat(lines[1]["logged_at"])
    assert logged_at.tzinfo is None and abs(logged_at - dt.datetime.now(dt.UTC).replace(tzinfo=None)) < dt.timedelta(
        hours=1
    )  # UTC, not local time


def test_a_full_file_is_left_as_it_is_and_the_next_answer_starts_a_new_one(tmp_path):
    log = PredictionLog(tmp_path / "logs", max_file_bytes=1)
    for n in range(3):
        answer(log, n)
    log.close()
    files = sorted((tmp_path / "logs").iterdir())
    assert [len(path.read_text().splitlines()) for path in files] == [1, 1, 1]
    line_bytes = files[0].stat().st_size
    exact = PredictionLog(tmp_path / "exact", max_file_bytes=line_bytes)  # full after exactly one line
    answer(exact, 0)
    answer(exact, 0)
    exact.close()
    assert len(list((tmp_path / "exact").iterdir())) == 2
    roomy = PredictionLog(tmp_path / "roomy", max_file_bytes=line_bytes + 1)  # room for a second line
    for _ in range(3):
        answer(roomy, 0)
    roomy.close()
    assert sorted(len(p.read_text().splitlines()) for p in (tmp_path / "roomy").iterdir()) == [1, 2]


def test_a_closed_log_starts_a_new_file_on_the_next_answer(tmp_path):
    """The app closes its log when the server stops; an app started again with the same log keeps logging."""
    log = PredictionLog(tmp_path / "logs")
    first = answer(log, 0)
    log.close()
    log.close()  # closing twice is harmless
    time.sleep(0.001)  # the file name's start time moves on (microseconds)
    second = answer(log, 1)
    log.close()
    files = sorted((tmp_path / "logs").iterdir())
    assert [[json.loads(line)["request_id"] for line in path.open()] for path in files] == [[first], [second]]


def test_the_logs_reach_the_table_exactly_once_and_a_cut_line_is_skipped(tmp_path):
    con = duckdb.connect()
    con.execute("CREATE SCHEMA monitoring")
    folder = tmp_path / "logs"
    assert ingest_prediction_logs(con, folder, now=NOW) == 0  # no logs yet
    log = PredictionLog(folder)
    ids = [answer(log, n) for n in range(2)]
    log.close()
    (first_file,) = folder.iterdir()
    with first_file.open("a") as handle:  # the process died in the middle of a line
        handle.write('{"request_id": "cut", "endpoint": "orders/r')
    (folder / "predictions-empty-1.jsonl").write_text("")
    # a line missing what the table needs is not ingested
    (folder / "predictions-partial-2.jsonl").write_text(json.dumps({"request_id": "no-body", "endpoint": "x"}) + "\n")

    assert ingest_prediction_logs(con, folder, now=NOW) == 2
    assert rows(con) == [
        (ids[0], "orders/risk", "or-1", "snap-1", "o-0", 0.0, first_file.name, NOW),
        (ids[1], "orders/risk", "or-1", "snap-1", "o-1", 0.1, first_file.name, NOW),
    ]
    assert ingest_prediction_logs(con, folder, now=NOW + dt.timedelta(hours=1)) == 0  # read again: nothing new

    # a copy of a file (a restored backup) adds nothing; a new answer is added once
    (folder / "predictions-copy-3.jsonl").write_text(first_file.read_text())
    later = PredictionLog(folder)
    new_id = answer(later, 2)
    later.close()
    assert ingest_prediction_logs(con, folder, now=NOW + dt.timedelta(hours=2)) == 1
    assert [row[0] for row in rows(con)] == [*ids, new_id]
    assert rows(con)[2][7] == NOW + dt.timedelta(hours=2)


def test_a_request_id_logged_twice_in_one_read_is_added_once(tmp_path):
    con = duckdb.connect()
    con.execute("CREATE SCHEMA monitoring")
    folder = tmp_path / "logs"
    log = PredictionLog(folder)
    answer(log, 0)
    log.close()
    (path,) = folder.iterdir()
    (folder / "predictions-[copy]-4.jsonl").write_text(path.read_text())  # glob characters in a name are literal
    assert ingest_prediction_logs(con, folder, now=NOW) == 1
    assert con.execute("SELECT count(*) FROM monitoring.online_predictions").fetchone() == (1,)


def test_ingested_at_is_utc_whatever_the_machines_time_zone(tmp_path, monkeypatch):
    in_a_time_zone_west_of_utc(monkeypatch)
    try:
        con = duckdb.connect()
        con.execute("CREATE SCHEMA monitoring")
        log = PredictionLog(tmp_path / "logs")
        answer(log, 0)
        log.close()
        before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        assert ingest_prediction_logs(con, tmp_path / "logs") == 1
        after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        ((ingested_at,),) = con.execute("SELECT ingested_at FROM monitoring.online_predictions").fetchall()
        assert before <= ingested_at <= after
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_in_spark_mode_the_logs_reach_the_lakes_table_exactly_once(tmp_path):
    """ingest_prediction_logs_to_lake: the same rows as the warehouse's ingestion, on the lake; a read
    with nothing new leaves the published files as they are."""
    from shop_pipeline.engine.lake_views import attach_lake, lake_fingerprint
    from shop_pipeline.serving.prediction_log import ONLINE_PREDICTIONS_TABLE, ingest_prediction_logs_to_lake

    lake_uri, folder = (tmp_path / "lake").as_uri(), tmp_path / "logs"
    assert ingest_prediction_logs_to_lake(lake_uri, folder, now=NOW).total == 0  # no logs, no lake table yet
    log = PredictionLog(folder)
    ids = [answer(log, n) for n in range(2)]
    log.close()

    first = ingest_prediction_logs_to_lake(lake_uri, folder, now=NOW)
    assert (first.added, first.total, first.by_endpoint) == (2, 2, {"orders/risk": 2})
    published = lake_fingerprint(lake_uri, ONLINE_PREDICTIONS_TABLE)
    again = ingest_prediction_logs_to_lake(lake_uri, folder, now=NOW + dt.timedelta(hours=1))
    assert (again.added, again.total) == (0, 2)
    assert lake_fingerprint(lake_uri, ONLINE_PREDICTIONS_TABLE) == published  # nothing rewritten

    later = PredictionLog(folder)
    new_id = answer(later, 2)
    later.close()
    assert ingest_prediction_logs_to_lake(lake_uri, folder, now=NOW + dt.timedelta(hours=2)).added == 1
    with duckdb.connect() as con:
        assert attach_lake(con, lake_uri, [ONLINE_PREDICTIONS_TABLE]) == [ONLINE_PREDICTIONS_TABLE]
        got = rows(con)
    assert [row[0] for row in got] == [*ids, new_id]
    assert [row[4:6] for row in got] == [("o-0", 0.0), ("o-1", 0.1), ("o-2", 0.2)]  # JSON kept as JSON
    assert [row[7] for row in got] == [NOW, NOW, NOW + dt.timedelta(hours=2)]  # first ingestion's time kept
