#!/usr/bin/env bash
# Installs every Debian package quantgate needs, then configures and builds Release into build/.
# Idempotent and non-interactive: safe to run again. Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config git python3
  libcli11-dev nlohmann-json3-dev libfmt-dev libeigen3-dev   # CLI, JSON, formatting, CPU maths
  libcurl4-openssl-dev                                      # load generator (HTTP)
  python3-jsonschema                                        # CLI tests: results files against reports/schema
  catch2 libbenchmark-dev                                   # tests and benchmarks
  gnuplot-nox                                               # compare: SVG charts
  openssl                                                   # bench CLI test: a self-signed certificate for https
  python3-hypercorn                                         # bench CLI test: an HTTP/2 (h2, h2c) test server
  clang libclang-rt-14-dev                                  # libFuzzer for the header fuzz target
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -q
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

[ "${1:-}" = "--no-build" ] && exit 0
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build --parallel
