"""The sample-shop generator: a deterministic, defect-planted e-commerce event stream.

    from shop_pipeline.synth import GeneratorConfig, generate_shop
    summary = generate_shop(Path("data"), GeneratorConfig(events=200_000, days=90, seed=42))

Pure Python + numpy/pyarrow; no Dagster import.
"""

from shop_pipeline.synth.config import (
    DEFAULT_DEFECT_RATES,
    DEFECT_OUTCOMES,
    EVENT_COLUMNS,
    EVENT_TYPES,
    FORMATS,
    GeneratorConfig,
)
from shop_pipeline.synth.generate import GenerationSummary, generate_shop

__all__ = [
    "DEFAULT_DEFECT_RATES",
    "DEFECT_OUTCOMES",
    "EVENT_COLUMNS",
    "EVENT_TYPES",
    "FORMATS",
    "GenerationSummary",
    "GeneratorConfig",
    "generate_shop",
]
