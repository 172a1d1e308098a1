"""The one Definitions object: everything under shop_pipeline/defs/ (found by dg's folder
loading, so a new asset, check, job or sensor there needs no list entry), plus what depends on
the environment or the shop home: the schedule, the Slack / Teams sensors and the resources."""

import functools
import inspect
import os
import warnings
from pathlib import Path

# One ASSET_MATERIALIZATION_PLANNED event per asset for a partition range, instead of one per
# asset per day: without it a run over 546 days spent 11 minutes writing planned events before
# its first step. Read by the process that creates the run (this one for in-process runs; the
# CLI's `ui` sets it for the webserver and daemon). Dagster's trade-off: a failed range run
# does not mark each of its partitions as failed (the run itself shows the failure).
os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "1")

from dagster import (
    AssetsDefinition,
    BetaWarning,
    CodeReferencesMetadataValue,
    Definitions,
    LocalFileCodeReference,
    PreviewWarning,
    load_from_defs_folder,
)

from shop_pipeline.defs.automation import definitions_from_environment
from shop_pipeline.defs.common import run_executor
from shop_pipeline.defs.run_logs import RUN_LOGGERS
from shop_pipeline.resources import default_resources
from shop_pipeline.settings import ShopPaths


def linked_to_source(assets: AssetsDefinition) -> AssetsDefinition:
    """The asset with a code reference to the function that computes it (past decorators such as
    defs/skips.py's, which Dagster's with_source_code_references would point at instead)."""
    compute = assets.op.compute_fn
    function = inspect.unwrap(getattr(compute, "decorated_fn", compute))
    with warnings.catch_warnings():  # code references are a beta API; the warning says nothing to a user
        warnings.simplefilter("ignore", BetaWarning)
        warnings.simplefilter("ignore", PreviewWarning)
        reference = CodeReferencesMetadataValue(
            code_references=[
                LocalFileCodeReference(
                    file_path=inspect.getsourcefile(function), line_number=inspect.getsourcelines(function)[1]
                )
            ]
        )
        return assets.map_asset_specs(
            lambda spec: spec.merge_attributes(metadata={"dagster/code_references": reference})
        )


@functools.cache
def folder_definitions() -> Definitions:
    """Everything dg's folder loading finds under shop_pipeline/defs/."""
    return load_from_defs_folder(path_within_project=Path(__file__).parent)


# Every asset of the shop (with its checks).
ASSETS = [linked_to_source(assets) for assets in folder_definitions().assets or []]


def build_definitions(paths: ShopPaths | None = None) -> Definitions:
    return Definitions.merge(
        Definitions(
            assets=ASSETS,
            asset_checks=folder_definitions().asset_checks,
            jobs=folder_definitions().jobs,
            sensors=folder_definitions().sensors,
            schedules=folder_definitions().schedules,
            resources=default_resources(paths),
            loggers=RUN_LOGGERS,
            executor=run_executor(),
        ),
        definitions_from_environment(),
    )


defs = build_definitions()
