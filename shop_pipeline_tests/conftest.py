import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
# One OpenMP thread per model fit: results are identical, and on a busy 2-core machine
# oversubscribed gradient-boosting threads run many times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
