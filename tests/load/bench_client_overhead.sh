#!/usr/bin/env bash
# Client overhead, side by side: quantgate bench vs a Python asyncio/aiohttp client (vllm bench serve's
# kind) against the scripted server (TTFT 5 ms, ITL 2 ms: anything above is client + loopback + server
# timer overshoot, the same for both). Not a test: prints figures.
# Usage: bench_client_overhead.sh BUILD_DIR [CONCURRENCIES...]   (default 1 64 512 2048)
set -euo pipefail
build="$1"; shift
levels=("${@:-1 64 512 2048}")
[ $# -eq 0 ] && levels=(1 64 512 2048)
here="$(cd "$(dirname "$0")" && pwd)"
tmp=$(mktemp -d)
for c in "${levels[@]}"; do
  n=$((c * 4 > 200 ? c * 4 : 200))
  "$build/tests/qg_sse_test_server" --ttft-ms 5 --itl-ms 2 --threads $((c + 64)) --seconds 600 >"$tmp/port" &
  pid=$!
  for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  url="http://127.0.0.1:$(awk '{print $2}' "$tmp/port")"
  /usr/bin/time -f "quantgate cpu %U user %S sys %e wall" "$build/quantgate" bench --base-url "$url" \
    --max-concurrency "$c" --num-prompts "$n" --num-warmups "$c" --output-len 32 --input-len 8 --json "$tmp/q.json" \
    >/dev/null 2>"$tmp/qerr"
  grep "quantgate cpu" "$tmp/qerr"
  python3 -c "
import json; l=json.load(open('$tmp/q.json'))['levels'][0]
print(json.dumps({'client':'quantgate','concurrency':$c,'ttft_p50_ms':l['median_ttft_ms'],'ttft_p99_ms':l['p99_ttft_ms'],
 'itl_p50_ms':l['median_itl_ms'],'itl_p99_ms':l['p99_itl_ms'],'failed':l['failed'],'duration_s':l['duration']}))"
  /usr/bin/time -f "python cpu %U user %S sys %e wall" /usr/bin/python3 "$here/aiohttp_client.py" "$url" "$c" "$n" 32 2>"$tmp/perr" || cat "$tmp/perr"
  grep "python cpu" "$tmp/perr" || true
  kill $pid; wait $pid 2>/dev/null || true
done
rm -rf "$tmp"
