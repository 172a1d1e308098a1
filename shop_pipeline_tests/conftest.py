import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# The partitions are defined when the definitions are imported (once per test process): pin their
# first day instead of reading whatever shop home the working directory holds.
os.environ.setdefault("SHOP_PIPELINE_PARTITIONS_START", "2025-01-01")
# One OpenMP thread per model fit: results are identical, and on a busy 2-core machine
# oversubscribed gradient-boosting threads run many times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# No Spark web UI for the sessions tests open (engine/spark_session.py)
os.environ.setdefault("SHOP_PIPELINE_SPARK_UI", "0")

# The `instance` fixture of the crash-recovery tests (a real instance with the shop's dagster.yaml);
# the real Spark cluster and PostgreSQL server of the scale-out tests (session-scoped, started
# only by the tests that use them); the shop after a whole pipeline run, built once and copied by
# the serving and model tests
pytest_plugins = [
    "shop_pipeline_tests.instance_helpers",
    "shop_pipeline_tests.cluster_fixtures",
    "shop_pipeline_tests.pipeline_shop",
]
