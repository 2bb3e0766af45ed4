#!/usr/bin/env bash
# For `make test` only: Headless Chromium renders the HTML audit report in tests (tests/test_audit_browser.py; required under CI=true).
if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's chromium (headless browser test of the audit report)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: note: chromium not found; the browser test of the audit report skips (Debian: sudo apt-get install chromium)" >&2
  fi
fi
