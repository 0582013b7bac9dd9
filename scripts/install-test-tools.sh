#!/usr/bin/env bash
# System tools the test suite uses that PyPI does not ship: promtool and prometheus (the
# alert-rule checks and the real-scrape integration test), from Debian's `prometheus`
# package. Idempotent and quiet: does nothing when both are on PATH. Needs root (or sudo)
# and apt-get; where either is missing it says so and exits 0, and the tests that need
# the binaries skip with that reason.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-tools: no apt-get here; install Prometheus (promtool) by hand" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "install-test-tools: not root and no sudo; install the 'prometheus' package" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# The package index may be missing or stale on a fresh machine: refresh it only when the
# package is not found.
if ! apt-cache show prometheus >/dev/null 2>&1; then
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
fi
# --no-install-recommends: promtool and the server only; the package's service is not
# started (no init system in containers), the tests start their own server.
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
if ! $SUDO apt-get install -y -qq --no-install-recommends prometheus >"$out" 2>&1; then
  cat "$out" >&2
  echo "install-test-tools: apt-get could not install 'prometheus'" >&2
  exit 0
fi
