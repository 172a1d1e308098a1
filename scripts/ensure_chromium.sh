#!/usr/bin/env bash
# Make sure Debian's chromium is installed: the browser test (shop_pipeline_tests/ui/) drives it
# through Playwright, which never downloads a browser of its own here. Does nothing when chromium
# is already there, so it is safe to run before every test run: bash scripts/ensure_chromium.sh
set -euo pipefail

CHROMIUM="${SHOP_PIPELINE_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

source "$(dirname "$0")/apt_packages.sh"
APT_EXTRA_OPTIONS=()
if ! apt_packages "the browser test (or set SHOP_PIPELINE_CHROMIUM to a Chromium binary)" chromium; then
    exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
    echo "apt-get installed chromium but $CHROMIUM is still missing" >&2
    exit 1
fi
"$CHROMIUM" --version
