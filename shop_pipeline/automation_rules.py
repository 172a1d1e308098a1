"""The decisions behind the schedule and sensors, as plain functions (no Dagster import).

Three decisions live here so they can be tested without a daemon:

- `yesterday_partition`: which daily partition a morning tick processes.
- `scan_landing`: which landed files are new, settled and in range, grouped per partition day,
  and the bounded cursor that makes every file version launch at most once.
- `retrain_triggers`: whether the models should be retrained, and why, from the facts the
  `feature_drift` asset records (registry facts, new clean events, PSI).

Their settings come from outside: the schedule's time and the landing sensor's intervals from
the environment (settings.py), the retraining thresholds from the `retraining` resource.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

# ---------------------------------------------------------------------------- daily schedule


def yesterday_partition(scheduled_at: dt.datetime) -> dt.date:
    """The daily partition a tick at `scheduled_at` processes: the last UTC day that has ended.

    Partitions are UTC days. For a morning tick in Europe or the Americas this is the local
    yesterday; east of UTC a tick before midnight UTC (e.g. 06:00 in Tokyo = 21:00 UTC the day
    before) gets the day before that, because the local yesterday is not over in UTC yet and
    its partition would be incomplete. A naive `scheduled_at` is read as UTC.
    """
    if scheduled_at.tzinfo is None:
        scheduled_at = scheduled_at.replace(tzinfo=dt.UTC)
    return scheduled_at.astimezone(dt.UTC).date() - dt.timedelta(days=1)


def retention_due(retention_days: int | None, scheduled_at: dt.datetime, has_data: bool) -> tuple[dt.date | None, str]:
    """Whether a tick of the retention schedule at `scheduled_at` purges: the cut-off (the first
    UTC day kept) and why, or None and why not. One purge per cut-off day (the run key): the purge
    is idempotent, and finds what expired wherever it is (a landed file, or rows whose file the
    shop already removed), so the schedule does not look into the warehouse (a running write holds it)."""
    if retention_days is None:
        return None, "retention is off: set SHOP_PIPELINE_RETENTION_DAYS (the `retention` resource) to purge old events"
    if retention_days < 1:
        return None, f"retention_days={retention_days}: must be at least 1; nothing purged"
    if not has_data:
        return None, "no warehouse and no landed file yet: nothing to purge"
    if scheduled_at.tzinfo is None:
        scheduled_at = scheduled_at.replace(tzinfo=dt.UTC)
    cutoff = scheduled_at.astimezone(dt.UTC).date() - dt.timedelta(days=retention_days)
    return cutoff, f"events before {cutoff} ({retention_days} days before {scheduled_at:%Y-%m-%d %H:%M} UTC) expire"


# ---------------------------------------------------------------------------- landing sensor


@dataclass(frozen=True)
class FileVersion:
    """One version of a landed file. A rewrite (new size or mtime) is a new version."""

    relative: str  # path under the landing folder, as the warehouse records it
    day: dt.date  # its partition
    size: int
    mtime_ns: int  # last write: how long the file has been quiet
    changed_ns: int  # max(mtime, ctime): when it appeared here (a rename or copy sets ctime)

    @property
    def key(self) -> str:
        return f"{self.relative}|{self.size}|{self.mtime_ns}"


@dataclass(frozen=True)
class LandingCursor:
    """What the landing sensor has decided, bounded in size.

    Every file version that changed at or before `mark_ns` has been decided. `recent` holds the
    keys (with their change time) of versions decided that changed after the mark: at most the
    files that arrived in the last settle period, since the mark moves to `now - settle` each tick.
    """

    mark_ns: int = 0
    recent: dict[str, int] = field(default_factory=dict)

    def is_new(self, version: FileVersion) -> bool:
        return version.changed_ns > self.mark_ns and version.key not in self.recent

    def to_json(self) -> str:
        return json.dumps({"mark_ns": self.mark_ns, "recent": self.recent}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> LandingCursor:
        """An empty or missing cursor is the start; an unreadable one is an error (a reset
        would launch every landed file again: harmless, since ingestion is exactly once,
        but it should be a person's decision: reset the cursor in the UI)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            return cls(int(data["mark_ns"]), {str(k): int(v) for k, v in data.get("recent", {}).items()})
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(
                f"landing sensor cursor {text[:80]!r} is unreadable ({error}); reset it in the UI"
            ) from None


@dataclass(frozen=True)
class LandingScan:
    batches: dict[dt.date, list[FileVersion]]  # new, settled, in range: one run per partition (its first day)
    settling: list[tuple[FileVersion, float]]  # still being written, with seconds since last write
    out_of_range: list[FileVersion]  # settled, but no partition holds their day
    already_ingested: list[FileVersion]  # a run that started after they landed ingested their day
    cursor: LandingCursor

    def batch_run_key(self, day: dt.date) -> str:
        digest = hashlib.sha256("\n".join(sorted(v.key for v in self.batches[day])).encode()).hexdigest()[:16]
        return f"landing:{day.isoformat()}:{digest}"

    def explain(self) -> list[str]:
        lines = [
            f"partition {day}: launching for {len(files)} new file(s): {', '.join(v.relative for v in files)}"
            for day, files in sorted(self.batches.items())
        ]
        lines += [f"{v.relative}: still being written (last write {age:.0f} s ago)" for v, age in self.settling]
        lines += [f"{v.relative}: day {v.day} is outside the partitions; not ingested" for v in self.out_of_range]
        lines += [
            f"{v.relative}: already ingested by a run of its partition that started after it landed"
            for v in self.already_ingested
        ]
        return lines


def scan_landing(
    files: list[FileVersion],
    cursor: LandingCursor,
    now_ns: int,
    settle_seconds: float,
    first_day: dt.date,
    last_day: dt.date,
    ingestion_started_ns: Mapping[dt.date, int] | None = None,
    partition_of=lambda day: day,
) -> LandingScan:
    """Decide which file versions to launch. Take `now_ns` before listing the files.

    A version is new when it changed after the cursor's mark and is not among its recent keys;
    it is settled when its last write is at least `settle_seconds` old (a file still being
    written keeps changing its mtime; uploads named *.part / *.tmp are not even listed).
    Settled new versions are decided now (launched per partition, `partition_of(day)` naming it by
    its first day; or rejected when their day is outside [first_day, last_day]; or skipped when
    `ingestion_started_ns[partition]` -- the start of the latest run that materialized that
    partition of raw_events -- is after the version changed: that run
    (the CLI, a backfill, the schedule) already read it, e.g. on the first tick of a sensor
    turned on for a shop that was already loaded); unsettled ones are left for a later tick. Every version
    that changed at or before now - settle has mtime <= that too, so it is settled: moving
    the mark there never hides an undecided file.
    """
    settle_ns = int(settle_seconds * 1_000_000_000)
    batches: dict[dt.date, list[FileVersion]] = {}
    settling: list[tuple[FileVersion, float]] = []
    out_of_range: list[FileVersion] = []
    already_ingested: list[FileVersion] = []
    started = ingestion_started_ns or {}
    decided: dict[str, int] = {}
    for version in files:
        if not cursor.is_new(version):
            continue
        if now_ns - version.mtime_ns < settle_ns:
            settling.append((version, max(0.0, (now_ns - version.mtime_ns) / 1e9)))
            continue
        decided[version.key] = version.changed_ns
        partition = partition_of(version.day)
        if partition in started and started[partition] > version.changed_ns:
            already_ingested.append(version)
        elif first_day <= version.day <= last_day:
            batches.setdefault(partition, []).append(version)
        else:
            out_of_range.append(version)
    mark = max(cursor.mark_ns, now_ns - settle_ns)
    recent = {key: at for key, at in {**cursor.recent, **decided}.items() if at > mark}
    return LandingScan(batches, settling, out_of_range, already_ingested, LandingCursor(mark, recent))


# ---------------------------------------------------------------------------- retraining trigger


@dataclass(frozen=True)
class RetrainPolicy:
    min_new_events: int = 20_000  # (a) clean events after the newest training attempt's cut-off
    max_psi: float = 0.25  # (b) PSI above this on a key feature or the score distribution
    max_champion_age_days: float = 30.0  # (c) days since the champion was promoted

    def __post_init__(self):
        if self.min_new_events < 1 or self.max_psi < 0 or self.max_champion_age_days < 0:
            raise ValueError(
                f"retraining policy {self}: min_new_events must be >= 1, max_psi and max_champion_age_days >= 0"
            )


@dataclass(frozen=True)
class ModelFacts:
    """One model's registry facts, as the feature_drift asset measured them."""

    model_name: str
    champion_version: str | None
    champion_promoted_at: dt.datetime | None  # naive UTC
    champion_train_end: dt.date | None
    latest_version: str  # the newest training attempt (the champion, or a refused challenger)
    # the last day that attempt could see: its as_of (the registry's train_end when as_of is
    # missing). Not train_end itself: a model whose labels mature late (order risk) ends its
    # training window days before its cut-off, and would otherwise always look behind.
    latest_as_of: dt.date | None
    new_clean_events: int  # clean events in partitions after latest_as_of


@dataclass(frozen=True)
class MonitoringFacts:
    measured_at: dt.datetime  # naive UTC
    latest_day: dt.date | None  # last partition with clean events
    models: list[ModelFacts]
    psi: dict[str, float]  # feature or score -> PSI (only measurable ones)

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MonitoringFacts:
        def day(value):
            return dt.date.fromisoformat(value) if value else None

        def instant(value):
            return dt.datetime.fromisoformat(value) if value else None

        return cls(
            measured_at=instant(data["measured_at"]),
            latest_day=day(data.get("latest_day")),
            models=[
                ModelFacts(
                    m["model_name"],
                    m.get("champion_version"),
                    instant(m.get("champion_promoted_at")),
                    day(m.get("champion_train_end")),
                    m["latest_version"],
                    day(m.get("latest_as_of")),
                    int(m.get("new_clean_events", 0)),
                )
                for m in data.get("models", [])
            ],
            psi={str(k): float(v) for k, v in data.get("psi", {}).items()},
        )


@dataclass(frozen=True)
class Trigger:
    code: str  # no_model | no_champion | new_data | drift | stale_champion
    detail: str


def retrain_triggers(facts: MonitoringFacts, policy: RetrainPolicy, now: dt.datetime) -> list[Trigger]:
    """Why the models should be retrained now; empty when they should not.

    Every trigger needs data that the newest training attempt has not seen (a partition after
    its as_of): a refused challenger is not retrained on the same data again and again, and
    a drift or an old champion with no new data waits for the next day. `now` is naive UTC.
    """
    if facts.latest_day is None:
        return []
    if not facts.models:
        return [Trigger("no_model", f"no model is registered yet; clean events reach {facts.latest_day}")]

    def unseen(model: ModelFacts) -> bool:
        return model.latest_as_of is None or facts.latest_day > model.latest_as_of

    triggers: list[Trigger] = []
    for model in facts.models:
        if not unseen(model):
            continue
        if model.champion_version is None:
            triggers.append(Trigger("no_champion", f"{model.model_name} has no champion"))
        if model.new_clean_events >= policy.min_new_events:
            triggers.append(
                Trigger(
                    "new_data",
                    f"{model.model_name}: {model.new_clean_events} new clean events after {model.latest_as_of} "
                    f"(>= {policy.min_new_events})",
                )
            )
        if model.champion_promoted_at is not None:
            age_days = (now - model.champion_promoted_at).total_seconds() / 86400
            if age_days > policy.max_champion_age_days:
                triggers.append(
                    Trigger(
                        "stale_champion",
                        f"{model.model_name}: champion {model.champion_version} is {age_days:.1f} days old "
                        f"(> {policy.max_champion_age_days:g})",
                    )
                )
    if any(unseen(model) for model in facts.models):
        drifted = {name: value for name, value in facts.psi.items() if value > policy.max_psi}
        if drifted:
            listed = ", ".join(f"{name} {value:.3f}" for name, value in sorted(drifted.items(), key=lambda kv: -kv[1]))
            triggers.append(Trigger("drift", f"PSI above {policy.max_psi:g}: {listed}"))
    return triggers


def why_not(facts: MonitoringFacts, policy: RetrainPolicy) -> str:
    """A one-line reason for a tick that launches nothing (for the SkipReason)."""
    if facts.latest_day is None:
        return "no clean events yet"
    seen = [m for m in facts.models if m.latest_as_of is not None and m.latest_as_of >= facts.latest_day]
    if facts.models and len(seen) == len(facts.models):
        return f"every model's newest training attempt already covers the latest data ({facts.latest_day})"
    events = max((m.new_clean_events for m in facts.models), default=0)
    worst = max(facts.psi.items(), key=lambda kv: kv[1], default=None)
    drift = f"max PSI {worst[1]:.3f} ({worst[0]})" if worst else "PSI not measured"
    return (
        f"no trigger: {events} new clean events < {policy.min_new_events}, {drift} <= {policy.max_psi:g}, "
        f"champions younger than {policy.max_champion_age_days:g} days"
    )
