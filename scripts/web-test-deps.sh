#!/usr/bin/env bash
# What the browser tests in tests/web need, installed when missing: Debian's Chromium (apt,
# when root) and axe-core from its npm package (into .venv/web-test/, ignored by git).
# Without them those tests are skipped, saying why, so this only ever adds checks.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "web-test-deps: installing Debian's chromium" >&2
    apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
      || echo "web-test-deps: could not install chromium; the browser tests will be skipped" >&2
  else
    echo "web-test-deps: /usr/bin/chromium missing (not root); the browser tests will be skipped" >&2
  fi
fi
AXE_DIR="$ROOT/.venv/web-test"
if [ ! -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ]; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p "$AXE_DIR"
    npm install --prefix "$AXE_DIR" --no-audit --no-fund --silent axe-core@4.14.1 >/dev/null \
      || echo "web-test-deps: could not install axe-core; the accessibility checks will be skipped" >&2
  else
    echo "web-test-deps: npm missing; the accessibility checks will be skipped" >&2
  fi
fi
exec "$@"
