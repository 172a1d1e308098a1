# Sourced by scripts/demo.sh and scripts/test.sh: a project venv with everything installed.
# Re-installs only when pyproject.toml changes.
set -euo pipefail
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    # pip's own progress: a first install takes a few minutes and should not look like a hang
    echo "installing shop_pipeline and its dependencies into .venv (first run: a few minutes)"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install -e '.[dev]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi
export GX_ANALYTICS_ENABLED=false
export DAGSTER_DISABLE_TELEMETRY=1
