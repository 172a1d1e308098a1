"""A model that cannot train on a too-short shop is skipped with its one-line reason, not a crash.

Model code raises `ml.common.errors.NotEnoughData("<one line>")`. `skips_when_data_is_short` (applied
under `@asset` to every model asset) turns it into a `dagster.Failure` whose description is that
line, so the Dagster UI shows the reason on the step instead of a traceback, with metadata a
person (and the CLI) can read, and no retry (more attempts do not make the data longer). Dagster
then does not run what depends on the model, and every other branch still materializes.

`not_enough_data_reason(event)` reads a step failure back: the reason when the step was skipped
for lack of data (through the wrapper, or a bare NotEnoughData from an asset without it), None
for a real failure. This module is light (no warehouse, no model code) so the run loggers can
import it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from dagster import Failure

from shop_pipeline.ml.common.errors import NotEnoughData

NOT_ENOUGH_DATA = "not_enough_data"  # Failure metadata: True when the step was skipped for lack of data
WRAPPED_MARK = "skips_when_data_is_short"  # set on a wrapped function (tests check every model asset has it)
REASON = "reason"
_ERROR_CLASS = NotEnoughData.__name__
_STEP_ERROR_WRAPPER = "DagsterExecutionStepExecutionError"


def _failure(step: str, error: NotEnoughData) -> Failure:
    reason = str(error).strip() or f"{step}: not enough data"
    return Failure(
        description=reason,
        metadata={
            NOT_ENOUGH_DATA: True,
            REASON: reason,
            "what_happens": "this model and what depends on it are skipped; every other table is written",
        },
        allow_retries=False,
    )


def skips_when_data_is_short(compute: Callable) -> Callable:
    """Decorate an asset's function (below `@asset`): NotEnoughData becomes a readable Failure.

    Keeps the function's signature (Dagster reads the context and resource parameters from it)
    and its kind: a generator function stays one, so assets that yield check results still do.
    Every other exception passes through untouched: a real error stays a failure with its traceback.
    """
    if inspect.isgeneratorfunction(compute):

        @functools.wraps(compute)
        def skipping_generator(*args, **kwargs):
            try:
                yield from compute(*args, **kwargs)
            except NotEnoughData as error:
                raise _failure(compute.__name__, error) from error

        setattr(skipping_generator, WRAPPED_MARK, True)
        return skipping_generator

    @functools.wraps(compute)
    def skipping(*args, **kwargs):
        try:
            return compute(*args, **kwargs)
        except NotEnoughData as error:
            raise _failure(compute.__name__, error) from error

    setattr(skipping, WRAPPED_MARK, True)
    return skipping


def not_enough_data_reason(step_failure_event) -> str | None:
    """The one-line reason a failed step was skipped for lack of data; None for a real failure."""
    data = step_failure_event.step_failure_data
    user = data.user_failure_data
    if user is not None and _truthy(user.metadata.get(NOT_ENOUGH_DATA)):
        return (user.description or "").strip() or "not enough data"
    # an asset without the wrapper: Dagster wraps the user's exception once; only that exception
    # counts (a RuntimeError raised *from* a NotEnoughData is a real failure)
    error = data.error
    if error is not None and error.cls_name == _STEP_ERROR_WRAPPER:
        error = error.cause
    if error is not None and error.cls_name == _ERROR_CLASS:
        return _without_class_prefix(error.message)
    return None


def _truthy(entry) -> bool:
    return bool(getattr(entry, "value", entry))


def _without_class_prefix(message: str) -> str:
    """`shop_pipeline.ml.common.errors.NotEnoughData: demand forecast: ...` -> `demand forecast: ...`."""
    first = message.strip().splitlines()[0] if message.strip() else ""
    head, sep, rest = first.partition(f"{_ERROR_CLASS}: ")
    return rest.strip() if sep and " " not in head else first
