"""Stages `training`, `evaluation` and `scoring` of every model: its `<model>_model`, `<model>_champion`
and score table assets, made from its ModelSpec (defs/models_common.py) for each model of
ml/models.py's MODELS. The model code is ml/<model>/; its feature tables are in defs/features.py."""

from shop_pipeline.defs.models_common import model_assets
from shop_pipeline.ml.models import MODELS

MODEL_ASSETS = [assets for spec in MODELS for assets in model_assets(spec)]
