"""The contract every model of MODELS keeps, one suite run against each (in the spirit of scikit-learn's
estimator checks): its spec is consistent; it trains on a tiny shop into a version that serves a servable
candidate; its artifact comes back by hash and scores the same; its scores have the columns of its score
table's DDL; unchanged inputs reuse the version; a shop too short for it is NotEnoughData, which the
training asset turns into a skip. The toy fifth model (shop_pipeline_tests/ml/toy_model) runs the same
checks: what a new model must pass."""

import dataclasses
import datetime as dt

import pandas as pd
import pytest
from dagster import AssetSelection, DagsterInstance, materialize

from shop_pipeline.definitions import ASSETS
from shop_pipeline.defs.common import add_partitions, partition_key
from shop_pipeline.defs.models_common import training_asset
from shop_pipeline.defs.skips import not_enough_data_reason
from shop_pipeline.features.tables import default_as_of
from shop_pipeline.ml.common import registry
from shop_pipeline.ml.common.errors import NotEnoughData
from shop_pipeline.ml.common.lifecycle import SERVING_PARAMETER, train_and_register, training_inputs
from shop_pipeline.ml.common.spec import ModelSpec, TrainingRun
from shop_pipeline.ml.models import MODELS
from shop_pipeline.pipeline_run import RANGE_END_TAG, RANGE_START_TAG
from shop_pipeline.resources import Modeling, default_resources
from shop_pipeline.settings import ShopPaths
from shop_pipeline.sql import ddl
from shop_pipeline.synth import GeneratorConfig, generate_shop
from shop_pipeline.warehouse.connection import connect
from shop_pipeline.warehouse.scores import replace_scores
from shop_pipeline_tests.ml import toy_model

SPECS = [*MODELS, toy_model.SPEC]
SETTINGS = Modeling(forecast_horizon_days=7, propensity_horizon_days=14)
DATA = AssetSelection.groups("ingestion", "staging", "features")


def _shop(root, config: GeneratorConfig) -> ShopPaths:
    """A generated shop with its data stages and feature tables written (no model)."""
    paths = ShopPaths.at(root).ensure()
    generate_shop(paths.home, config)
    days = [config.start + dt.timedelta(days=i) for i in range(config.days)]
    instance = DagsterInstance.ephemeral()
    add_partitions(instance, days)
    result = materialize(
        ASSETS,
        selection=DATA,
        resources=default_resources(paths),
        instance=instance,
        raise_on_error=False,
        tags={RANGE_START_TAG: partition_key(days[0]), RANGE_END_TAG: partition_key(days[-1])},
    )
    assert result.success
    return paths


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> ShopPaths:
    return _shop(tmp_path_factory.mktemp("contract-shop"), GeneratorConfig(events=20_000, days=50, seed=5))


@pytest.fixture(scope="module")
def short_shop(tmp_path_factory) -> ShopPaths:
    return _shop(tmp_path_factory.mktemp("contract-short-shop"), GeneratorConfig(events=600, days=3, seed=5))


@pytest.fixture(scope="module")
def registered(shop):
    """spec -> (registration, as_of): each model trained and registered once on the shop, when first asked."""
    done = {}

    def get(spec: ModelSpec):
        if spec.name not in done:
            with connect(shop.warehouse) as con:
                registry.ensure_registry_schema(con)
                as_of = default_as_of(con)
                training = training_inputs(
                    con,
                    spec.name,
                    tables=dict(spec.training_inputs),
                    settings=spec.training_settings(SETTINGS),
                    as_of=as_of,
                    models_dir=shop.models,
                )
                done[spec.name] = (
                    train_and_register(con, spec, as_of, SETTINGS, training=training, models_dir=shop.models),
                    as_of,
                )
        return done[spec.name]

    return get


def _ids(spec: ModelSpec) -> str:
    return spec.name


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_the_spec_is_consistent(spec):
    assert spec.name == spec.training_asset.removesuffix("_model") == spec.champion_asset.removesuffix("_champion")
    assert set(spec.servable) <= set(spec.candidates) and set(spec.references) <= set(spec.candidates)
    assert not set(spec.servable) & set(spec.references)
    assert spec.default_candidate in spec.candidates
    assert spec.gate_metric in spec.reported_metrics
    assert spec.score_table.startswith("scoring.") and spec.score_table in ddl.tables()
    assert set(spec.training_inputs) | set(spec.scoring_inputs) <= set(ddl.tables())
    assert all(callable(getattr(spec.artifact, name, None)) for name in ("to_artifact", "from_artifact"))
    assert (spec.online is None) == (spec.snapshot_export is None)
    assert (spec.drift is None) == (not spec.drift_features)
    assert spec.training_description and spec.gate_description and spec.scoring_description


def test_the_models_have_distinct_names_and_tables():
    assert len({spec.name for spec in SPECS}) == len({spec.score_table for spec in SPECS}) == len(SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_it_trains_a_version_that_serves_a_servable_candidate(spec, registered, shop):
    registration, _ = registered(spec)
    run, trained = registration.run, registration.trained
    assert isinstance(run, TrainingRun)
    assert run.serving_candidate in spec.servable
    with connect(shop.warehouse) as con:
        row = registry.get_version(con, spec.name, trained.version)
        recorded = registry.evaluations(con, spec.name, trained.version)
    assert row is not None and row.parameters[SERVING_PARAMETER] == run.serving_candidate
    assert set(spec.servable) & set(recorded)  # the servable candidates were measured
    if run.mode is None or run.mode != spec.unmeasured_mode:
        assert recorded[run.serving_candidate][spec.gate_metric] is not None


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_the_artifact_comes_back_by_hash_and_scores_the_same_rows_with_the_ddl_columns(spec, registered, shop):
    registration, as_of = registered(spec)
    with connect(shop.warehouse) as con:
        row = registry.get_version(con, spec.name, registration.trained.version)
        loaded = spec.load(con, row, shop.models)  # refused unless its bytes hash to the registered SHA-256
        assert type(loaded) is spec.artifact
        scores = spec.score(con, loaded, row, as_of, SETTINGS)
        fresh = spec.score(con, registration.run.fitted, row, as_of, SETTINGS)
        assert set(scores.columns) == set(ddl.column_names(spec.score_table))
        assert len(scores) > 0
        pd.testing.assert_frame_equal(scores, fresh)
        assert replace_scores(con, spec.score_table, scores) == len(scores)


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_unchanged_inputs_reuse_the_registered_version(spec, registered, shop):
    registration, as_of = registered(spec)
    with connect(shop.warehouse) as con:
        again = training_inputs(
            con,
            spec.name,
            tables=dict(spec.training_inputs),
            settings=spec.training_settings(SETTINGS),
            as_of=as_of,
            models_dir=shop.models,
        )
    assert again.reusable is not None and again.reusable.version == registration.trained.version


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_a_too_short_shop_trains_or_is_not_enough_data(spec, short_shop):
    """Nothing else: a model on too little data says so in one line (or trains what it can, unmeasured)."""
    with connect(short_shop.warehouse) as con:
        registry.ensure_registry_schema(con)
        try:
            run = spec.train(con, default_as_of(con), SETTINGS)
        except NotEnoughData as short:
            assert str(short).strip() and "\n" not in str(short).strip()
        else:
            assert run.serving_candidate in spec.servable


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_not_enough_data_turns_the_training_asset_into_a_skip(spec, short_shop):
    def too_short(con, as_of, settings):
        raise NotEnoughData(f"{spec.name}: the shop is too short (contract test)")

    result = materialize(
        [training_asset(dataclasses.replace(spec, train=too_short))],
        resources=default_resources(short_shop),
        instance=DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert not_enough_data_reason(failure) == f"{spec.name}: the shop is too short (contract test)"
