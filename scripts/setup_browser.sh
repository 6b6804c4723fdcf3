#!/usr/bin/env bash
# Installs what tests/test_browser.py needs beyond .venv: Debian's chromium (Playwright drives it; no browser download).
# Idempotent and quiet: does nothing when /usr/bin/chromium is there. Needs root (CI and the dev machines run as root).
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" -ne 0 ]; then echo "setup_browser.sh: /usr/bin/chromium is missing; run as root: apt-get update && apt-get install -y chromium" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if ! { apt-get update -qq && apt-get install -y -qq chromium; } >"$log" 2>&1; then
  tail -20 "$log" >&2; rm -f "$log"; echo "setup_browser.sh: installing chromium failed" >&2; exit 1
fi
rm -f "$log"
[ -x /usr/bin/chromium ] || { echo "setup_browser.sh: chromium installed but /usr/bin/chromium is missing" >&2; exit 1; }
