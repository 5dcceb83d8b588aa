#!/usr/bin/env bash
# Builds qg_tokenize_bench with the compiler alone (no CMake, so it builds wherever fmt and nlohmann_json
# headers are installed) and times quantgate's encoder on WikiText-2, for the comparison with the
# `tokenizers` timings that scripts/make_tokenizer_goldens.py writes (run both on the same machine).
# Usage: scripts/bench_tokenizer.sh DATA_DIR [EXTRA_TOKENIZER_JSON...]
#   DATA_DIR has the layout of ../shared/datasets (tokenizers/gemma3, wikitext-2-raw).
set -euo pipefail
cd "$(dirname "$0")/.."
data=$1
shift
obj=$(mktemp -d)
trap 'rm -rf "$obj"' EXIT
flags=(-O3 -DNDEBUG -std=c++20 -Isrc)  # the Release flags CMake uses
pids=()
for f in src/text/*.cpp src/common/error.cpp src/checkpoint/json_file.cpp tests/bench/tokenize_bench.cpp; do
  "${CXX:-g++}" "${flags[@]}" -c "$f" -o "$obj/$(basename "$f" .cpp).o" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
"${CXX:-g++}" "${flags[@]}" "$obj"/*.o -lfmt -pthread -o "$obj/qg_tokenize_bench"
echo "compiler: $("${CXX:-g++}" --version | head -1)"
for t in "$data/tokenizers/gemma3" "$@"; do
  "$obj/qg_tokenize_bench" "$t" "$data/wikitext-2-raw/wiki.test.raw" --repeats 5
done
