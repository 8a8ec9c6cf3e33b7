#!/usr/bin/env bash
# Builds libactsparse_delegate.so with Bazel (offline) and puts it where
# actsparse.load_delegate() finds it:
#   bash scripts/build_delegate.sh            this machine -> python/actsparse/_lib/
#   bash scripts/build_delegate.sh --aarch64  the aarch64 cross build -> python/actsparse/_lib/aarch64/
#                                             (found there by an aarch64 Python, e.g. under qemu)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

config=() dest="$DELEGATE_LIB_DIR"
case "${1:-}" in
  "") ;;
  --aarch64) config=(--config=aarch64) dest="$DELEGATE_LIB_DIR/aarch64" ;;
  *) die "unknown option ${1}; usage: bash scripts/build_delegate.sh [--aarch64]" ;;
esac

say "bazel build ${config[*]} //delegate:libactsparse_delegate.so"
bazel_cmd build "${config[@]}" //delegate:libactsparse_delegate.so
built="$(bazel_cmd info "${config[@]}" bazel-bin 2>/dev/null)/delegate/libactsparse_delegate.so"
[ -f "$built" ] || die "Bazel reported success but $built is missing"
mkdir -p "$dest"
install -m 0755 "$built" "$dest/libactsparse_delegate.so"
echo "delegate: $dest/libactsparse_delegate.so"
