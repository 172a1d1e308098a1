"""How a skip reads: the Failure a NotEnoughData becomes (its line, metadata, no retries), and
not_enough_data_reason on step failures as Dagster records them (wrapper, bare error, real errors)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from dagster import Failure, MetadataValue

from shop_pipeline.defs import skips
from shop_pipeline.defs.skips import (
    NOT_ENOUGH_DATA,
    REASON,
    WRAPPED_MARK,
    not_enough_data_reason,
    skips_when_data_is_short,
)
from shop_pipeline.ml.common.errors import NotEnoughData


def _raise_from(function, *args):
    with pytest.raises(Failure) as caught:
        result = function(*args)
        if hasattr(result, "__next__"):
            list(result)
    return caught.value


@pytest.mark.parametrize("generator", [False, True])
def test_the_failure_carries_the_line_the_metadata_and_no_retry(generator):
    if generator:

        def demand_model(context):
            yield 1
            raise NotEnoughData("  demand forecast: needs 28 days, has 14  ")
    else:

        def demand_model(context):
            raise NotEnoughData("  demand forecast: needs 28 days, has 14  ")

    wrapped = skips_when_data_is_short(demand_model)
    assert getattr(wrapped, WRAPPED_MARK) is True
    assert wrapped.__name__ == "demand_model"
    failure = _raise_from(wrapped, None)
    assert failure.description == "demand forecast: needs 28 days, has 14"
    assert failure.allow_retries is False
    assert failure.metadata[NOT_ENOUGH_DATA] == MetadataValue.bool(True)
    assert failure.metadata[REASON] == MetadataValue.text("demand forecast: needs 28 days, has 14")
    assert failure.metadata["what_happens"] == MetadataValue.text(
        "this model and what depends on it are skipped; every other table is written"
    )
    assert isinstance(failure.__cause__, NotEnoughData)


@pytest.mark.parametrize("generator", [False, True])
def test_an_empty_reason_names_the_step(generator):
    if generator:

        def propensity_model():
            yield from ()
            raise NotEnoughData("   ")
    else:

        def propensity_model():
            raise NotEnoughData("")

    failure = _raise_from(skips_when_data_is_short(propensity_model))
    assert failure.description == "propensity_model: not enough data"


def test_a_wrapped_function_passes_its_arguments_and_result_through():
    @skips_when_data_is_short
    def plain(a, b=0):
        return a + b

    @skips_when_data_is_short
    def generator(a, b=0):
        yield a
        yield b

    assert plain(1, b=2) == 3
    assert list(generator(1, b=2)) == [1, 2]
    assert getattr(generator, WRAPPED_MARK) is True
    with pytest.raises(ValueError):
        list(skips_when_data_is_short(lambda: (yield int("x")))())


# --- reading a step failure back -------------------------------------------------------


def _error(cls_name, message, cause=None):
    return SimpleNamespace(cls_name=cls_name, message=message, cause=cause)


def _event(user=None, error=None):
    return SimpleNamespace(step_failure_data=SimpleNamespace(user_failure_data=user, error=error))


def _user(description, flag):
    return SimpleNamespace(description=description, metadata={} if flag is None else {NOT_ENOUGH_DATA: flag})


@pytest.mark.parametrize("flag", [True, MetadataValue.bool(True)])
def test_the_wrappers_failure_reads_back_as_its_line(flag):
    assert not_enough_data_reason(_event(_user("  gate: nothing to compare \n", flag))) == "gate: nothing to compare"
    assert not_enough_data_reason(_event(_user(None, flag))) == "not enough data"
    assert not_enough_data_reason(_event(_user("   ", flag))) == "not enough data"


@pytest.mark.parametrize("flag", [None, False, MetadataValue.bool(False)])
def test_a_failure_not_marked_as_a_skip_is_a_real_failure(flag):
    assert not_enough_data_reason(_event(_user("customer_features_suite failed", flag))) is None
    assert not_enough_data_reason(_event(_user("suite failed", flag), _error("Failure", "suite failed"))) is None


def test_a_bare_not_enough_data_is_recognised_through_dagsters_wrapper():
    bare = _error("NotEnoughData", "shop_pipeline.ml.common.errors.NotEnoughData: recommendations: none\n\nStack")
    assert (
        not_enough_data_reason(_event(error=_error("DagsterExecutionStepExecutionError", "Error in op", bare)))
        == "recommendations: none"
    )
    assert not_enough_data_reason(_event(error=bare)) == "recommendations: none"
    assert not_enough_data_reason(_event(_user("a real failure", False), bare)) == "recommendations: none"


def test_only_the_exception_dagster_wrapped_counts():
    raised_from = _error("RuntimeError", "store down", _error("NotEnoughData", "NotEnoughData: inner"))
    wrapper = _error("DagsterExecutionStepExecutionError", "Error in op", raised_from)
    assert not_enough_data_reason(_event(error=wrapper)) is None
    # another wrapper class is not unwrapped
    other = _error("SomeOtherWrapper", "x", _error("NotEnoughData", "NotEnoughData: inner"))
    assert not_enough_data_reason(_event(error=other)) is None
    assert not_enough_data_reason(_event(error=_error("DagsterExecutionStepExecutionError", "x", None))) is None
    assert not_enough_data_reason(_event()) is None


@pytest.mark.parametrize(
    "message, reason",
    [
        ("shop_pipeline.ml.common.errors.NotEnoughData: demand forecast: short", "demand forecast: short"),
        ("NotEnoughData:   padded  \nsecond line", "padded"),
        ("  NotEnoughData: x\n", "x"),
        ("demand forecast: no class prefix", "demand forecast: no class prefix"),
        ("a sentence NotEnoughData: kept whole", "a sentence NotEnoughData: kept whole"),
        ("first line\nNotEnoughData: second", "first line"),
        ("NotEnoughData: quoting NotEnoughData: inner", "quoting NotEnoughData: inner"),
        ("   ", ""),
        ("", ""),
    ],
)
def test_the_class_prefix_is_dropped_from_a_bare_errors_message(message, reason):
    assert skips._without_class_prefix(message) == reason
