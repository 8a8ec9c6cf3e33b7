#!/usr/bin/env bash
# The aarch64 end-to-end test alone: the cross-built delegate inside aarch64
# ai-edge-litert (Debian's arm64 CPython under qemu-aarch64), on the zoo's
# networks and every test graph (tests/test_aarch64_runtime.py, ~3 min).
# Sets up what is missing first (scripts/setup.sh, idempotent); the one-line
# summary is printed last. scripts/test.sh runs the same test with the rest.
#   bash scripts/test_aarch64_runtime.sh [PYTEST_ARGS...]
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bash "$ACTSPARSE_ROOT/scripts/setup.sh"
bash "$ACTSPARSE_ROOT/scripts/build_delegate.sh"
bash "$ACTSPARSE_ROOT/scripts/build_delegate.sh" --aarch64

summary="$ACTSPARSE_ROOT/.aarch64-runtime/last-summary.txt"
rm -f "$summary"
say "pytest tests/test_aarch64_runtime.py"
cd "$ACTSPARSE_ROOT"
status=0
"$VENV/bin/python" -m pytest -q tests/test_aarch64_runtime.py "$@" || status=$?
if [ "$status" -eq 0 ] && [ -f "$summary" ]; then
  echo "aarch64 end to end: PASSED: $(cat "$summary")"
else
  echo "aarch64 end to end: FAILED (pytest exit status $status; see above)"
  exit "${status/#0/1}"
fi
