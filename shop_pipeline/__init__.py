"""shop_pipeline: an orchestrated data + ML pipeline for an online shop."""

import os

# Idle OpenMP threads spin briefly, then sleep. libgomp reads these once, when it loads (with
# scikit-learn's compiled modules), so they must be in the environment before anything imports
# them; every entry point imports this package first. On a 2-core machine with two other
# CPU-bound processes libgomp's default (300,000 spins) made a forecast fit 10x slower than on
# the quiet machine (81 s against 8 s at 1M events). Sleeping at once (PASSIVE, 0 spins) fixed
# that but made the many short parallel regions of a small fit slow on a quiet machine (a 70k-
# event shop's forecast: 38.6 s against 10.4 s). 1,000 spins, measured on that shop: 11.9 s
# quiet, 26.1 s beside two burners (0 spins: 38.6 / 22.2; 10,000: 10.4 / 32.9; default:
# 10.4 / 51.9). See shop_pipeline/ml/common/threads.py for how many threads each library gets.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "1000")
