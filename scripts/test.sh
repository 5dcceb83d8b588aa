#!/usr/bin/env bash
# README command 2: install what is missing, build (Release, build/), run every test with ctest.
# Exits non-zero on any failure. GPU tests report "Skipped" where there is no usable GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-build
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DQG_BUILD_TESTS=ON
cmake --build build --parallel
ctest --test-dir build --output-on-failure --parallel "$(nproc)"
