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

# https: a TLS front (Python's ssl, a self-signed certificate made here) relays to the scripted server. Verification is
# on by default, so the unknown issuer is refused (exit 2, the TLS error shown); trusting the certificate with
# --cacert passes (so verification really checks, not just fails); --insecure skips verification.
if command -v openssl >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 1 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1 || fail "openssl could not make a test certificate"
  python3 - "$tmp/cert.pem" "$tmp/key.pem" "$port" >"$tmp/tls_port" <<'PY' &
import asyncio, ssl, sys
cert, key, upstream = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
async def pipe(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        w.close()
async def handle(cr, cw):
    ur, uw = await asyncio.open_connection("127.0.0.1", upstream)
    await asyncio.gather(pipe(cr, uw), pipe(ur, cw))
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)
    print("port", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(120)
asyncio.run(main())
PY
  tls_pid=$!
  trap 'kill $srv_pid $tls_pid 2>/dev/null; rm -rf "$tmp"' EXIT
  for _ in $(seq 50); do [ -s "$tmp/tls_port" ] && break; sleep 0.1; done
  tls_url="https://127.0.0.1:$(awk '{print $2}' "$tmp/tls_port")"
  set +e
  "$qg" bench --base-url "$tls_url" --model m --num-prompts 2 --output-len 2 --timeout 10 >"$tmp/out" 2>"$tmp/err"
  rc=$?
  set -e
  [ "$rc" = 2 ] && grep -qiE "certificate|SSL" "$tmp/err" || fail "self-signed https not refused: exit $rc, $(head -3 "$tmp/err")"
  "$qg" bench --base-url "$tls_url" --model m --num-prompts 2 --output-len 2 --cacert "$tmp/cert.pem" \
    --json "$tmp/tls.json" >"$tmp/out" 2>"$tmp/err" || fail "trusted https: exit $?, $(head -3 "$tmp/err")"
  "$qg" bench --base-url "$tls_url" --model m --num-prompts 2 --output-len 2 --insecure >"$tmp/out" 2>"$tmp/err" \
    || fail "--insecure https: exit $?, $(head -3 "$tmp/err")"
  python3 - "$tmp/tls.json" <<'PY' || fail "https results"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["levels"][0]["completed"] == 2 and d["levels"][0]["failed"] == 0, d["levels"][0]
assert d["server"]["http_version"] == "1.1", d["server"]  # ALPN offers h2; this front speaks HTTP/1.1 only
PY
else
  fail "openssl is needed for the https checks (Debian package openssl)"
fi

# Every request fails: exit 2 with the first error shown.
set +e
"$qg" bench --base-url "http://127.0.0.1:1" --model m --num-prompts 2 --timeout 5 >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 2 ] || fail "refused: exit $rc, want 2"
grep -q "every request failed; first error: connect" "$tmp/err" || fail "first error not shown"
echo "bench CLI: ok"
