#!/usr/bin/env bash
# Set up, generate the sample shop (if nothing has landed yet) and run the whole pipeline.
# Extra arguments go to `shop-pipeline demo` (e.g. --events 1000000).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
exec .venv/bin/shop-pipeline demo "$@"
