#!/usr/bin/env bash
# Builds libactsparse_delegate.so for this machine with Bazel (offline) and
# puts it where actsparse.load_delegate() finds it (python/actsparse/_lib/).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

say "bazel build //delegate:libactsparse_delegate.so"
bazel_cmd build //delegate:libactsparse_delegate.so
built="$(bazel_cmd info bazel-bin 2>/dev/null)/delegate/libactsparse_delegate.so"
[ -f "$built" ] || die "Bazel reported success but $built is missing"
mkdir -p "$DELEGATE_LIB_DIR"
install -m 0755 "$built" "$DELEGATE_LIB_DIR/libactsparse_delegate.so"
echo "delegate: $DELEGATE_LIB_DIR/libactsparse_delegate.so"
