#!/usr/bin/env bash
# Set up and run the test suite. Extra arguments go to pytest (e.g. -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
# The docs site must build without a warning (broken links, pages missing from the nav);
# it is built into a temporary folder and thrown away.
docs_site="$(mktemp -d)"
if ! NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --quiet --site-dir "$docs_site"; then
    rm -rf "$docs_site"
    echo "the docs site does not build: .venv/bin/mkdocs build --strict" >&2
    exit 1
fi
rm -rf "$docs_site"
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
