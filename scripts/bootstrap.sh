# Sourced by scripts/demo.sh and scripts/test.sh: a project venv with everything installed.
# Installs the pinned versions of requirements.lock (every dependency, the dev and docs extras
# included), then the project itself without dependencies; again only when pyproject.toml or
# requirements.lock changes. Refreshing the lock: docs/operations.md#installs-and-the-lock-file.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat pyproject.toml requirements.lock | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    # pip's own progress: a first install takes a few minutes and should not look like a hang
    echo "installing the locked dependencies (requirements.lock) and shop_pipeline into .venv (first run: a few minutes)"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install -r requirements.lock
    .venv/bin/python -m pip install --no-deps -e .
    rm -f .venv/.installed-*
    touch "$stamp"
fi
export GX_ANALYTICS_ENABLED=false
export DAGSTER_DISABLE_TELEMETRY=1
