#!/usr/bin/env bash
# The whole test suite, as a new user and CI run it:
#   1. setup (apt + venvs, idempotent)
#   2. C++ tests on the host, with ASan+UBSan, and for aarch64 under qemu
#   3. a 30 s libFuzzer run of the metadata parser (ASan+UBSan)
#   4. the delegate library builds (host, and aarch64 for the aarch64 LiteRT test)
#   5. pytest (its summary is the last line printed); it includes the aarch64
#      end-to-end run under qemu (scripts/test_aarch64_runtime.sh runs it alone)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bash "$ACTSPARSE_ROOT/scripts/setup.sh"

say "C++ tests (host)"
bazel_cmd test //delegate/...
say "C++ tests (host, AddressSanitizer + UndefinedBehaviorSanitizer)"
bazel_cmd test --config=asan //delegate/...
say "C++ tests (aarch64 cross build, run under qemu-aarch64)"
bazel_cmd test --config=aarch64 //delegate/...

bash "$ACTSPARSE_ROOT/scripts/fuzz.sh" "${ACTSPARSE_FUZZ_SECONDS:-30}"

bash "$ACTSPARSE_ROOT/scripts/build_delegate.sh"
bash "$ACTSPARSE_ROOT/scripts/build_delegate.sh" --aarch64
# Free the Bazel server's memory before the Python tests (CI machines are small).
bazel_cmd shutdown

say "pytest"
cd "$ACTSPARSE_ROOT"
exec "$VENV/bin/python" -m pytest "$@"
