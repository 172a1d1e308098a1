"""shop_pipeline: an orchestrated data + ML pipeline for an online shop."""

import os

# Idle OpenMP threads sleep instead of spinning. libgomp reads this once, when it loads (with
# scikit-learn's compiled modules), so it must be in the environment before anything imports
# them; every entry point imports this package first. On a 2-core machine with two other
# CPU-bound processes, libgomp's default active wait made a forecast fit 10x slower than on the
# quiet machine (81 s against 8 s); sleeping idle threads: 1.9x (13 s against 7 s). See
# shop_pipeline/ml/threads.py for how many threads each library gets.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
