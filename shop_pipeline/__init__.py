"""shop_pipeline: an orchestrated data + ML pipeline for an online shop."""

import os

# Idle OpenMP threads spin briefly, then sleep. libgomp reads these once, when it loads (with
# scikit-learn's compiled modules), so they must be in the environment before anything imports
# them; every entry point imports this package first. libgomp's default spin-waiting makes a
# fit many times slower beside other CPU-bound processes; sleeping at once slows the many short
# parallel regions of a small fit; a short spin does both well (docs/benchmarks.md, "Threads on
# a busy machine"). ml/common/threads.py decides how many threads each library gets.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "1000")
