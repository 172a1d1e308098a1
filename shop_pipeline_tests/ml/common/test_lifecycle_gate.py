"""A model version's life, unit by unit (no Dagster, no shop): what a training reads and why it
trains or reuses, registering a trained version with its comparisons, the promotion gate over the
recorded evaluations, and how the current champion is compared."""

from __future__ import annotations

import datetime as dt
from importlib import metadata

import duckdb
import pytest

from shop_pipeline.ml.common import lifecycle, registry

NAME = "propensity"
AS_OF = dt.date(2025, 3, 31)
SETTINGS = {"seed": 0, "horizon_days": 14}
WINDOW = (dt.date(2025, 3, 1), dt.date(2025, 3, 31))


@pytest.fixture()
def con():
    c = duckdb.connect()
    c.execute("SET TimeZone = 'UTC'")
    registry.ensure_registry_schema(c)
    c.execute("CREATE SCHEMA features")
    c.execute("CREATE TABLE features.customers (customer_id INT, day DATE, spend DOUBLE)")
    c.execute("INSERT INTO features.customers VALUES (1, DATE '2025-03-01', 10), (2, DATE '2025-03-30', 20)")
    c.execute("CREATE TABLE features.labels (customer_id INT, bought BOOLEAN)")
    c.execute("INSERT INTO features.labels VALUES (1, true)")
    yield c
    c.close()


TABLES = {"features.customers": "day <= $as_of", "features.labels": ""}


def _register(con, models, version, *, training=None, parameters=None, trained_at=None, train_end=None):
    path, sha = registry.save_model({"version": version}, models, NAME, version)
    return registry.register(
        con,
        model_name=NAME,
        version=version,
        artifact_path=path,
        models_dir=models,
        sha256=sha,
        features=["a"],
        parameters=parameters or {},
        as_of=AS_OF,
        trained_at=trained_at,
        train_end=train_end,
        training_key=training.key if training else None,
        training_inputs=training.inputs if training else None,
    )


def _inputs(con, models, settings=SETTINGS, as_of=AS_OF, tables=TABLES):
    return lifecycle.training_inputs(con, NAME, tables=tables, settings=settings, as_of=as_of, models_dir=models)


# -- serving candidate --------------------------------------------------------------------------


def test_a_version_serves_the_candidate_its_parameters_name_else_the_default(con, tmp_path):
    chosen = _register(con, tmp_path, "v1", parameters={lifecycle.SERVING_PARAMETER: "logistic_rfm"})
    older = _register(con, tmp_path, "v0", parameters={"C": 1.0})
    assert lifecycle.serving_candidate(chosen, "hgb") == "logistic_rfm"
    assert lifecycle.serving_candidate(older, "hgb") == "hgb"


# -- what a training reads, and why it trains -----------------------------------------------------


def test_the_code_version_changes_with_model_code_and_library_versions_only(tmp_path, monkeypatch):
    """An edited model or feature module, a new query, a renamed file or another library version
    gives another code version; files that are not code do not."""
    package = tmp_path / "pkg"
    (package / "ml" / "sub").mkdir(parents=True)
    (package / "sql").mkdir()
    (package / "ml" / "model.py").write_text("x = 1\n")
    (package / "ml" / "sub" / "deep.py").write_text("y = 2\n")
    (package / "sql" / "q.sql").write_text("SELECT 1\n")
    monkeypatch.setattr(lifecycle, "_PACKAGE", package)
    version = lifecycle.code_version.__wrapped__  # not the process-wide cache

    base = version(("ml", "sql"))
    assert len(base) == 64 and base == version(("ml", "sql"))
    (package / "ml" / "notes.txt").write_text("not code")
    (package / "ml" / "data.csv").write_text("a,b")
    assert version(("ml", "sql")) == base, "files other than .py and .sql are not code"
    (package / "sql" / "dir.sql").mkdir()
    assert version(("ml", "sql")) == base, "a folder named like a query is not code"
    assert version(("ml",)) != base, "the sql folder counts"

    (package / "ml" / "sub" / "deep.py").write_text("y = 3\n")
    edited = version(("ml", "sql"))
    assert edited != base, "an edited module in a sub-folder"
    (package / "sql" / "q.sql").write_text("SELECT 2\n")
    assert version(("ml", "sql")) != edited, "an edited query"
    (package / "sql" / "q.sql").write_text("SELECT 1\n")
    (package / "ml" / "sub" / "deep.py").write_text("y = 2\n")
    assert version(("ml", "sql")) == base
    (package / "ml" / "sub" / "deep.py").rename(package / "ml" / "sub" / "moved.py")
    assert version(("ml", "sql")) != base, "a module moved to another name"
    (package / "ml" / "sub" / "moved.py").rename(package / "ml" / "sub" / "deep.py")
    assert version(("ml", "sql")) == base

    real = metadata.version
    for library in lifecycle.LIBRARIES:
        monkeypatch.setattr(
            lifecycle.metadata,
            "version",
            lambda name, library=library: "0.0.0-other" if name == library else real(name),
        )
        assert version(("ml", "sql")) != base, f"another {library}"

    def missing(name):
        if name == "skops":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(lifecycle.metadata, "version", missing)
    gone = version(("ml", "sql"))
    assert gone not in (base, version(("ml",)))

    def also_missing(name):
        if name in ("skops", "scipy"):
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(lifecycle.metadata, "version", also_missing)
    assert version(("ml", "sql")) != gone, "each missing library counts"


def test_the_real_code_version_reads_the_model_feature_and_sql_code():
    assert lifecycle.code_version() == lifecycle.code_version(lifecycle.CODE_FOLDERS)
    assert lifecycle.code_version() != lifecycle.code_version(("ml",))
    assert lifecycle.code_version() != lifecycle.code_version(("ml", "features"))


def test_the_training_key_changes_with_each_input_and_records_its_parts(con, tmp_path):
    key, inputs = lifecycle.inputs_key(con, tables=TABLES, settings=SETTINGS, as_of=AS_OF)
    assert len(key) == 64
    assert list(inputs["tables"]) == ["features.customers", "features.labels"]
    assert inputs["tables"]["features.customers"] == "2:" + str(
        con.execute("SELECT bit_xor(hash(t)) FROM features.customers t").fetchone()[0]
    )
    assert inputs["settings"] == {"seed": 0, "horizon_days": 14, "as_of": "2025-03-31"}
    assert inputs["code"] == lifecycle.code_version()
    assert (key, inputs) == lifecycle.inputs_key(
        con, tables=dict(reversed(TABLES.items())), settings={"horizon_days": 14, "seed": 0}, as_of=AS_OF
    )

    # the filter with $as_of reads only the rows up to the cut-off
    _, early = lifecycle.inputs_key(con, tables=TABLES, settings=SETTINGS, as_of=dt.date(2025, 3, 15))
    assert early["tables"]["features.customers"].startswith("1:")
    keys = {key}
    keys.add(lifecycle.inputs_key(con, tables=TABLES, settings=SETTINGS, as_of=dt.date(2025, 3, 15))[0])
    keys.add(lifecycle.inputs_key(con, tables=TABLES, settings={**SETTINGS, "seed": 1}, as_of=AS_OF)[0])
    keys.add(lifecycle.inputs_key(con, tables=TABLES, settings=SETTINGS, as_of=AS_OF, code=("ml",))[0])
    con.execute("INSERT INTO features.labels VALUES (2, false)")
    keys.add(lifecycle.inputs_key(con, tables=TABLES, settings=SETTINGS, as_of=AS_OF)[0])
    assert len(keys) == 5
    # a row after the cut-off is not read by a training at that cut-off
    con.execute("DELETE FROM features.labels WHERE customer_id = 2")
    con.execute("INSERT INTO features.customers VALUES (3, DATE '2025-04-02', 5)")
    assert lifecycle.inputs_key(con, tables=TABLES, settings=SETTINGS, as_of=AS_OF)[0] == key


def test_each_reason_to_train_names_what_changed(con, tmp_path):
    models = tmp_path / "models"
    first = _inputs(con, models)
    assert (first.reusable, first.reason) == (None, "trained: no earlier version")

    _register(con, models, "v0", trained_at=dt.datetime(2025, 3, 1))  # from before training keys
    assert _inputs(con, models).reason == "trained: v0 records no training inputs"

    _register(con, models, "v1", training=first, trained_at=dt.datetime(2025, 3, 2))
    same = _inputs(con, models)
    assert same.key == first.key and same.reusable.version == "v1" and same.inputs == first.inputs
    assert same.reason == (
        "training inputs unchanged since v1 (input tables, settings and code): reused, not trained again"
    )

    earlier = _inputs(con, models, as_of=dt.date(2025, 3, 15))  # another cut-off reads fewer rows
    assert earlier.reusable is None
    assert earlier.reason == "trained: changed since v1: features.customers, setting as_of"
    con.execute("INSERT INTO features.labels VALUES (2, false)")
    assert _inputs(con, models).reason == "trained: changed since v1: features.labels"
    changed = _inputs(con, models, settings={**SETTINGS, "seed": 1, "extra": True})
    assert changed.reusable is None
    assert changed.reason == "trained: changed since v1: features.labels, setting extra, setting seed"
    con.execute("DELETE FROM features.labels WHERE customer_id = 2")
    dropped = _inputs(con, models, settings={"seed": 0}, tables={"features.customers": "day <= $as_of"})
    assert dropped.reason == "trained: changed since v1: features.labels, setting horizon_days"
    # v1 was trained by other code (its key differs too)
    con.execute(
        "UPDATE ml.model_registry SET training_key = 'older', training_inputs = "
        "json_merge_patch(training_inputs, '{\"code\": \"older\"}') WHERE version = 'v1'"
    )
    assert _inputs(con, models).reason == "trained: changed since v1: code or library versions"
    # a record holding only some of the parts (another shape): everything it lacks counts as changed
    con.execute("""UPDATE ml.model_registry SET training_inputs = '{"code": "older"}' WHERE version = 'v1'""")
    assert _inputs(con, models).reason == (
        "trained: changed since v1: features.customers, features.labels, "
        "setting as_of, setting horizon_days, setting seed, "
        "code or library versions"
    )


def test_the_previous_version_compared_is_the_latest_trained(con, tmp_path):
    models = tmp_path / "models"
    first = _inputs(con, models)
    _register(con, models, "v1", training=first, trained_at=dt.datetime(2025, 3, 2))
    _register(con, models, "v2", trained_at=dt.datetime(2025, 3, 3))
    _register(con, models, "v0", trained_at=dt.datetime(2025, 3, 1))
    con.execute("INSERT INTO features.labels VALUES (2, false)")
    assert _inputs(con, models).reason == "trained: v2 records no training inputs"
    assert registry.latest_trained(con, NAME).version == "v2"
    _register(con, models, "v3", trained_at=dt.datetime(2025, 3, 3))  # same second: the later version
    assert registry.latest_trained(con, NAME).version == "v3"
    assert registry.latest_trained(con, "other") is None


def test_reuse_takes_the_newest_intact_version_and_records_when(con, tmp_path):
    models = tmp_path / "models"
    inputs = _inputs(con, models)
    _register(con, models, "v1", training=inputs, trained_at=dt.datetime(2025, 3, 2))
    _register(con, models, "v2", training=inputs, trained_at=dt.datetime(2025, 3, 3))
    _register(con, models, "v0", training=inputs, trained_at=dt.datetime(2025, 3, 1))
    again = _inputs(con, models)
    assert again.reusable.version == "v2"
    before = registry.utc_now()
    row = lifecycle.reuse_version(con, again)
    assert row.version == "v2"
    reused = {r.version: r.reused_at for r in registry.versions(con, NAME)}
    assert reused["v0"] is None and reused["v1"] is None
    assert before <= reused["v2"] <= registry.utc_now()
    registry.mark_reused(con, NAME, "v1", at=dt.datetime(2025, 4, 1, 6))
    assert registry.get_version(con, NAME, "v1").reused_at == dt.datetime(2025, 4, 1, 6)
    with pytest.raises(ValueError, match=r"^nothing to reuse: the training inputs changed$"):
        lifecycle.reuse_version(con, lifecycle.TrainingInputs("k", {}, None, "trained: no earlier version"))

    (models / NAME / "v2.skops").unlink()  # the newest is gone: the next one serves
    assert _inputs(con, models).reusable.version == "v1"
    _register(con, models, "v3", training=inputs, trained_at=dt.datetime(2025, 3, 2))
    assert _inputs(con, models).reusable.version == "v3", "same second: the later version"


# -- registering a trained version ----------------------------------------------------------------


def _trained(
    con, models, *, metrics=None, champion_metrics=None, champion_version=None, training=None, parameters=None
):
    return lifecycle.register_trained(
        con,
        models_dir=models,
        model_name=NAME,
        artifact={"weights": [1, 2, 3]},
        parameters=parameters or {"C": 1.0, lifecycle.SERVING_PARAMETER: "hgb"},
        features=["a", "b"],
        window=WINDOW,
        train_start=dt.date(2025, 1, 1),
        train_end=dt.date(2025, 2, 28),
        as_of=AS_OF,
        metrics=metrics or {"hgb": {"roc_auc": 0.8}, "random": {"roc_auc": 0.5}},
        champion_metrics=champion_metrics,
        champion_version=champion_version,
        notes="why",
        training=training,
    )


def test_a_trained_version_is_numbered_saved_registered_and_its_comparisons_recorded(con, tmp_path):
    models = tmp_path / "models"
    training = _inputs(con, models)
    before = registry.utc_now()
    trained = _trained(con, models, champion_metrics={"roc_auc": 0.7}, champion_version="v0", training=training)
    stamp, _digest = trained.version.split("-")
    at = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%S")
    assert before <= at <= registry.utc_now()
    assert trained.version == registry.make_version({"C": 1.0, lifecycle.SERVING_PARAMETER: "hgb"}, (WINDOW, AS_OF), at)
    assert trained.model_name == NAME and trained.champion_version == "v0"
    assert trained.artifact_path == str(models / NAME / f"{trained.version}.skops")
    assert trained.sha256 == registry.file_sha256(trained.artifact_path)
    assert trained.metrics == {"hgb": {"roc_auc": 0.8}, "random": {"roc_auc": 0.5}, "champion": {"roc_auc": 0.7}}

    row = registry.get_version(con, NAME, trained.version)
    assert row.artifact_path == f"{NAME}/{trained.version}.skops" and row.sha256 == trained.sha256
    assert (row.train_start, row.train_end, row.as_of) == (dt.date(2025, 1, 1), dt.date(2025, 2, 28), AS_OF)
    assert row.features == ["a", "b"] and row.notes == "why" and not row.is_champion
    assert row.parameters == {"C": 1.0, lifecycle.SERVING_PARAMETER: "hgb"}
    assert lifecycle.serving_candidate(row, "random") == "hgb"
    assert row.training_key == training.key and row.training_inputs == training.inputs
    assert registry.load_model(con, NAME, trained.version, models_dir=models) == {"weights": [1, 2, 3]}
    assert registry.evaluations(con, NAME, trained.version) == trained.metrics
    windows = con.execute("SELECT DISTINCT window_start, window_end FROM ml.model_evaluations").fetchall()
    assert windows == [WINDOW]
    assert _inputs(con, models).reusable.version == trained.version, "the same inputs reuse it"


def test_a_first_version_has_no_champion_comparison_and_no_training_key(con, tmp_path):
    metrics = {"hgb": {"roc_auc": 0.8}}
    trained = _trained(con, tmp_path, metrics=metrics)
    assert trained.metrics == metrics and trained.champion_version is None
    assert metrics == {"hgb": {"roc_auc": 0.8}}, "the caller's metrics are not changed"
    row = registry.get_version(con, NAME, trained.version)
    assert row.training_key is None and row.training_inputs is None
    assert registry.evaluations(con, NAME, trained.version) == metrics


# -- the promotion gate ---------------------------------------------------------------------------

SERVABLE = ["logistic_rfm", "hgb"]
REFERENCES = ["random"]


def _version(con, models, version, metrics, serving="hgb"):
    _register(con, models, version, parameters={lifecycle.SERVING_PARAMETER: serving} if serving else {})
    registry.record_evaluations(con, NAME, version, metrics)


def _gate(con, version, *, higher=True, margin=0.01, reused=False, servable=SERVABLE, references=REFERENCES):
    return lifecycle.gate_and_promote(
        con,
        model_name=NAME,
        version=version,
        servable=servable,
        references=references,
        metric="auc",
        higher_is_better=higher,
        min_improvement=margin,
        reused=reused,
    )


def test_the_gate_promotes_a_challenger_that_beats_baselines_and_champion_by_the_margin(con, tmp_path):
    _version(con, tmp_path, "v1", {"hgb": {"auc": 0.80}, "logistic_rfm": {"auc": 0.75}, "random": {"auc": 0.5}})
    decision, champ = _gate(con, "v1")
    assert decision.promote and champ.version == "v1" and champ.is_champion
    assert decision.reasons[0] == "version v1 serves hgb (best auc of logistic_rfm, hgb)"
    assert {c.name for c in decision.comparisons} == {"random", "logistic_rfm"}

    # the next version beats the champion, but not by 1%: the champion stays
    _version(
        con,
        tmp_path,
        "v2",
        {"hgb": {"auc": 0.805}, "logistic_rfm": {"auc": 0.75}, "random": {"auc": 0.5}, "champion": {"auc": 0.80}},
    )
    decision, champ = _gate(con, "v2")
    assert not decision.promote and champ.version == "v1"
    assert any(r.startswith("FAIL vs champion") for r in decision.reasons)
    # by the margin: promoted
    _version(
        con,
        tmp_path,
        "v3",
        {"hgb": {"auc": 0.82}, "logistic_rfm": {"auc": 0.75}, "random": {"auc": 0.5}, "champion": {"auc": 0.80}},
    )
    decision, champ = _gate(con, "v3")
    assert decision.promote and champ.version == "v3"
    assert [r.version for r in registry.versions(con, NAME) if r.is_champion] == ["v3"]


def test_the_gate_refuses_a_challenger_that_does_not_beat_a_baseline(con, tmp_path):
    _version(con, tmp_path, "v1", {"hgb": {"auc": 0.50}, "logistic_rfm": {"auc": 0.45}, "random": {"auc": 0.5}})
    decision, champ = _gate(con, "v1")
    assert not decision.promote and champ is None
    assert decision.reasons[-1] == "REFUSE: does not beat baseline random"
    # lower is better: the same numbers now pass
    decision, champ = _gate(con, "v1", higher=False, servable=["hgb", "logistic_rfm"])
    assert not decision.promote, "logistic_rfm (lower) is better than the served hgb"
    _version(con, tmp_path, "v2", {"hgb": {"auc": 0.40}, "logistic_rfm": {"auc": 0.45}, "random": {"auc": 0.5}})
    decision, champ = _gate(con, "v2", higher=False)
    assert decision.promote and champ.version == "v2"


def test_the_served_candidate_must_be_at_least_as_good_as_the_other_servable_ones(con, tmp_path):
    # serves the baseline because it measured best: the boosted model is an alternative, not a bar
    _version(
        con,
        tmp_path,
        "v1",
        {"hgb": {"auc": 0.70}, "logistic_rfm": {"auc": 0.75}, "random": {"auc": 0.5}},
        serving="logistic_rfm",
    )
    decision, champ = _gate(con, "v1")
    assert decision.promote and champ.version == "v1"
    assert decision.reasons[0] == "version v1 serves logistic_rfm (best auc of logistic_rfm, hgb)"
    assert [(c.role, c.name) for c in decision.comparisons if c.role != "baseline"] == [("alternative", "hgb")]
    # an equal alternative is no reason to refuse (no margin between a run's own candidates)
    _version(
        con,
        tmp_path,
        "v2",
        {"hgb": {"auc": 0.75}, "logistic_rfm": {"auc": 0.75}, "random": {"auc": 0.5}},
        serving="logistic_rfm",
    )
    assert _gate(con, "v2", margin=0.0)[0].promote
    # a served candidate worse than another servable one is refused
    _version(
        con,
        tmp_path,
        "v3",
        {"hgb": {"auc": 0.80}, "logistic_rfm": {"auc": 0.75}, "random": {"auc": 0.5}, "champion": {"auc": 0.5}},
        serving="logistic_rfm",
    )
    decision, champ = _gate(con, "v3")
    assert not decision.promote and champ.version == "v2"


def test_a_version_from_before_the_serving_choice_serves_the_last_servable_candidate(con, tmp_path):
    _version(
        con,
        tmp_path,
        "v1",
        {"hgb": {"auc": 0.80}, "logistic_rfm": {"auc": 0.75}, "ease": {"auc": 0.7}, "random": {"auc": 0.5}},
        serving=None,
    )
    decision, _ = _gate(con, "v1", servable=["ease", "logistic_rfm", "hgb"])
    assert decision.promote and decision.reasons[0] == "version v1 serves hgb (best auc of ease, logistic_rfm, hgb)"


def test_the_gate_refuses_when_a_candidate_was_not_evaluated(con, tmp_path):
    _version(con, tmp_path, "v1", {"hgb": {"auc": 0.80}, "random": {"auc": 0.5}})
    decision, champ = _gate(con, "v1", references=["random", "popular"])
    assert decision.promote is False and champ is None  # False, as the gate's metadata records it
    assert decision.reasons[-1] == "REFUSE: candidates not evaluated: popular, logistic_rfm"
    assert decision.table_markdown and [c.name for c in decision.comparisons] == ["random"]
    assert registry.champion(con, NAME) is None


def test_the_gate_needs_the_version_and_its_serving_candidate_evaluated(con, tmp_path):
    with pytest.raises(LookupError, match="v9 is not in the registry"):
        _gate(con, "v9")
    _version(con, tmp_path, "v1", {"logistic_rfm": {"auc": 0.80}})
    with pytest.raises(LookupError, match="no evaluation of its serving candidate 'hgb'"):
        _gate(con, "v1")
    assert registry.champion(con, NAME) is None


def test_a_reused_champion_is_kept_and_not_promoted_again(con, tmp_path):
    metrics = {"hgb": {"auc": 0.80}, "logistic_rfm": {"auc": 0.75}, "random": {"auc": 0.5}}
    _version(con, tmp_path, "v1", metrics)
    registry.promote(con, NAME, "v1", promoted_at=dt.datetime(2025, 3, 1))
    decision, champ = _gate(con, "v1", reused=True)
    assert decision.promote is False and champ.version == "v1"
    assert champ.promoted_at == dt.datetime(2025, 3, 1)
    assert decision.reasons[0] == (
        "KEEP: v1 is the champion and its training inputs are unchanged (reused, not trained again)"
    )
    assert decision.reasons[1].startswith("version v1 serves hgb")
    assert decision.comparisons and decision.table_markdown
    # a reused version that is not the champion goes through the gate as any other
    _version(con, tmp_path, "v2", {**metrics, "hgb": {"auc": 0.9}, "champion": {"auc": 0.80}})
    decision, champ = _gate(con, "v2", reused=True)
    assert decision.promote and champ.version == "v2"
    assert decision.reasons[0].startswith("version v2 serves hgb")
    # not reused (the default): the champion is measured again like any version (and stays)
    decision, champ = lifecycle.gate_and_promote(
        con,
        model_name=NAME,
        version="v2",
        servable=SERVABLE,
        references=REFERENCES,
        metric="auc",
        higher_is_better=True,
        min_improvement=0.01,
    )
    assert decision.promote and champ.version == "v2" and decision.reasons[0].startswith("version v2 serves")


# -- the champion the gate compares with ----------------------------------------------------------


def test_the_champion_is_measured_on_the_new_window_only_when_it_never_saw_it(con, tmp_path):
    assert lifecycle.champion_comparison(con, NAME, WINDOW[0], "hgb", measure=None) == (
        lifecycle.ChampionComparison(None, None, "no champion yet")
    )

    _register(con, tmp_path, "v1", train_end=dt.date(2025, 2, 28), parameters={lifecycle.SERVING_PARAMETER: "lr"})
    registry.record_evaluations(con, NAME, "v1", {"lr": {"auc": 0.7}, "hgb": {"auc": 0.6}})
    registry.promote(con, NAME, "v1")
    measured = []

    def measure(row):
        measured.append(row.version)
        return {"auc": 0.65}

    before = lifecycle.champion_comparison(con, NAME, dt.date(2025, 3, 1), "hgb", measure)
    assert before == lifecycle.ChampionComparison("v1", {"auc": 0.65}, "champion v1 measured on this window")
    assert measured == ["v1"]

    inside = lifecycle.champion_comparison(con, NAME, dt.date(2025, 2, 28), "hgb", measure)
    assert measured == ["v1"], "a champion that saw the window's labels is not measured on it"
    assert inside.version == "v1" and inside.metrics == {"auc": 0.7}, "its served candidate's own metrics"
    assert inside.note == (
        "champion v1 was trained on data up to 2025-02-28, inside this window: "
        "compared with its own held-out metrics from its registration"
    )


def test_a_champion_without_a_training_end_is_compared_with_its_recorded_metrics(con, tmp_path):
    _register(con, tmp_path, "v1")
    registry.record_evaluations(con, NAME, "v1", {"hgb": {"auc": 0.7}})
    registry.promote(con, NAME, "v1")
    got = lifecycle.champion_comparison(con, NAME, WINDOW[0], "hgb", measure=None)
    assert got.version == "v1" and got.metrics == {"auc": 0.7}
    assert "up to None" in got.note
