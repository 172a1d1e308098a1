#!/usr/bin/env bash
# Set up and run the test suite. Extra arguments go to pytest (e.g. -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
# Debian's chromium for the browser test (shop_pipeline_tests/ui/): required in CI, optional elsewhere
if ! bash scripts/ensure_chromium.sh && [ -n "${CI:-}" ]; then
    exit 1
fi
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$code"
