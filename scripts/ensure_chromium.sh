#!/usr/bin/env bash
# Make sure Debian's chromium is installed: the browser test (shop_pipeline_tests/ui/) drives it
# through Playwright, which never downloads a browser of its own here. Does nothing when chromium
# is already there, so it is safe to run before every test run: bash scripts/ensure_chromium.sh
set -euo pipefail

CHROMIUM="${SHOP_PIPELINE_CHROMIUM:-/usr/bin/chromium}"

if [ -x "$CHROMIUM" ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "chromium is missing at $CHROMIUM and installing it needs root (no passwordless sudo here):" >&2
    echo "  run 'sudo apt-get install -y chromium', or set SHOP_PIPELINE_CHROMIUM to a Chromium binary" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium is missing at $CHROMIUM and there is no apt-get on this machine:" >&2
    echo "  install Chromium with the system's package manager, or set SHOP_PIPELINE_CHROMIUM to its binary" >&2
    exit 1
fi

echo "installing Debian's chromium for the browser test"
export DEBIAN_FRONTEND=noninteractive
# A fresh machine often has no package lists yet: refresh them only when the first try fails.
if ! $SUDO apt-get install -y chromium; then
    $SUDO apt-get update
    $SUDO apt-get install -y chromium
fi
if [ ! -x "$CHROMIUM" ]; then
    echo "apt-get installed chromium but $CHROMIUM is still missing" >&2
    exit 1
fi
"$CHROMIUM" --version
