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
  # --http 2 against this HTTP/1.1-only front: ALPN falls back to HTTP/1.1, the run goes on and says so.
  "$qg" bench --base-url "$tls_url" --model m --num-prompts 2 --output-len 2 --cacert "$tmp/cert.pem" --http 2 \
    >"$tmp/out" 2>"$tmp/err" || fail "--http 2 over an HTTP/1.1 front: exit $?, $(head -3 "$tmp/err")"
  grep -q "warning: --http 2 but 2 requests at concurrency 1 used HTTP/1.1" "$tmp/err" || fail "no HTTP/1.1 fallback warning: $(cat "$tmp/err")"
  python3 - "$tmp/tls.json" <<'PY' || fail "https results"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["levels"][0]["completed"] == 2 and d["levels"][0]["failed"] == 0, d["levels"][0]
assert d["server"]["http_version"] == "1.1", d["server"]  # ALPN offers h2; this front speaks HTTP/1.1 only
PY
else
  fail "openssl is needed for the https checks (Debian package openssl)"
fi

# HTTP/2 on the wire, against tests/load/h2_sse_server.py: hypercorn, an HTTP/2 server that offers h2 and
# http/1.1 by ALPN over TLS and speaks h2c with prior knowledge on cleartext. It scripts TTFT 40 ms, ITL 10 ms and
# 6 tokens per response whatever max_tokens says (so the output count comes from the script, not the request),
# and reports on GET /stats what it saw: requests by HTTP version and distinct client connections.
# TTFT bound: measured TTFT >= the script (the server starts its 40 ms when the app receives the request, after
# the client's start), and its median is at most 40 ms above it: a CPython server (hypercorn's h2 framing, TLS,
# asyncio timer lateness) adds ~1-3 ms per event on an idle machine, 6-15 ms measured here with load average 6
# (other builds); the rest is margin for ctest --parallel on a 2-core CI box, where a descheduled Python process
# loses tens of ms. A client that timed to the end of the stream (40 + 5 * 10 = 90 ms) or from the wrong origin
# (seconds) falls outside; TTFT to 1 ms is checked against the C++ scripted server (tests/load/load_client_test.cpp).
h2_py=""
for py in python3 /usr/bin/python3; do
  if command -v "$py" >/dev/null && "$py" -c 'import hypercorn, h2' 2>/dev/null; then h2_py="$py"; break; fi
done
h2_skipped=""
if [ -z "$h2_py" ]; then
  h2_skipped=1
  for _ in 1 2 3; do echo "########## SKIPPED: HTTP/2 wire tests: python3-hypercorn is not installed (scripts/setup.sh installs it) ##########"; done
  for _ in 1 2 3; do echo "########## SKIPPED: HTTP/2 wire tests: python3-hypercorn is not installed (scripts/setup.sh installs it) ##########" >&2; done
else
  h2_srv="$(dirname "$0")/h2_sse_server.py"
  start_h2() {  # start_h2 NAME [server flags...]: starts a server, sets h2_pids and NAME's port in $tmp/NAME.port
    local name="$1"; shift
    "$h2_py" "$h2_srv" --ttft-ms 40 --itl-ms 10 --tokens 6 --seconds 120 "$@" >"$tmp/$name.port" 2>"$tmp/$name.log" &
    h2_pids="$h2_pids $!"
    for _ in $(seq 100); do [ -s "$tmp/$name.port" ] && break; sleep 0.1; done
    [ -s "$tmp/$name.port" ] || fail "h2 test server $name did not start: $(cat "$tmp/$name.log")"
  }
  h2_pids=""
  trap 'kill $srv_pid $tls_pid $h2_pids 2>/dev/null; rm -rf "$tmp"' EXIT
  start_h2 tls --certfile "$tmp/cert.pem" --keyfile "$tmp/key.pem"
  start_h2 clear
  start_h2 mux --certfile "$tmp/cert.pem" --keyfile "$tmp/key.pem"
  h2_tls="https://127.0.0.1:$(awk '{print $2}' "$tmp/tls.port")"
  h2_clear="http://127.0.0.1:$(awk '{print $2}' "$tmp/clear.port")"
  h2_mux="https://127.0.0.1:$(awk '{print $2}' "$tmp/mux.port")"
  h2_bench() {  # h2_bench OUT.json NUM_PROMPTS NUM_WARMUPS [bench flags...]
    local out="$1" n="$2" warm="$3"; shift 3
    "$qg" bench --num-prompts "$n" --num-warmups "$warm" --input-len 8 --output-len 16 --timeout 20 --json "$out" "$@" \
      >"$out.out" 2>"$out.err" || fail "bench $*: exit $?, $(head -5 "$out.err")"
  }
  # (a) https, verified with --cacert, --http auto: h2 by ALPN for every request.
  h2_bench "$tmp/h2.json" 10 1 --base-url "$h2_tls" --cacert "$tmp/cert.pem"
  # (b) the same server with --http 1.1: hypercorn answers HTTP/1.1.
  h2_bench "$tmp/h11.json" 10 1 --base-url "$h2_tls" --cacert "$tmp/cert.pem" --http 1.1
  # (c) cleartext: --http 2 is h2c with prior knowledge; auto stays HTTP/1.1 there. One request only: hypercorn
  # 0.13.2 serves the first stream of a prior-knowledge connection and then fails the connection with an HTTP/2
  # framing error (curl --http2-prior-knowledge with two URLs shows the same), so several h2c requests on one
  # connection test hypercorn's bug, not the client; h2 multiplexing is tested over TLS in (d).
  h2_bench "$tmp/h2c.json" 1 0 --base-url "$h2_clear" --http 2
  h2_bench "$tmp/clear11.json" 10 1 --base-url "$h2_clear"
  # (d) concurrency 8 over h2 (its own server, so its /stats see only this run): 8 streams in flight at once
  # over fewer connections than requests (HTTP/1.1 would need 8).
  h2_bench "$tmp/mux.json" 32 0 --base-url "$h2_mux" --cacert "$tmp/cert.pem" --max-concurrency 8
  # The contrast that shows the count discriminates: HTTP/1.1 at concurrency 8 needs 8 connections.
  h2_bench "$tmp/mux11.json" 32 0 --base-url "$h2_mux" --cacert "$tmp/cert.pem" --max-concurrency 8 --http 1.1
  grep -q "concurrency 1: HTTP/2 x10; " "$tmp/h2.json.out" || fail "no HTTP version line in the table: $(cat "$tmp/h2.json.out")"
  "$h2_py" - "$tmp" "$h2_tls" "$h2_clear" "$h2_mux" "$(dirname "$0")/../../reports/schema/results-1.schema.json" \
    <<'PY' || fail "HTTP/2 results"
import json, ssl, sys, urllib.request
tmp, tls_url, clear_url, mux_url, schema_path = sys.argv[1:]
ctx = ssl.create_default_context(cafile=f"{tmp}/cert.pem")
def stats(url):
    return json.load(urllib.request.urlopen(url + "/stats", context=ctx if url.startswith("https") else None, timeout=10))
def level(name):
    d = json.load(open(f"{tmp}/{name}.json"))
    assert d["model_id"] == "h2-scripted-model", d["model_id"]
    assert len(d["levels"]) == 1
    return d, d["levels"][0]
SCRIPT_TTFT_MS, TTFT_MARGIN_MS, TOKENS = 40.0, 40.0, 6  # the server's flags; the margin is justified above
report = []
for name, want, n in (("h2", "2", 10), ("h11", "1.1", 10), ("h2c", "2", 1), ("clear11", "1.1", 10)):
    d, l = level(name)
    assert l["completed"] == n and l["failed"] == 0, (name, l["completed"], l["failed"], l["quantgate"]["first_error"])
    assert l["quantgate"]["http_versions"] == {want: n}, (name, l["quantgate"]["http_versions"])
    assert d["server"]["http_version"] == want, (name, d["server"])
    assert l["total_output_tokens"] == n * TOKENS, (name, l["total_output_tokens"])
    assert l["quantgate"]["output_token_source"] == "server usage", name
    # One connection carries the warm-up and the measured requests in turn at concurrency 1.
    assert l["quantgate"]["connections_opened"] == 1, (name, l["quantgate"]["connections_opened"])
    p50 = l["median_ttft_ms"]
    assert l["quantgate"]["ttft_ms"]["min"] >= SCRIPT_TTFT_MS, (name, l["quantgate"]["ttft_ms"])
    # The h2c run is one cold request (connection setup and the server's first request in the median): no bound.
    assert n == 1 or p50 <= SCRIPT_TTFT_MS + TTFT_MARGIN_MS, (name, p50)
    report.append(f"{name}: HTTP/{want} TTFT p50 {p50:.2f} ms (scripted {SCRIPT_TTFT_MS:.0f})")
# The server's own view agrees: on the TLS server 11 requests (warm-up included) over h2 and 11 over HTTP/1.1;
# on the cleartext one 1 over h2c and 11 over HTTP/1.1.
s = stats(tls_url)
assert s["http_versions"] == {"2": 11, "1.1": 11}, s
s = stats(clear_url)
assert s["http_versions"] == {"2": 1, "1.1": 11}, s
# (d) multiplexing: all 32 over h2, 8 in flight at once at the server, on fewer connections than requests
# (curl waits for the first connection's ALPN answer and then adds streams to it: 1 connection here).
d, l = level("mux")
assert l["completed"] == 32 and l["failed"] == 0, l
assert l["quantgate"]["http_versions"] == {"2": 32}, l["quantgate"]["http_versions"]
conns = l["quantgate"]["connections_opened"]
d11, l11 = level("mux11")
assert l11["completed"] == 32 and l11["quantgate"]["http_versions"] == {"1.1": 32}, l11["quantgate"]
conns11 = l11["quantgate"]["connections_opened"]
s = stats(mux_url)
assert s["http_versions"] == {"2": 32, "1.1": 32} and s["peak_in_flight"] == 8, s
assert 1 <= conns < 8 and conns11 == 8 and s["connections"] == conns + conns11, (conns, conns11, s)
assert l["max_concurrent_requests"] == 8, l["max_concurrent_requests"]
report.append(f"mux: 32 requests at concurrency 8 over {conns} h2 connection(s) vs {conns11} for HTTP/1.1 "
              f"(server saw {s['connections']} in all)")
try:  # the new keys (http_versions, connections_opened) against the JSON Schema
    import jsonschema
except ImportError:
    print("SKIP: h2 results vs the JSON Schema: python3-jsonschema is not installed (scripts/setup.sh installs it)")
else:
    schema = json.load(open(schema_path))
    for name in ("h2", "h11", "h2c", "clear11", "mux", "mux11"):
        jsonschema.validate(json.load(open(f"{tmp}/{name}.json")), schema, cls=jsonschema.Draft202012Validator)
print("h2 wire:", "; ".join(report))
PY
  grep -q "warning: --http 2" "$tmp/h2c.json.err" && fail "h2c warned although every request used h2"
fi

# A bad --http value is refused before anything is sent.
set +e
"$qg" bench --base-url "http://127.0.0.1:$port" --num-prompts 2 --http 3 >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "\-\-http expects auto, 1.1 or 2, got '3'" "$tmp/err" || fail "--http 3: exit $rc, $(cat "$tmp/err")"

# Every request fails: exit 2 with the first error shown.
set +e
"$qg" bench --base-url "http://127.0.0.1:1" --model m --num-prompts 2 --timeout 5 >"$tmp/out" 2>"$tmp/err"
rc=$?
set -e
[ "$rc" = 2 ] || fail "refused: exit $rc, want 2"
grep -q "every request failed; first error: connect" "$tmp/err" || fail "first error not shown"
echo "bench CLI: ok${h2_skipped:+ (HTTP/2 wire tests SKIPPED: python3-hypercorn missing)}"
