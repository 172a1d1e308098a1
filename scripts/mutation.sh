#!/usr/bin/env bash
# Mutation testing (opt-in; not part of the default suite): mutmut plants one small change at a
# time in the modules listed under [tool.mutmut] in pyproject.toml and runs the tests that reach
# the changed function; a mutant the tests do not notice "survives". Then the score table.
#   bash scripts/mutation.sh                          every configured module (hours on 2 cores)
#   bash scripts/mutation.sh "shop_pipeline.warehouse.retract*"   one module (mutmut's name glob)
#   bash scripts/mutation.sh --score-only             the table of what has been run so far
# Work is kept in ./mutants/ (git-ignored): a second run continues where the first stopped and
# re-checks only what changed. Figures and the survivors' reasons: docs/benchmarks.md#mutation-testing
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
if [ "${1:-}" != "--score-only" ]; then
    # Tests that start a subprocess (the CLI, the API server) import the mutated copy too
    export PYTHONPATH="$PWD/mutants${PYTHONPATH:+:$PYTHONPATH}"
    export OMP_NUM_THREADS=1
    .venv/bin/mutmut run --max-children "${MUTATION_CHILDREN:-2}" "$@"
fi
.venv/bin/python benchmarks/mutation_score.py
