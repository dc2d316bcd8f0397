#!/usr/bin/env bash
# Run `harborctl demo` from CI and scripts: the whole loop (events, deliveries, traces, logs,
# metrics, a burn-rate alert notified and resolved, DLQ replay) on the native stack, checked.
#
#   scripts/observability/demo.sh [--json] [harborctl demo options...]
#
# The exit code is the verdict: 0 every check passed, 1 a check failed (each named on
# stderr), 130 interrupted (what the demo changed is put back first), 2 it cannot run (bad
# options, no Prometheus or Alertmanager). With --json the demo's JSON result passes through
# on stdout, progress goes to stderr; without it the check table is printed. Runs the code
# of the checkout this script lives in.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export COLUMNS="${COLUMNS:-120}"  # CI logs are not terminals: tables as wide as this
PYTHON=${PYTHON:-python}

exec "$PYTHON" -m harborctl demo "$@"
