#!/usr/bin/env bash
# Builds the llm modules' programs natively with gcc -O2, from the same sources as their WebAssembly
# (modules/llm/src/*.c, the embedded tokenizer), for benchmarks that compare the two and for native tests:
#   bash scripts/build-llm-native.sh [OUTDIR]     (default build/native)
# gives OUTDIR/llm, OUTDIR/lora-training, OUTDIR/lora-inference and OUTDIR/gradient-check. Same float rules as
# the WebAssembly build: no -ffast-math, no fused multiply-adds, no vectorizing: plain scalar code.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
out="${1:-build/native}"
mkdir -p "$out"
CC="${NATIVE_CC:-gcc}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bash modules/llm/src/tokenizer-source.sh modules/llm/tokenizer.txt >"$work/tokenizer-merges.c"
flags=(-O2 -std=gnu11 -Wall -Wextra -Werror -ffp-contract=off -fno-fast-math -fno-tree-vectorize -Imodules/llm/src)
shared=(modules/llm/src/*.c "$work/tokenizer-merges.c")

for name in llm lora-training lora-inference; do
  [ -d "modules/$name" ] || continue
  "$CC" "${flags[@]}" modules/"$name"/*.c "${shared[@]}" -lm -o "$out/$name"
done
"$CC" "${flags[@]}" modules/llm/native/gradient-check.c "${shared[@]}" -lm -o "$out/gradient-check"
echo "built $out/llm $out/lora-training $out/lora-inference $out/gradient-check"
