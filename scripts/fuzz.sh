#!/usr/bin/env bash
# Fuzzes the C++ metadata parser with libFuzzer (+ASan+UBSan) for a bounded
# time, seeded from the committed vectors in tests/data/format/. New inputs go
# to a scratch copy of the corpus; crashes are kept in $FUZZ_OUT (default
# /tmp/actsparse-fuzz) and fail the run.
#   bash scripts/fuzz.sh [SECONDS]        (default 30)
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

seconds="${1:-30}"
out="${FUZZ_OUT:-/tmp/actsparse-fuzz}"
rm -rf "$out" && mkdir -p "$out/corpus" "$out/crashes"
cp "$ACTSPARSE_ROOT"/tests/data/format/*.bin "$out/corpus/"

say "libFuzzer: metadata parser, ${seconds}s"
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$ACTSPARSE_ROOT" \
  "$ACTSPARSE_ROOT/delegate/format/mask_format.cc" "$ACTSPARSE_ROOT/delegate/format/fuzz_mask_format.cc" \
  -o "$out/fuzz_mask_format"
"$out/fuzz_mask_format" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -artifact_prefix="$out/crashes/" -print_final_stats=1 "$out/corpus" 2>"$out/log.txt" || {
  tail -40 "$out/log.txt" >&2
  die "the fuzzer found a crash; inputs are in $out/crashes/"
}
grep -E "^stat::number_of_executed_units|^Done" "$out/log.txt" || tail -3 "$out/log.txt"
