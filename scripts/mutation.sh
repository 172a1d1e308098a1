#!/usr/bin/env bash
# Mutation testing (opt-in; not part of the default suite): mutmut plants one small change at a
# time in the modules of [tool.mutmut] (pyproject.toml) and runs the tests that reach it, one
# group of modules at a time (benchmarks/mutation.py), then prints the score per module.
#   bash scripts/mutation.sh                    every group (hours on 2 cores; resumable)
#   bash scripts/mutation.sh serving models     some groups
#   bash scripts/mutation.sh --score-only       the table of what has been run so far
# Work is kept in ./mutation/<group>/ (git-ignored): a second run continues where the first
# stopped. Figures and the survivors' reasons: docs/benchmarks.md#mutation-testing
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
if [ "${1:-}" != "--score-only" ]; then
    .venv/bin/python benchmarks/mutation.py "$@"
fi
.venv/bin/python benchmarks/mutation_score.py
