#!/usr/bin/env bash
# Set up and run the test suite. Extra arguments go to pytest (e.g. -m slow).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
# The docs site must build without a warning (a broken link or anchor, a page missing from the
# nav). Not with --quiet: mkdocs 1.6 then drops the warnings before --strict counts them, and
# passes. Its output is shown only when it fails; the site goes to a temporary folder.
docs_site="$(mktemp -d)"
if ! NO_MKDOCS_2_WARNING=1 .venv/bin/mkdocs build --strict --site-dir "$docs_site" >"$docs_site.log" 2>&1; then
    cat "$docs_site.log" >&2
    rm -rf "$docs_site" "$docs_site.log"
    echo "the docs site does not build: .venv/bin/mkdocs build --strict" >&2
    exit 1
fi
rm -rf "$docs_site" "$docs_site.log"
echo "docs site: mkdocs build --strict passed"
# The Dagster definitions load and validate as the UI and the daemon will load them
if ! .venv/bin/dg check defs >"$docs_site.dg.log" 2>&1; then
    cat "$docs_site.dg.log" >&2
    rm -f "$docs_site.dg.log"
    echo "the Dagster definitions do not load: .venv/bin/dg check defs" >&2
    exit 1
fi
rm -f "$docs_site.dg.log"
echo "definitions: dg check defs passed"
# Lint (pyproject.toml's [tool.ruff]): pyflakes, pycodestyle, import order, pyupgrade, bugbear
if ! .venv/bin/ruff check --quiet .; then
    echo "ruff found problems: .venv/bin/ruff check . (ruff check --fix . mends most)" >&2
    exit 1
fi
echo "lint: ruff check passed"
if ! .venv/bin/ruff format --check --quiet .; then
    echo "some files are not formatted: .venv/bin/ruff format --check . (ruff format . formats them)" >&2
    exit 1
fi
echo "format: ruff format --check passed"
# The layers of DESIGN.md section 4 and no import cycles (pyproject.toml's [tool.importlinter])
if ! .venv/bin/lint-imports --no-cache >"$docs_site.imports.log" 2>&1; then
    cat "$docs_site.imports.log" >&2
    rm -f "$docs_site.imports.log"
    echo "an import breaks the layers or makes a cycle: .venv/bin/lint-imports" >&2
    exit 1
fi
rm -f "$docs_site.imports.log"
echo "imports: lint-imports passed (layers, no cycles)"
# Debian's chromium for the browser test (shop_pipeline_tests/ui/): required in CI, optional elsewhere
if ! bash scripts/ensure_chromium.sh && [ -n "${CI:-}" ]; then
    exit 1
fi
# Java and the PostgreSQL server for the scale-out tests (shop_pipeline_tests/cluster_fixtures.py
# starts a real Spark cluster and a Postgres server from them): required in CI, optional elsewhere
if ! bash scripts/ensure_services.sh && [ -n "${CI:-}" ]; then
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
