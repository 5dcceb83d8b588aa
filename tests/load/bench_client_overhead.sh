#!/usr/bin/env bash
# Client overhead, side by side: quantgate bench vs a Python asyncio/aiohttp client (vllm bench serve's
# kind, Debian's python3-aiohttp, run with /usr/bin/python3) against the scripted epoll server
# (qg_sse_test_server). A benchmark, not a test: prints a table.
#   SSE events/s per core = token events handled (warm-up included) / client CPU seconds (user + sys).
#     quantgate: the whole process (/usr/bin/time); Python: process_time() around the requests only
#     (interpreter start-up and imports excluded, which favours Python).
#   Added latency = measured TTFT − scripted TTFT and measured ITL − scripted ITL (p50/p99, warm-up
#     excluded); the server's own timer/send delay is in both clients' figures alike.
# The scripted ITL grows with concurrency so the server's aggregate rate stays ~RATE events/s (default
# 16000: one server thread on a shared 2-core box keeps its schedule there); TTFT 5 ms, 32 tokens/request.
# Usage: bench_client_overhead.sh BUILD_DIR [CONCURRENCIES...]   (default 1 64 512 2048; RATE=... to change)
set -euo pipefail
build="$1"; shift
levels=("$@")
[ ${#levels[@]} -eq 0 ] && levels=(1 64 512 2048)
rate="${RATE:-16000}"
out_len=32
ttft=5
here="$(cd "$(dirname "$0")" && pwd)"
/usr/bin/python3 -c "import aiohttp" 2>/dev/null || { echo "needs Debian's python3-aiohttp (apt-get install python3-aiohttp)"; exit 2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
tmp=$(mktemp -d)
srv_pid=""
trap '[ -n "$srv_pid" ] && kill $srv_pid 2>/dev/null; rm -rf "$tmp"' EXIT
: >"$tmp/rows"
for c in "${levels[@]}"; do
  n=$((c * 4 > 200 ? c * 4 : 200))
  itl=$(python3 -c "print(max(2.0, $c * 1000.0 / $rate))")
  rm -f "$tmp/port"  # a stale port from the previous level must not be read
  "$build/tests/qg_sse_test_server" --ttft-ms $ttft --itl-ms "$itl" --seconds 3600 >"$tmp/port" &
  srv_pid=$!
  for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  url="http://127.0.0.1:$(awk '{print $2}' "$tmp/port")"
  /usr/bin/time -f "%U %S" -o "$tmp/qtime" "$build/quantgate" bench --base-url "$url" --no-vram \
    --max-concurrency "$c" --num-prompts "$n" --num-warmups "$c" --output-len $out_len --input-len 8 \
    --json "$tmp/q.json" >/dev/null 2>"$tmp/qerr" || { cat "$tmp/qerr"; exit 1; }
  /usr/bin/python3 - "$tmp/q.json" "$tmp/qtime" $c $n $out_len $ttft "$itl" >>"$tmp/rows" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))["levels"][0]
user, sys_ = map(float, open(sys.argv[2]).read().split()[-2:])
c, n, out_len, ttft, itl = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
print(json.dumps({"client": "quantgate", "c": c, "itl": itl, "failed": l["failed"], "events": (n + c) * out_len,
                  "cpu_s": user + sys_, "ttft": [l["median_ttft_ms"] - ttft, l["p99_ttft_ms"] - ttft],
                  "itl_err": [l["median_itl_ms"] - itl, l["p99_itl_ms"] - itl]}))
PY
  /usr/bin/python3 "$here/aiohttp_client.py" "$url" "$c" "$n" $out_len "$c" >"$tmp/p.json" 2>"$tmp/perr" || { cat "$tmp/perr"; exit 1; }
  /usr/bin/python3 - "$tmp/p.json" $c $n $ttft "$itl" >>"$tmp/rows" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
c, n, ttft, itl = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
print(json.dumps({"client": "python-aiohttp", "c": c, "itl": itl, "failed": n - p["completed"], "events": p["events"],
                  "cpu_s": p["cpu_s"], "ttft": [p["ttft_p50_ms"] - ttft, p["ttft_p99_ms"] - ttft],
                  "itl_err": [p["itl_p50_ms"] - itl, p["itl_p99_ms"] - itl]}))
PY
  kill $srv_pid; wait $srv_pid 2>/dev/null || true
  srv_pid=""
done
/usr/bin/python3 - "$tmp/rows" <<'PY'
import json, sys
print("| concurrency | scripted ITL ms | client | failed | events | CPU s | events/s per core | TTFT added p50 / p99 ms | ITL added p50 / p99 ms |")
print("|---|---|---|---|---|---|---|---|---|")
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(f"| {r['c']} | {r['itl']:g} | {r['client']} | {r['failed']} | {r['events']} | {r['cpu_s']:.2f} | "
          f"{r['events'] / max(r['cpu_s'], 1e-9):,.0f} | {r['ttft'][0]:.2f} / {r['ttft'][1]:.2f} | "
          f"{r['itl_err'][0]:.2f} / {r['itl_err'][1]:.2f} |")
PY
