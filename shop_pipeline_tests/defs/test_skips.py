"""A model without enough data is skipped with its one line; what depends on it is not run, the rest is.

A tiny graph in-process (no warehouse): an upstream asset, a model that raises NotEnoughData, an
asset downstream of the model, and a sibling branch that must still materialize.
"""

import pytest
from dagster import AssetCheckResult, AssetCheckSpec, AssetKey, Failure, MaterializeResult, asset, materialize

from shop_pipeline.defs.models_common import skips_when_data_is_short
from shop_pipeline.defs.skips import NOT_ENOUGH_DATA, not_enough_data_reason
from shop_pipeline.ml.common.errors import NotEnoughData

REASON = "demand forecast: needs 28 days of history before the cut-off, has 14"


@asset
def history():
    return 1


@asset(deps=[history])
@skips_when_data_is_short
def short_model(context):
    raise NotEnoughData(REASON)


@asset(deps=[history])
@skips_when_data_is_short
def short_gate(context):
    yield from ()  # a generator asset, like the promotion gates that yield their check result
    raise NotEnoughData("gate: nothing to compare")


@asset(deps=[history])
def bare_model():
    raise NotEnoughData("recommendations: no purchase before the test window")


@asset(deps=[history])
@skips_when_data_is_short
def broken_model():
    try:
        raise NotEnoughData("an inner reason")
    except NotEnoughData as error:
        raise RuntimeError("the model store is unreachable") from error


@asset(deps=[short_model])
def short_model_scores():
    return 2


@asset(deps=[history])
def sibling_scores():
    return 3


def _failures(result) -> dict[str, str | None]:
    return {e.step_key: not_enough_data_reason(e) for e in result.all_events if e.is_step_failure}


def test_a_model_without_enough_data_is_skipped_with_its_line_and_the_other_branches_are_written():
    result = materialize(
        [history, short_model, short_gate, bare_model, broken_model, short_model_scores, sibling_scores],
        raise_on_error=False,
    )
    reasons = _failures(result)
    assert reasons == {
        "short_model": REASON,
        "short_gate": "gate: nothing to compare",
        "bare_model": "recommendations: no purchase before the test window",  # no wrapper: still recognised
        "broken_model": None,  # a real error raised from a NotEnoughData is a real failure
    }
    written = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert written == {"history", "sibling_scores"}  # short_model_scores depends on the skipped model

    # what the Dagster UI shows on the step: the reason as the failure's description, and metadata
    failure = next(e for e in result.all_events if e.is_step_failure and e.step_key == "short_model")
    user = failure.step_failure_data.user_failure_data
    assert user.description == REASON
    assert user.metadata[NOT_ENOUGH_DATA].value is True


@asset(deps=[history])
@skips_when_data_is_short
def failed_audit():  # what an audited write raises when its suite fails (defs/features.build_audited)
    raise Failure(description="customer_features_suite failed; the last good table stays")


@asset(deps=[history], check_specs=[AssetCheckSpec("raw_suite", asset="failed_check", blocking=True)])
@skips_when_data_is_short
def failed_check():
    yield AssetCheckResult(check_name="raw_suite", passed=False)
    yield MaterializeResult()


def test_a_failed_audit_or_blocking_check_is_a_real_failure_not_a_skip():
    """Only NotEnoughData is a skip: any other Failure (a failed suite, a failed blocking check),
    even from a model asset wearing the wrapper, reads back as a real failure."""
    result = materialize([history, short_model, failed_audit, failed_check], raise_on_error=False)
    assert _failures(result) == {"short_model": REASON, "failed_audit": None, "failed_check": None}


def test_the_wrapper_keeps_the_function_and_lets_other_errors_through():
    @skips_when_data_is_short
    def plain(context, warehouse=None):
        """doc"""
        raise KeyError("unrelated")

    assert plain.__name__ == "plain" and plain.__doc__ == "doc"
    with pytest.raises(KeyError):
        plain(None)

    @skips_when_data_is_short
    def generator(context):
        yield 1
        raise NotEnoughData("too short")

    steps = generator(None)
    assert next(steps) == 1
    with pytest.raises(Failure) as failure:
        next(steps)
    assert failure.value.description == "too short"
    assert isinstance(failure.value.__cause__, NotEnoughData)
    assert AssetKey("short_model") in short_model.keys  # the decorated asset keeps its name


def test_every_model_asset_wears_the_wrapper():
    """Training, gates, and the scores computed from a champion: a shop too short for the model
    skips each of them with its line (the UI shows it as the step's failure description)."""
    from shop_pipeline.definitions import build_definitions
    from shop_pipeline.defs.skips import WRAPPED_MARK

    definitions = build_definitions()
    graph = definitions.resolve_asset_graph()
    evaluation = {key for key in graph.get_all_asset_keys() if graph.get(key).group_name == "evaluation"}
    model_assets = {
        key
        for key in graph.get_all_asset_keys()
        if graph.get(key).group_name in ("training", "evaluation")
        or (graph.get(key).group_name == "scoring" and graph.get(key).parent_keys & evaluation)
    }
    assert {"demand_forecast_model", "propensity_champion", "order_risk_scores"} <= {
        key.to_user_string() for key in model_assets
    }
    unwrapped = sorted(
        key.to_user_string()
        for key in model_assets
        if not getattr(definitions.get_assets_def(key).op.compute_fn.decorated_fn, WRAPPED_MARK, False)
    )
    assert unwrapped == [], f"add @skips_when_data_is_short under @asset of: {', '.join(unwrapped)}"
