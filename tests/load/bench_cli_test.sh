#!/usr/bin/env bash
# `quantgate bench` end to end against the scripted server: exit codes, table, results JSON keys.
# Usage: bench_cli_test.sh QUANTGATE QG_SSE_TEST_SERVER
set -euo pipefail
qg="$1"
srv="$2"
tmp=$(mktemp -d)
"$srv" --ttft-ms 3 --itl-ms 1 --seconds 120 >"$tmp/port" &
srv_pid=$!
trap 'kill $srv_pid 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
port=$(awk '{print $2}' "$tmp/port")
fail() { echo "FAIL: $*"; exit 1; }

# Two concurrency levels, completions, model discovered from /v1/models.
"$qg" bench --base-url "http://127.0.0.1:$port" --max-concurrency 1,4 --num-prompts 8 --num-warmups 2 \
  --input-len 16 --output-len 6 --goodput ttft:1000 --json "$tmp/r.json" >"$tmp/out" 2>"$tmp/err" || fail "bench exit $?"
grep -q "TTFT p50" "$tmp/out" || fail "no table"
grep -q "scripted-model" "$tmp/out" || fail "model not discovered"
python3 - "$tmp/r.json" <<'PY' || fail "results JSON"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["model_id"] == "scripted-model"
assert [l["max_concurrency"] for l in d["levels"]] == [1, 4]
for l in d["levels"]:
    assert l["completed"] == 8 and l["failed"] == 0
    assert l["total_output_tokens"] == 48
    for k in ("mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "p99.9_itl_ms", "mean_tpot_ms", "p50_e2el_ms",
              "request_throughput", "output_throughput", "total_token_throughput", "request_goodput"):
        assert k in l, k
    assert l["mean_ttft_ms"] >= 3.0
    assert l["quantgate"]["output_token_source"] == "server usage"
assert "provenance" in d and "argv" in d["provenance"]
assert d["schema"] == "quantgate.results/1" and d["kind"] == "bench", (d["schema"], d["kind"])
assert d["provenance"]["flags"]["max-concurrency"] == "1,4" and d["provenance"]["seeds"]["prompts"] == 0
assert d["provenance"]["gpu"] is not None or d["provenance"]["gpu_note"]
assert d["served_checkpoint"] is None
for l in d["levels"]:
    sm = l["quantgate"]["server_metrics"]
    assert sm["present"] and "vllm:kv_cache_usage_perc" in sm["gauges_peak"], sm
    assert sm["counters_delta"]["vllm:prompt_tokens_total"] >= 6 * 8, sm
assert d["vram"]["measured"] is False and d["vram"]["reason"]
PY

# Chat endpoint, API key from the environment: never printed or saved.
QG_TEST_KEY=sekrit-123 "$qg" bench --base-url "http://127.0.0.1:$port" --endpoint chat --api-key-env QG_TEST_KEY \
  --num-prompts 4 --output-len 4 --json "$tmp/c.json" >"$tmp/out" 2>"$tmp/err" || fail "chat bench exit $?"
! grep -q "sekrit" "$tmp/out" "$tmp/err" "$tmp/c.json" || fail "API key leaked"

# --checkpoint: the served checkpoint's identity and scheme are recorded (what `quantgate card` matches rows by).
fixtures="$(dirname "$0")/../fixtures"
"$qg" bench --base-url "http://127.0.0.1:$port" --num-prompts 2 --output-len 2 --checkpoint "$fixtures/gemma4/e_style_w4a16" \
  --json "$tmp/k.json" >"$tmp/out" 2>"$tmp/err" || fail "bench --checkpoint exit $?"
python3 - "$tmp/k.json" <<'PY' || fail "bench --checkpoint results"
import json, sys
d = json.load(open(sys.argv[1]))
q = d["served_checkpoint"]["quantization"]
assert q == {"method": "compressed-tensors", "scheme": "W4A16", "format": "pack-quantized"}, q
names = [f["name"] for f in d["provenance"]["checkpoints"]["served"]["files"]]
assert "config.json" in names and "model.safetensors" in names, names
PY
set +e
"$qg" bench --base-url "http://127.0.0.1:$port" --num-prompts 2 --checkpoint "$tmp/nowhere" >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "nowhere/config.json" "$tmp/err" || fail "bench --checkpoint of a missing dir: exit $rc, $(cat "$tmp/err")"

# Every request fails: exit 2 with the first error shown.
set +e
"$qg" bench --base-url "http://127.0.0.1:1" --model m --num-prompts 2 --timeout 5 >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 2 ] || fail "refused: exit $rc, want 2"
grep -q "every request failed; first error: connect" "$tmp/err" || fail "first error not shown"
echo "bench CLI: ok"
