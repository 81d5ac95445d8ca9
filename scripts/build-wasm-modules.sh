#!/usr/bin/env bash
# Builds the WebAssembly (WASI preview1) programs that ship with the project:
#   modules/NAME/*.c                      -> modules/NAME/NAME.wasm
#     (llm, lora-training and lora-inference also get the shared modules/llm/src/*.c and the tokenizer of
#     modules/llm/tokenizer.txt as C source; scripts/build-llm-native.sh builds the same with gcc)
#   src/executor/wasm/testdata/NAME.c     -> src/executor/wasm/testdata/NAME.wasm
# with Debian's clang-14 and wasi-libc (apt-get install -y clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32).
# The outputs are committed, so users and CI need no compiler. Builds are reproducible: no debug info, no
# names section, no build paths, so the same sources give the same bytes.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

CC="${CC:-clang-14}"
if ! command -v "$CC" >/dev/null; then
  echo "build-wasm-modules: $CC not found; apt-get install -y clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32" >&2
  exit 1
fi

# Debian bookworm's wasi-libc installs into /usr/include/wasm32-wasi and /usr/lib/wasm32-wasi; later releases
# ship /usr/share/wasi-sysroot. A private sysroot of links keeps the host's /usr/include and
# /usr/local/include out of the search path either way.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ -d /usr/share/wasi-sysroot ]; then
  sysroot=/usr/share/wasi-sysroot
elif [ -d /usr/include/wasm32-wasi ] && [ -d /usr/lib/wasm32-wasi ]; then
  sysroot="$work/sysroot"
  mkdir -p "$sysroot/include" "$sysroot/lib"
  ln -s /usr/include/wasm32-wasi "$sysroot/include/wasm32-wasi"
  ln -s /usr/lib/wasm32-wasi "$sysroot/lib/wasm32-wasi"
else
  echo "build-wasm-modules: no WASI sysroot; apt-get install -y wasi-libc" >&2
  exit 1
fi

# No -ffast-math, no relaxed SIMD, no contraction into fused multiply-adds: float results must be the same
# bits on every machine (WebAssembly's scalar float operations are exact IEEE 754).
flags=(
  --target=wasm32-wasi "--sysroot=$sysroot"
  -O2 -std=gnu11 -Wall -Wextra -Werror -ffp-contract=off
  -ffile-prefix-map="$root"=. -ffile-prefix-map="$work"=. -fno-ident
  -Wl,--strip-all -Wl,--gc-sections
)

# The modules that run the llm model share its code, and the tokenizer generated from tokenizer.txt.
llm_modules=(llm lora-training lora-inference)
llm_sources=("$root"/modules/llm/src/*.c)

build() { # build OUTPUT SOURCE...
  local output="$1"
  shift
  (cd "$work" && "$CC" "${flags[@]}" "$@" -o "$work/out.wasm")
  # Replace only when the bytes change, so an unchanged module keeps its timestamp.
  if ! cmp -s "$work/out.wasm" "$output"; then
    cp "$work/out.wasm" "$output"
  fi
  echo "$output $(wc -c <"$output") bytes sha256:$(sha256sum "$output" | cut -c1-16)"
}

shopt -s nullglob
for dir in modules/*/; do
  name="$(basename "$dir")"
  sources=("$root/$dir"*.c)
  [ ${#sources[@]} -gt 0 ] || continue
  if [[ " ${llm_modules[*]} " == *" $name "* ]]; then
    [ -f "$work/tokenizer-merges.c" ] || bash modules/llm/src/tokenizer-source.sh modules/llm/tokenizer.txt >"$work/tokenizer-merges.c"
    sources+=("${llm_sources[@]}" "$work/tokenizer-merges.c" "-I$root/modules/llm/src" -lm)
  fi
  build "$dir$name.wasm" "${sources[@]}"
done

for source in src/executor/wasm/testdata/*.c; do
  build "${source%.c}.wasm" "$root/$source"
done
