#!/usr/bin/env bash
# End-to-end checks of the quantgate binary: exit codes (0 ok, 2 error) and the messages users see.
# Usage: cli_test.sh QUANTGATE_BIN FIXTURES_DIR
set -u
bin=$1
fixtures=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect CODE PATTERN -- CMD...: runs CMD, checks its exit code and that stdout+stderr match PATTERN.
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$code" ] || ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL: $* -> exit $rc (want $code), output must match /$pattern/:"
    echo "$out" | head -20
    failures=$((failures + 1))
  else
    echo "ok: $*"
  fi
}

expect 0 '^quantgate [0-9]+\.[0-9]+\.[0-9]+ \(git ([0-9a-f]+|unknown)' -- "$bin" --version
expect 0 'inspect' -- "$bin" --help
expect 0 '--json' -- "$bin" inspect --help
expect 2 'subcommand' -- "$bin"
expect 2 'no-such-flag' -- "$bin" inspect "$fixtures/gemma4/all_features" --no-such-flag

# Bare configs: the E4B numbers of the issue, computed without weights.
expect 0 'text-decoder parameters: 7,463,013,376 .* 2,818,572,288 in the PLE' -- "$bin" inspect "$fixtures/configs/gemma4_e4b.json"
expect 0 'text-decoder parameters: 7,463,013,376' -- "$bin" inspect "$fixtures/configs/gemma4_e4b_google_form.json"

# A real (tiny) checkpoint, human output and JSON.
expect 0 'Gemma4ForCausalLM' -- "$bin" inspect "$fixtures/gemma4/all_features" --json "$tmp/inspect.json"
python3 - "$tmp/inspect.json" <<'PY' || failures=$((failures + 1))
import json, sys
r = json.load(open(sys.argv[1]))
assert r["schema"] == "quantgate.inspect/1", r["schema"]
assert r["source"]["has_weights"] is True
assert r["parameters"]["text_decoder"] > 0
assert r["provenance"]["git_sha"]
print("ok: inspect --json is valid")
PY
expect 0 'sharded via' -- "$bin" inspect "$fixtures/gemma4/cond_gen"

# Bad input: exit 2 and a message naming the file (and tensor).
expect 2 'error: .*does-not-exist.*no such file' -- "$bin" inspect "$tmp/does-not-exist"
mkdir -p "$tmp/trunc"
cp "$fixtures/gemma4/e_style/config.json" "$tmp/trunc/"
src="$fixtures/gemma4/e_style/model.safetensors"
head -c $(( $(stat -c %s "$src") - 64 )) "$src" > "$tmp/trunc/model.safetensors"
expect 2 "error: .*trunc/model.safetensors: tensor '.*': data_offsets .*truncated" -- "$bin" inspect "$tmp/trunc"
mkdir -p "$tmp/badcfg"
echo '{"model_type": "llama", "architectures": ["LlamaForCausalLM"]}' > "$tmp/badcfg/config.json"
expect 2 "error: .*badcfg/config.json: unknown model_type 'llama'" -- "$bin" inspect "$tmp/badcfg"
echo '{"model_type": ' > "$tmp/badcfg/config.json"
expect 2 "error: .*badcfg/config.json: not valid JSON" -- "$bin" inspect "$tmp/badcfg"

if [ "$failures" -ne 0 ]; then
  echo "$failures CLI check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
