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
expect 0 'K/V cache per sequence at 32,768 tokens: 278.92 MB in fp8' -- "$bin" inspect "$fixtures/configs/gemma4_e4b.json"
expect 0 'text-decoder parameters: 7,463,013,376' -- "$bin" inspect "$fixtures/configs/gemma4_e4b_google_form.json"

# A real (tiny) checkpoint, human output and JSON.
expect 0 'Gemma4ForCausalLM' -- "$bin" inspect "$fixtures/gemma4/all_features" --json "$tmp/inspect.json"
python3 - "$tmp/inspect.json" <<'PY' || failures=$((failures + 1))
import json, sys
r = json.load(open(sys.argv[1]))
assert r["schema"] == "quantgate.results/1" and r["kind"] == "inspect", (r["schema"], r["kind"])
assert r["provenance"]["flags"]["hash"] is False and r["provenance"]["checkpoints"]["inspected"]["files"]
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

# score: every fixture's logits equal transformers' golden (tolerance as tests/forward), --text goes
# through the checkpoint's tokenizer.json, and bad input or an unsupported config exits 2.
for f in all_features e_style moe_style cond_gen e_style_w4a16; do  # the W4A16 fixture has e_style's ids
  ids=$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["golden"]["ids"])))' \
        "$fixtures/gemma4/${f%_w4a16}/expected.json")
  expect 0 'logits \[21, 512\] fp32 -> ' -- "$bin" score "$fixtures/gemma4/$f" --tokens "$ids" --out "$tmp/score/$f.safetensors"
done
python3 - "$fixtures/gemma4" "$tmp/score" <<'PY' || failures=$((failures + 1))
import array, json, struct, sys
def read(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    out = {}
    for k, v in json.loads(b[8:8 + n]).items():
        if k != "__metadata__":
            a = array.array({"F32": "f", "I64": "q"}[v["dtype"]])
            a.frombytes(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            out[k] = (v["shape"], a)
    return out
for f in ("all_features", "e_style", "moe_style", "cond_gen", "e_style_w4a16"):
    got, want = read(f"{sys.argv[2]}/{f}.safetensors"), read(f"{sys.argv[1]}/{f}/golden/golden.safetensors")
    assert got["ids"] == want["ids"], f
    assert got["logits"][0] == want["logits"][0], (f, got["logits"][0])
    d = max(abs(a - b) for a, b in zip(got["logits"][1], want["logits"][1]))
    assert d <= 1e-4, (f, d)
    print(f"ok: score {f} equals transformers' logits (max|diff| {d:.1e})")
PY
mkdir -p "$tmp/withtok"
cp "$fixtures/gemma4/all_features/config.json" "$fixtures/gemma4/all_features/model.safetensors" "$tmp/withtok/"
cat > "$tmp/withtok/tokenizer.json" <<'JSON'
{"version": "1.0", "normalizer": null, "pre_tokenizer": null, "decoder": null,
 "added_tokens": [{"id": 2, "content": "<bos>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
 "post_processor": {"type": "TemplateProcessing",
   "single": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
   "pair": [{"SpecialToken": {"id": "<bos>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
   "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}},
 "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "end_of_word_suffix": null,
   "fuse_unk": false, "byte_fallback": false, "vocab": {"<bos>": 2, "a": 3, "b": 4, "ab": 5, " ": 6}, "merges": [["a", "b"]]}}
JSON
expect 0 'logits \[4, 512\]' -- "$bin" score "$tmp/withtok" --text "ab a" --out "$tmp/score/text.safetensors"
expect 0 'logits \[4, 512\]' -- "$bin" score "$tmp/withtok" --tokens 2,5,6,3 --out "$tmp/score/tokens.safetensors"
if cmp -s <(tail -c 8192 "$tmp/score/text.safetensors") <(tail -c 8192 "$tmp/score/tokens.safetensors"); then
  echo "ok: score --text 'ab a' == --tokens 2,5,6,3"
else
  echo "FAIL: score --text and --tokens logits differ"; failures=$((failures + 1))
fi
expect 2 "error: --tokens: 'x' \(entry 2\) is not a token id" -- "$bin" score "$tmp/withtok" --tokens 2,x --out "$tmp/s.safetensors"
expect 2 'error: --tokens: token 600 at index 1 is outside the vocabulary \[0, 512\)' -- "$bin" score "$tmp/withtok" --tokens 2,600 --out "$tmp/s.safetensors"
expect 2 'error: .*all_features: no tokenizer.json' -- "$bin" score "$fixtures/gemma4/all_features" --text "ab" --out "$tmp/s.safetensors"
expect 2 'error: .*must name a .safetensors file' -- "$bin" score "$tmp/withtok" --tokens 2 --out "$tmp/s.bin"
for change in '"use_bidirectional_attention": "all"' '"hidden_activation": "relu"' \
              '"rope_parameters": {"sliding_attention": {"rope_type": "yarn", "rope_theta": 10000.0}}'; do
  python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); c.update(json.loads("{"+sys.argv[2]+"}")); json.dump(c, open(sys.argv[3], "w"))' \
    "$fixtures/gemma4/all_features/config.json" "$change" "$tmp/withtok/config.json"
  expect 2 "error: .*withtok/config.json: .*(cannot run this config|not supported)" -- "$bin" score "$tmp/withtok" --tokens 2 --out "$tmp/s.safetensors"
done

# quantize: a fixture into W4A16, then inspect's audit of the result; bad input exits 2.
expect 0 'quantized 32 Linear layers \(W4A16\)' -- "$bin" quantize "$fixtures/gemma4/e_style" "$tmp/q4" --group-size 16 --json "$tmp/quantize.json"
expect 0 'audit: PASS' -- "$bin" inspect "$tmp/q4"
expect 2 "error: .*config.json: this checkpoint is already quantized" -- "$bin" quantize "$tmp/q4" "$tmp/q5"
expect 2 "error: .*model.safetensors: tensor 'model.layers.0.mlp.gate_proj.weight': group size 24 does not divide" -- "$bin" quantize "$fixtures/gemma4/e_style" "$tmp/q6" --group-size 24
expect 2 "W3A7" -- "$bin" quantize "$fixtures/gemma4/e_style" "$tmp/q7" --scheme W3A7

# tokenize: ids and count as the `tokenizers` library gives them; --json for diffing; bad input exits 2.
gemma_tok="$fixtures/../../../shared/datasets/tokenizers/gemma3"
expect 0 '^7925 236787 603$' -- "$bin" tokenize "$gemma_tok" --text "Answer: B"
expect 0 'count: 4' -- "$bin" tokenize "$gemma_tok/tokenizer.json" --text "Answer: B" --add-special
expect 0 'BOS rule: .*starts with <bos> \(id 2\)' -- "$bin" tokenize "$gemma_tok" --text "x"
printf 'line one\n\tline two\n' > "$tmp/tok_in.txt"
expect 0 'count: ' -- "$bin" tokenize "$fixtures/text/llama3_like" --file "$tmp/tok_in.txt" --add-special --json "$tmp/tok.json"
python3 - "$tmp/tok.json" <<'PY' || failures=$((failures + 1))
import json, sys
r = json.load(open(sys.argv[1]))
assert r["count"] == len(r["ids"]) > 3, r
assert r["ids"][0] == r["bos_rule"]["bos_id"], r
assert r["provenance"]["git_sha"]
print("ok: tokenize --json has ids, count and the BOS rule")
PY
expect 2 'error: .*does-not-exist.*no such file' -- "$bin" tokenize "$tmp/does-not-exist" --text "x"
expect 2 'error: tokenize needs the input' -- "$bin" tokenize "$gemma_tok" 
expect 2 'excludes' -- "$bin" tokenize "$gemma_tok" --text "x" --file "$tmp/tok_in.txt"
printf 'ok \xff\xfe bad' > "$tmp/bad_utf8.txt"
expect 2 'error: .*bad_utf8.txt: invalid UTF-8 at byte offset 3' -- "$bin" tokenize "$fixtures/text/llama3_like" --file "$tmp/bad_utf8.txt"
mkdir -p "$tmp/badtok"
echo '{"version": "1.0", "model": ' > "$tmp/badtok/tokenizer.json"
expect 2 'error: .*badtok/tokenizer.json: not valid JSON' -- "$bin" tokenize "$tmp/badtok" --text "x"
echo '{"version": "1.0", "model": {"type": "Unigram", "vocab": []}}' > "$tmp/badtok/tokenizer.json"
expect 2 "error: .*badtok/tokenizer.json: model.type: model type 'Unigram' is not supported" -- "$bin" tokenize "$tmp/badtok" --text "x"

# mmlu: the tiny fixture with the tiny512 byte-level tokenizer (ids < 512) beside it; ref = cand -> recovery 1, exit 0.
mmlu_data="$fixtures/../../../shared/datasets/mmlu"
mkdir -p "$tmp/mmlu_model"
cp "$fixtures/gemma4/e_style/config.json" "$fixtures/gemma4/e_style/model.safetensors" "$fixtures/text/tiny512/tokenizer.json" "$tmp/mmlu_model/"
expect 0 'PASS: recovery 1\.0000' -- "$bin" mmlu --model "$tmp/mmlu_model" --ref "$tmp/mmlu_model" --data "$mmlu_data" --shots 0 --subjects abstract_algebra,anatomy --limit 3 --json "$tmp/mmlu.json" --dump-prompts "$tmp/mmlu_prompts.jsonl" --dump-scores "$tmp/mmlu_scores.jsonl" --threads 2
python3 - "$tmp/mmlu.json" "$tmp/mmlu_prompts.jsonl" "$tmp/mmlu_scores.jsonl" <<'PY' || failures=$((failures + 1))
import json, sys
r = json.load(open(sys.argv[1]))
assert r["pass"] and r["recovery"]["recovery"] == 1.0, r["recovery"]
assert r["candidate"]["overall"]["n"] == 6 and set(r["candidate"]["groups"]) == {"stem"}, r["candidate"]["overall"]
assert "exactly one BOS" in r["settings"]["bos_rule"] and r["provenance"]["git_sha"]
p = [json.loads(l) for l in open(sys.argv[2])]
assert len(p) == 6 and p[0]["context"].startswith("The following are multiple choice questions (with answers) about abstract algebra.\n\n")
assert p[0]["context"].endswith("\nAnswer:") and p[0]["continuations"] == [" A", " B", " C", " D"]
s = [json.loads(l) for l in open(sys.argv[3])]
assert len(s) == 12 and all(len(x["loglik"]) == 4 for x in s)
print("ok: mmlu --json/--dump-prompts/--dump-scores")
PY
expect 0 'mmlu \(micro\)' -- "$bin" mmlu --model "$tmp/mmlu_model" --data "$mmlu_data" --shots 1 --subjects world_religions --limit 2 --max-len 64 --threads 2
expect 0 'mmlu \(micro\)' -- "$bin" mmlu --model "$tmp/mmlu_model" --data "$mmlu_data" --shots 0 --subjects anatomy --limit 5 --batch 4 --threads 2
expect 1 'FAIL: recovery' -- "$bin" mmlu --model "$tmp/mmlu_model" --ref "$tmp/mmlu_model" --data "$mmlu_data" --shots 0 --subjects abstract_algebra --limit 2 --min-recovery 1.5 --threads 2
expect 2 'error: --device tpu: expected cpu, cuda or cuda:N' -- "$bin" mmlu --model "$tmp/mmlu_model" --data "$mmlu_data" --device tpu
expect 2 "error: .*categories.tsv: unknown MMLU subject 'astrology'" -- "$bin" mmlu --model "$tmp/mmlu_model" --data "$mmlu_data" --subjects astrology
expect 2 'error: --shots 6' -- "$bin" mmlu --model "$tmp/mmlu_model" --data "$mmlu_data" --shots 6 --subjects anatomy
expect 2 'error: .*nowhere/categories.tsv' -- "$bin" mmlu --model "$tmp/mmlu_model" --data "$tmp/nowhere"
# --chat end to end on a model with a real chat template (the bundled demo model carries Gemma 4's): the prompts are
# the template's turns, with its own <bos> and no second one, and the choices score without a leading space.
expect 0 'BOS: chat \(Gemma 4' -- "$bin" mmlu --model "$fixtures/../../evals/demo/model" --data "$mmlu_data" --chat --shots 2 --subjects astronomy --limit 3 --dump-prompts "$tmp/chat_prompts.jsonl" --threads 2
python3 - "$tmp/chat_prompts.jsonl" <<'PY' || failures=$((failures + 1))
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 3, len(rows)
for r in rows:
    c = r["context"]
    assert c.startswith("<bos><|turn>system\n") and c.count("<bos>") == 1, c[:80]
    assert "<|turn>model\n" in c[-80:], c[-80:]  # the generation prompt (then the template's empty thought channel)
    assert r["continuations"] == ["A", "B", "C", "D"], r["continuations"]
    assert r["context_ids"][0] == 2 and r["context_ids"].count(2) == 1
print("ok: mmlu --chat on the demo model's Gemma 4 template")
PY

# kl: per-token KL of a candidate vs its reference on the tiny fixtures (exit 0 pass, 1 fail --max-kl, 2 error).
e_style="$fixtures/gemma4/e_style"; e_w4="$fixtures/gemma4/e_style_w4a16"
python3 -c 'import random; r=random.Random(5); print(" ".join(str(r.randrange(3, 512)) for _ in range(140)))' > "$tmp/kl_ids.txt"
for i in 1 2 3 4 5 6; do echo "Quantized models should stay close to their reference; we measure it token by token."; done > "$tmp/kl_corpus.txt"
expect 0 'PASS: mean KL 0.000000 <= --max-kl 0.014' -- "$bin" kl --ref "$e_style" --cand "$e_style" --tokens-file "$tmp/kl_ids.txt" --ctx 64
expect 1 'FAIL: mean KL 0\.[0-9]+ > --max-kl 0' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --max-kl 0
expect 0 'llama.cpp-compatible: 2 chunks of 64' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --llama-cpp-compat --max-kl 100
expect 0 'same top-1' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --corpus "$tmp/kl_corpus.txt" --tokenizer "$fixtures/text/bytes512" --ctx 64 --max-kl 100 --json "$tmp/kl.json" --dump-tokens "$tmp/kl_tokens.csv"
python3 - "$tmp/kl.json" "$tmp/kl_corpus.txt" "$tmp/kl_tokens.csv" <<'PY' || failures=$((failures + 1))
import csv, hashlib, json, math, sys
r = json.load(open(sys.argv[1]))
res = r["results"]
assert r["provenance"]["git_sha"] and r["flags"]["ctx"] == 64 and r["flags"]["seed"] == 1234, r["flags"]
assert r["corpus"]["sha256"] == hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest()
assert r["reference"]["files"][0]["bytes"] > 0 and r["candidate"]["dir"].endswith("e_style_w4a16")
assert res["n_tokens"] == r["chunking"]["chunks_scored"] * 31 > 0
assert 0 < res["kl_mean"]["value"] < 100 and res["kl_mean_ci"]["lo"] <= res["kl_mean"]["value"] <= res["kl_mean_ci"]["hi"]
assert res["kl_median"] <= res["kl_p90"] <= res["kl_p99"] <= res["kl_max"]
assert r["gate"]["pass"] and not r["partial"]
rows = list(csv.DictReader(open(sys.argv[3])))
assert len(rows) == res["n_tokens"]
assert math.isclose(sum(float(x["kl"]) for x in rows) / len(rows), res["kl_mean"]["value"], rel_tol=1e-6)
print("ok: kl --json has provenance, corpus sha256, results; the per-token dump matches the mean")
PY
# --ref-cache: the reference's logits on disk, models run one after the other; same numbers as a live run.
live=$("$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --max-kl 100 2>/dev/null | grep 'mean KL')
expect 0 'writing the reference' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --max-kl 100 --ref-cache "$tmp/refcache"
cached=$("$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --max-kl 100 --ref-cache "$tmp/refcache" 2>/dev/null | grep 'mean KL')
if [ -n "$live" ] && [ "$live" = "$cached" ]; then echo "ok: kl --ref-cache reuse gives the live run's mean KL"; else echo "FAIL: --ref-cache mean KL '$cached' vs live '$live'"; failures=$((failures + 1)); fi
expect 0 'reusing the reference' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --max-kl 100 --ref-cache "$tmp/refcache"
expect 2 'error: .*manifest.json: the reference cache was made with ctx = 64, this run needs 32' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 32 --ref-cache "$tmp/refcache"
expect 2 'error: .*manifest.json: the reference cache was written for another reference checkpoint' -- "$bin" kl --ref "$e_w4" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --ref-cache "$tmp/refcache"
# kl --ref-buffer-gb: the exact two-pass mode (one 31x512 fp32 chunk = 0.000059 GiB, so 0.0001 GiB = one chunk a block)
expect 0 'two-pass: 2 blocks of up to 1 chunk' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --max-kl 100 --ref-buffer-gb 0.0001
twopass=$("$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --max-kl 100 --ref-buffer-gb 0.0001 2>/dev/null | grep 'mean KL')
if [ -n "$live" ] && [ "$live" = "$twopass" ]; then echo "ok: kl --ref-buffer-gb gives the resident run's mean KL"; else echo "FAIL: --ref-buffer-gb mean KL '$twopass' vs live '$live'"; failures=$((failures + 1)); fi
expect 2 "error: --ref-buffer-gb 1e-05 holds less than one chunk's reference rows" -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --ref-buffer-gb 0.00001
# kl --save-ref-cache FILE / --ref-cache FILE: the compact reference cache (K = 512 = the whole vocab: exact)
expect 0 'wrote the compact reference cache .*K 256' -- "$bin" kl --ref "$e_style" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --save-ref-cache "$tmp/ref256.safetensors"
expect 0 'KL approximation .*top-256 exact' -- "$bin" kl --cand "$e_w4" --ref-cache "$tmp/ref256.safetensors" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --max-kl 100 --json "$tmp/kl_compact.json"
python3 - "$tmp/kl_compact.json" <<'PY' || failures=$((failures + 1))
import json, sys
a = json.load(open(sys.argv[1]))["approximation"]
assert a["k"] == 256 and a["method"] in ("proportional", "log-sum", "chain-rule"), a
assert a["kl_mean_bounds"]["lower"] <= a["kl_mean_bounds"]["upper"] and 0 < a["p_tail"]["mean"] <= a["p_tail"]["max"] <= 1, a
assert "measured_error" in a
print("ok: kl from a compact cache reports its approximation in the JSON")
PY
expect 0 'wrote the compact reference cache' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --max-kl 100 --save-ref-cache "$tmp/ref512.safetensors" --ref-cache-topk 512
compact=$("$bin" kl --ref "$e_style" --cand "$e_w4" --ref-cache "$tmp/ref512.safetensors" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --max-kl 100 2>/dev/null | grep 'mean KL' | grep -v 'mean KL bounds')
if [ -n "$live" ] && [ "$live" = "$compact" ]; then echo "ok: a K = vocab compact cache gives the live run's mean KL"; else echo "FAIL: compact K=512 mean KL '$compact' vs live '$live'"; failures=$((failures + 1)); fi
expect 2 'error: .*ref256.safetensors: the reference cache was made with ctx = 64, this run needs 32' -- "$bin" kl --cand "$e_w4" --ref-cache "$tmp/ref256.safetensors" --tokens-file "$tmp/kl_ids.txt" --ctx 32
python3 -c 'import json, sys; print(json.dumps([int(x) for x in open(sys.argv[1]).read().split()]))' "$tmp/kl_ids.txt" > "$tmp/kl_ids.json"  # same ids, another file
expect 2 'error: .*ref256.safetensors: the reference cache was made from another corpus' -- "$bin" kl --cand "$e_w4" --ref-cache "$tmp/ref256.safetensors" --tokens-file "$tmp/kl_ids.json" --ctx 64
expect 2 'error: .*no-such.safetensors: no such compact reference cache' -- "$bin" kl --cand "$e_w4" --ref-cache "$tmp/no-such.safetensors" --tokens-file "$tmp/kl_ids.txt"
expect 2 'error: --cand is required' -- "$bin" kl --ref "$e_style" --tokens-file "$tmp/kl_ids.txt" --ctx 64
expect 2 'error: --device cuda:x: expected cpu, cuda or cuda:N' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --device cuda:x
# bench-engine --kl-compact-k: the compact cache's KL error against the exact run, token by token (CPU engine here)
expect 0 'KL from a compact reference cache \(K 64, chain-rule; top-K written on the host, compared on the host\), same 2 chunks' -- env TMPDIR="$tmp" "$bin" bench-engine --model "$e_style" --cand "$e_w4" --no-shapes --kl-tokens "$tmp/kl_ids.txt" --ctx 64 --kl-compact-k 64 --json "$tmp/bench_engine_kl.json"
python3 - "$tmp/bench_engine_kl.json" "$tmp" <<'PY' || failures=$((failures + 1))
import glob, json, sys
kl = json.load(open(sys.argv[1]))["kl"]
c = kl["kl_compact"]
assert c["k"] == 64 and c["method"] == "chain-rule" and c["scored_tokens"] == kl["scored_tokens"] == 62, c
# the exact mean of the pairing is the exact run's (summed in another order: 1e-12 relative)
assert abs(c["kl_mean_exact"] - kl["kl_mean"]) <= 1e-12 * kl["kl_mean"], (c, kl["kl_mean"])
assert c["max_abs_token_error"] > 0 and c["kl_mean_bounds"]["lower"] <= c["kl_mean_exact"] <= c["kl_mean_bounds"]["upper"], c
assert 0 < c["p_tail"]["mean"] <= c["p_tail"]["max"] <= 1 and c["llama_cpp_bytes_per_token"] == 1024, c
assert set(c["seconds"]) == {"exact", "write", "compare"} and "within" in c["printed_bound"], c
assert not glob.glob(sys.argv[2] + "/quantgate-bench-kl-compact-*"), "the temporary compact cache was not removed"
print("ok: bench-engine --kl-compact-k reports the compact cache's error and removes its file")
PY
expect 0 'KL from a compact reference cache \(K 256,' -- "$bin" bench-engine --model "$e_style" --cand "$e_w4" --no-shapes --kl-tokens "$tmp/kl_ids.txt" --ctx 64 --kl-compact-k
expect 0 'prints as the measured error: .* this pair is (within it|OUTSIDE it)' -- "$bin" bench-engine --model "$e_style" --cand "$e_w4" --no-shapes --kl-tokens "$tmp/kl_ids.txt" --ctx 64 --kl-compact-k 256
expect 0 'this pair is not comparable \(measured at K 256, chain-rule\)' -- "$bin" bench-engine --model "$e_style" --cand "$e_w4" --no-shapes --kl-tokens "$tmp/kl_ids.txt" --ctx 64 --kl-compact-k 64
expect 2 "error: --kl-compact-k 'x': expected K >= 0" -- "$bin" bench-engine --model "$e_style" --cand "$e_w4" --no-shapes --kl-tokens "$tmp/kl_ids.txt" --ctx 64 --kl-compact-k x
expect 2 'error: --kl-compact-k needs the KL benchmark' -- "$bin" bench-engine --model "$e_style" --cand "$e_w4" --no-shapes --kl-compact-k 64
# --device cuda: runs where a GPU is usable (the [gpu] tests check its numbers); elsewhere a clear exit 2.
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  expect 0 'same top-1' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --device cuda --max-kl 100
  # --save-ref-cache with --cand on the GPU compacts the rows there: the same file as the reference-only pass
  expect 0 'wrote the compact reference cache' -- "$bin" kl --ref "$e_style" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --device cuda --save-ref-cache "$tmp/gpu_alone.safetensors" --ref-cache-topk 64
  expect 0 'wrote the compact reference cache' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --device cuda --max-kl 100 --save-ref-cache "$tmp/gpu_tee.safetensors" --ref-cache-topk 64
  if cmp -s "$tmp/gpu_alone.safetensors" "$tmp/gpu_tee.safetensors"; then echo "ok: kl --save-ref-cache --cand on the GPU writes the reference-only pass's file"; else echo "FAIL: kl --save-ref-cache --cand on the GPU: file differs from the reference-only pass's"; failures=$((failures + 1)); fi
  expect 2 'error: --device cuda:64: this machine has [0-9]+ CUDA device' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --device cuda:64
else
  expect 2 'error: --device cuda: (no CUDA GPU is usable here|this quantgate was built without CUDA)' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --device cuda
fi
: > "$tmp/kl_empty.txt"
expect 2 'error: .*empty corpus' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_empty.txt" --ctx 64
expect 2 'error: the corpus has 140 tokens, fewer than one chunk of --ctx 200' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 200
expect 2 'error: .*corpus is empty' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --corpus "$tmp/kl_empty.txt" --tokenizer "$fixtures/text/bytes512"
expect 2 'error: .*no-such-model' -- "$bin" kl --ref "$tmp/no-such-model" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt"
expect 2 'excludes' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --corpus "$tmp/kl_corpus.txt"

# Every results file written above, and the card fixtures, against reports/schema/results-1.schema.json.
python3 - "$fixtures/../../reports/schema/results-1.schema.json" "$tmp/inspect.json" "$tmp/quantize.json" "$tmp/mmlu.json" \
  "$tmp/kl.json" "$fixtures"/card/*.json <<'PY' || failures=$((failures + 1))
import json, sys
try:
    import jsonschema
except ImportError:
    print("SKIP: results files vs the JSON Schema: python3-jsonschema is not installed (scripts/setup.sh installs it)")
    sys.exit(0)
schema = json.load(open(sys.argv[1]))
for f in sys.argv[2:]:
    jsonschema.validate(json.load(open(f)), schema, cls=jsonschema.Draft202012Validator)
old = json.load(open(sys.argv[2])); old["schema"] = "quantgate.inspect/1"
try:
    jsonschema.validate(old, schema, cls=jsonschema.Draft202012Validator)
    sys.exit("the JSON Schema accepts an old schema string")
except jsonschema.ValidationError:
    pass
print(f"ok: {len(sys.argv) - 2} results files are valid quantgate.results/1")
PY

# card: the real model card filled from the fixtures' results (golden), idempotent, refusals exit 2.
card_tmpl="$fixtures/../../../shared/cards/Gemma4-E4B-it-W4A16.md"
card_ck="$fixtures/card/w4a16"
card_res=("$fixtures/card/kl.json" "$fixtures/card/mmlu.json" "$fixtures/card/bench.json" "$fixtures/card/inspect_w4a16.json" "$fixtures/card/inspect_bf16.json")
expect 0 'filled card written to' -- "$bin" card --template "$card_tmpl" --checkpoint "$card_ck" --results "${card_res[@]}" --out "$tmp/card.md"
if cmp -s "$tmp/card.md" "$fixtures/card/expected_card.md"; then echo "ok: card equals the golden"; else echo "FAIL: card differs from tests/fixtures/card/expected_card.md"; failures=$((failures + 1)); fi
cp "$tmp/card.md" "$tmp/card2.md"
expect 0 'filled card written to' -- "$bin" card --template "$tmp/card2.md" --checkpoint "$card_ck" --results "${card_res[@]}" --out "$tmp/card2.md"
if cmp -s "$tmp/card.md" "$tmp/card2.md"; then echo "ok: card refilled in place is byte-identical"; else echo "FAIL: card is not idempotent"; failures=$((failures + 1)); fi
expect 0 'filled card written to' -- "$bin" card --template "$card_tmpl" --checkpoint "$card_ck" --results "$fixtures/card/kl.json" --out "$tmp/card_kl.md"
grep -q '^\[\^qg1\]: not measured: no inspect result of the carded checkpoint' "$tmp/card_kl.md" && echo "ok: card footnotes what was not measured" || { echo "FAIL: no footnote in $tmp/card_kl.md"; failures=$((failures + 1)); }
sed 's/"sha256": "9c04/"sha256": "0000/' "$fixtures/card/kl.json" > "$tmp/kl_other.json"
expect 2 'error: .*kl_other.json: kl result is not about the carded checkpoint .*config.json: sha256 differs' -- "$bin" card --template "$card_tmpl" --checkpoint "$card_ck" --results "$tmp/kl_other.json" --out "$tmp/card_x.md"
sed 's/"kind": "kl"/"kind": "perplexity"/' "$fixtures/card/kl.json" > "$tmp/kl_kind.json"
expect 2 "error: .*kl_kind.json: unknown results kind 'perplexity'" -- "$bin" card --template "$card_tmpl" --checkpoint "$card_ck" --results "$tmp/kl_kind.json" --out "$tmp/card_x.md"
sed 's|"schema": "quantgate.results/1"|"schema": "quantgate.results/2"|' "$fixtures/card/kl.json" > "$tmp/kl_v2.json"
expect 2 "error: .*kl_v2.json: results schema 'quantgate.results/2' found, expected 'quantgate.results/1'" -- "$bin" card --template "$card_tmpl" --checkpoint "$card_ck" --results "$tmp/kl_v2.json" --out "$tmp/card_x.md"
expect 2 'error: .*config.json: not a quantgate results file' -- "$bin" card --template "$card_tmpl" --checkpoint "$card_ck" --results "$card_ck/config.json" --out "$tmp/card_x.md"
expect 2 'error: .*no-card.md: cannot read the card template' -- "$bin" card --template "$tmp/no-card.md" --checkpoint "$card_ck" --results "$fixtures/card/kl.json" --out "$tmp/card_x.md"
expect 2 'checkpoint' -- "$bin" card --template "$card_tmpl" --results "$fixtures/card/kl.json" --out "$tmp/card_x.md"
[ ! -e "$tmp/card_x.md" ] && echo "ok: a refused card writes nothing" || { echo "FAIL: a refused card wrote $tmp/card_x.md"; failures=$((failures + 1)); }

# compare: the fixtures' results of three models -> the golden markdown plus three SVG charts that parse as XML
# with one series per model; without gnuplot the markdown is still written (warning); bad input exits 2.
cmpfx="$fixtures/compare"
cmp_res=("$cmpfx/kl_w4a16.json" "$cmpfx/kl_w8a16.json" "$cmpfx/mmlu_w4a16.json" "$cmpfx/mmlu_w8a16.json" "$cmpfx/bench_w4a16.json" "$cmpfx/bench_bf16.json" "$cmpfx/inspect_w4a16.json")
cmp_labels=(--label /models/gemma-4-E4B-it=BF16 --label /models/gemma-4-E4B-it-W4A16=W4A16 --label gemma-w4a16=W4A16 --label /models/gemma-4-E4B-it-W8A16=W8A16)
mkdir -p "$tmp/cmp"
expect 0 'wrote .*compare.md \(3 models, 3 charts\)' -- "$bin" compare "${cmp_res[@]}" "${cmp_labels[@]}" --out "$tmp/cmp/compare.md" --json "$tmp/cmp/compare.json"
if head -c "$(wc -c < "$cmpfx/expected.md")" "$tmp/cmp/compare.md" | cmp -s - "$cmpfx/expected.md"; then echo "ok: compare table equals the golden"; else echo "FAIL: $tmp/cmp/compare.md differs from tests/fixtures/compare/expected.md"; failures=$((failures + 1)); fi
python3 - "$tmp/cmp" <<'PY' || failures=$((failures + 1))
import json, sys, xml.etree.ElementTree as ET
d = sys.argv[1]
want = {"kl": {"W4A16": 10, "W8A16": 10}, "ttft": {"BF16": 4, "W4A16 (percentiles)": 6}, "mmlu": {"BF16": 5, "W4A16": 5, "W8A16": 5}}
md = open(f"{d}/compare.md").read()
for chart, series in want.items():
    root = ET.parse(f"{d}/compare.{chart}.svg").getroot()  # raises on malformed XML
    got = {}
    for g in root.iter("{http://www.w3.org/2000/svg}g"):
        if g.get("id", "").startswith("gnuplot_plot_"):
            title = next(g.iter("{http://www.w3.org/2000/svg}text")).text  # the key's text
            # point symbols (error bars draw a white halo under each: not counted), minus the key's sample
            got[title] = sum(1 for u in g.iter("{http://www.w3.org/2000/svg}use") if u.get("color") != "#FFFFFF") - 1
    assert got == series, (chart, got, series)
    assert f"(compare.{chart}.svg)" in md, chart
assert len(json.load(open(f"{d}/compare.json"))["rows"]) == 3
print("ok: compare charts parse as SVG with the expected series and points")
PY
expect 0 'warning: charts skipped: .*gnuplot-nox' -- "$bin" compare "${cmp_res[@]}" "${cmp_labels[@]}" --gnuplot "$tmp/no-gnuplot" --out "$tmp/cmp/nognuplot.md"
grep -q '^| W4A16 | 6.44 GB |' "$tmp/cmp/nognuplot.md" && echo "ok: compare writes the markdown without gnuplot" || { echo "FAIL: no table in $tmp/cmp/nognuplot.md"; failures=$((failures + 1)); }
sed 's/"kind": "kl"/"kind": "perplexity"/' "$cmpfx/kl_w4a16.json" > "$tmp/cmp/kind.json"
expect 2 "error: .*kind.json: unknown results kind 'perplexity'" -- "$bin" compare "$tmp/cmp/kind.json"
expect 2 'error: .*missing.json: cannot read the results file' -- "$bin" compare "$tmp/cmp/missing.json"
expect 2 "error: --label 'W4A16': expected KEY=NAME" -- "$bin" compare "${cmp_res[@]}" --label W4A16

# gate: recipes on the tiny e_style fixture (quantized by the gate itself, group 16) that pass, miss a target and
# hit an error, each in well under a second; junit.xml parsed as XML; then the bundled demo end to end.
root=$(cd "$fixtures/../.." && pwd)
bin_abs=$(readlink -f "$bin")
g="$tmp/gate"
mkdir -p "$g/ref"
cp "$fixtures/gemma4/e_style/config.json" "$fixtures/gemma4/e_style/model.safetensors" "$fixtures/text/bytes512/tokenizer.json" "$g/ref/"
for i in 1 2 3 4 5 6 7 8; do echo "Quantized models should stay close to their reference; we measure it token by token."; done > "$g/corpus.txt"
# gate_recipe FILE KL_MAX RECOVERY_MIN CORPUS [EXTRA_TOP_LEVEL_JSON]
gate_recipe() {
  python3 - "$@" "$g" "$mmlu_data" "$root" <<'PY'
import json, sys
out, kl_max, rec_min, corpus, *extra = sys.argv[1:-3]
g, mmlu, root = sys.argv[-3:]
r = {"schema": "quantgate.recipe/1", "name": "fixture", "threads": 2,
     "reference": {"path": f"{g}/ref"},
     "candidate": {"path": "{out}/cand", "quantize": {"scheme": "W4A16", "group_size": 16}},
     "kl": {"corpus": corpus, "ctx": 64, "max_chunks": 4},
     "mmlu": {"data": mmlu, "shots": 0, "subjects": ["abstract_algebra", "anatomy"], "limit": 5},
     "targets": {"kl_mean_max": float(kl_max), "mmlu_recovery_min": float(rec_min)},
     "card": {"template": f"{root}/reports/templates/demo-card.md"}}
for e in extra:
    r.update(json.loads(e))
json.dump(r, open(out, "w"), indent=1)
PY
}
# check_gate_reports DIR EXIT: summary.md states the exit code; junit.xml parses and counts agree with the exit.
check_gate_reports() {
  python3 - "$@" <<'PY' || failures=$((failures + 1))
import sys, xml.etree.ElementTree as ET
d, code = sys.argv[1], int(sys.argv[2])
summary = open(f"{d}/summary.md").read()
assert f"(exit code {code})" in summary, summary[:300]
root = ET.parse(f"{d}/junit.xml").getroot()  # raises on malformed XML
assert root.tag == "testsuites", root.tag
suites = root.findall("testsuite")
assert len(suites) == 1
cases = suites[0].findall("testcase")
fails = [c for c in cases if c.find("failure") is not None]
errs = [c for c in cases if c.find("error") is not None]
assert int(suites[0].get("tests")) == len(cases) and int(suites[0].get("failures")) == len(fails), ET.tostring(suites[0])[:300]
assert int(suites[0].get("errors")) == len(errs)
assert (code == 2) == bool(errs) and (code == 1) == (bool(fails) and not errs) and (code == 0) == (not fails and not errs), (code, len(fails), len(errs))
for c in fails:
    assert "measured" in c.find("failure").get("message"), c.find("failure").get("message")
print(f"ok: gate reports in {d}: exit {code}, {len(cases)} testcases, {len(fails)} failures, {len(errs)} errors")
PY
}
gate_recipe "$g/pass.json" 100 0.01 "$g/corpus.txt"
expect 0 'gate fixture: PASS' -- "$bin" gate "$g/pass.json" --out "$g/pass"
check_gate_reports "$g/pass" 0
grep -q '^| KL divergence vs BF16 | < 0.07 | 0\.[0-9]* (95% CI ' "$g/pass/README.md" && echo "ok: gate fills the card" || { echo "FAIL: no measured KL in $g/pass/README.md"; failures=$((failures + 1)); }
expect 0 'quantize up to date: .*reused' -- "$bin" gate "$g/pass.json" --out "$g/pass"
gate_recipe "$g/fail.json" 1e-9 0.01 "$g/corpus.txt"
expect 1 'Mean KL.* target < 1e-09: FAIL' -- "$bin" gate "$g/fail.json" --out "$g/fail"
check_gate_reports "$g/fail" 1
gate_recipe "$g/error.json" 100 0.01 "$g/no-such-corpus.txt"
expect 2 'error: .*no-such-corpus.txt: cannot open the corpus' -- "$bin" gate "$g/error.json" --out "$g/error"
check_gate_reports "$g/error" 2
[ -s "$g/error/mmlu.json" ] && grep -q 'MMLU recovery .* pass' "$g/error/summary.md" && echo "ok: a failed kl step keeps mmlu's measurement" || { echo "FAIL: $g/error lost the mmlu result"; failures=$((failures + 1)); }
gate_recipe "$g/typo.json" 100 0.01 "$g/corpus.txt" '{"kl": {"corpus": "c", "max_chunk": 4}}'
expect 2 "error: .*typo.json.*recipe key 'kl.max_chunk' is not a recipe key" -- "$bin" gate "$g/typo.json" --out "$g/typo"
check_gate_reports "$g/typo" 2
gate_recipe "$g/version.json" 100 0.01 "$g/corpus.txt" '{"schema": "quantgate.recipe/0"}'
expect 2 "error: .*version.json.*'schema' is \"quantgate.recipe/0\", expected \"quantgate.recipe/1\"" -- "$bin" gate "$g/version.json"
expect 2 'error: .*no-recipe.json.*cannot read the recipe' -- "$bin" gate "$g/no-recipe.json"
expect 2 'error: .*has no output_dir and --out was not given' -- "$bin" gate "$g/pass.json"
mkdir -p "$g/notckpt" && echo keep > "$g/notckpt/notes.txt"
gate_recipe "$g/guard.json" 100 0.01 "$g/corpus.txt" "{\"candidate\": {\"path\": \"$g/notckpt\", \"quantize\": {\"scheme\": \"W4A16\", \"group_size\": 16}}}"
expect 2 'quantize FAILED: .*notckpt exists and is not a checkpoint' -- "$bin" gate "$g/guard.json" --out "$g/guard"
[ -f "$g/notckpt/notes.txt" ] && echo "ok: gate does not replace a candidate dir that is not a checkpoint" || { echo "FAIL: $g/notckpt was deleted"; failures=$((failures + 1)); }

# The bundled demo, the README's first command (about a minute on 2 cores): exit 0, prints where the filled card
# is, and the card differs from reports/templates/demo-card.md only in the cells quantgate fills.
expect 0 'filled model card: .*/demo/README.md' -- env -C "$root" "$bin_abs" gate evals/demo.json --out "$tmp/demo"
check_gate_reports "$tmp/demo" 0
python3 - "$root/reports/templates/demo-card.md" "$tmp/demo/README.md" <<'PY' || failures=$((failures + 1))
import sys
tpl, card = (open(p, encoding="utf-8").read().split("\n") for p in sys.argv[1:])
marker = "<!-- quantgate card: footnotes, generated; replaced on each run -->"
body = card[:card.index(marker) - 1] + [""] if marker in card else card
assert len(body) == len(tpl), (len(body), len(tpl))
cells = lambda l: [c.strip() for c in l.strip().strip("|").split("|")]
changed = 0
for t, c in zip(tpl, body):
    if t == c:
        continue
    assert t.startswith("|") and c.startswith("|"), (t, c)
    tc, cc = cells(t), cells(c)
    if tc[:2] in (["Metric", "Target"], ["---", "---"]) or (len(tc) == 2 and len(cc) == 4):  # Quality Targets: 2 columns added
        assert cc[:2] == tc, (t, c)
    else:  # elsewhere only cells that were "—" in the template may change
        assert len(tc) == len(cc) and all(a == b or a == "—" for a, b in zip(tc, cc)), (t, c)
    changed += 1
assert changed >= 6, changed
assert "| KL divergence vs BF16 | < 0.07 | 0.05" in card[tpl.index("| KL divergence vs BF16 | < 0.07 |")], "demo KL moved"
print(f"ok: the demo card differs from its template in {changed} filled lines only")
PY

if [ "$failures" -ne 0 ]; then
  echo "$failures CLI check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
