"""Product recommendations: the top-20 products to show each customer.

data: interaction matrices and the temporal split; candidates: most-popular, category popularity,
item-kNN, EASE; train: tuning, measuring and refitting the best (evaluate, metrics: ranking metrics
at K); score: blocked top-k lists with fallbacks; report: plots, tables and the run's report.
"""

from shop_pipeline.ml.common.spec import ModelSpec
from shop_pipeline.ml.recommendation import evaluate, report, score, spark_score, train
from shop_pipeline.ml.recommendation.candidates import (
    CANDIDATES,
    CATEGORY_POPULARITY,
    GATE_METRIC,
    HIGHER_IS_BETTER,
    MODEL_NAME,
    SERVABLE,
    UNMEASURED,
    RecommenderModel,
)
from shop_pipeline.ml.recommendation.train import MIN_EVALUATED_CUSTOMERS

SPEC = ModelSpec(
    name=MODEL_NAME,
    title="Recommendations",
    gate_metric=GATE_METRIC,
    higher_is_better=HIGHER_IS_BETTER,
    candidates=CANDIDATES,
    servable=SERVABLE,
    references=(),
    default_candidate=CATEGORY_POPULARITY,
    reported_metrics=("ndcg_at_10", "recall_at_10", "precision_at_10", "hit_rate_at_10", "coverage_at_20"),
    artifact=RecommenderModel,
    # the tuning and held-out windows are computed from the staged events; unchanged, the version is reused
    training_inputs={"staging.events": "", "features.interactions": "", "raw.products": ""},
    training_settings=lambda s: {"seed": s.seed},
    sampled_by_customer=True,
    train=train.training_run,
    evaluate_saved=evaluate.evaluate_saved,
    report=report.training_report,
    score_table="scoring.recommendations",
    scoring_inputs={"features.interactions": ""},
    scoring_settings=lambda s: {"recency_days": s.recommendation_recency_days},
    score=score.score_table,
    score_on_spark=spark_score.plan,
    describe_scores=score.describe_scores,
    kept_columns=("customer_id", "product_id", "reason"),
    unmeasured_mode=UNMEASURED,
    reused_shown=train.registered_mode,
    training_upstream=("interactions",),
    scoring_upstream="interactions",
    kind="scipy",
    training_description=(
        "Recommenders on a temporal split (train before the last 14 days, test on what each customer bought "
        "then): most-popular and item-kNN (sparse cosine) baselines, popularity within the customer's categories "
        "and EASE challengers (EASE's penalty and kNN's signal chosen on the 14 days before the held-out window); "
        "NDCG / recall / precision / hit rate / coverage at 10 and 20. The best is refit on every interaction up to "
        "the cut-off, saved with skops and registered with every comparison. When the data cannot measure a model "
        f"(no history before the held-out window, or fewer than {MIN_EVALUATED_CUSTOMERS} customers to evaluate) "
        "most-popular is registered unmeasured (mode 'unmeasured', the reason in one line): the gate cannot promote "
        "it, and scoring serves it marked unvalidated until a measured model becomes champion."
    ),
    gate_description=(
        "the recommender (a version trained where nothing could be measured is refused with a warning "
        "that does not block: scoring then serves it marked unvalidated)"
    ),
    scoring_description=(
        "scoring.recommendations: the top 20 products for every customer with any view, cart or purchase before "
        "the cut-off, lapsed customers included (run configuration modeling.recommendation_recency_days=N keeps only "
        "those seen in the N days before it), from the champion (loaded only when its SHA-256 matches the "
        "registry), computed in blocks of customers: already-bought products left out unless the category is "
        "bought repeatedly; a customer the model knows little about gets the popular products of their "
        "categories, then overall (reason says which). With no champion and a version that could not be "
        "measured (a new shop), that version's most-popular lists are written and the metadata says unvalidated."
    ),
)
