#!/usr/bin/env bash
# The main job end to end on the built-in default: install, build the
# delegate, and run the demo model through LiteRT with and without it.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bash "$ACTSPARSE_ROOT/scripts/setup.sh"
bash "$ACTSPARSE_ROOT/scripts/build_delegate.sh"
say "actsparse demo"
exec "$VENV/bin/actsparse" demo "$@"
