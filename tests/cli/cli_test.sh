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
expect 0 'quantized 32 Linear layers \(W4A16\)' -- "$bin" quantize "$fixtures/gemma4/e_style" "$tmp/q4" --group-size 16
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
expect 2 'error: --device cuda:x: expected cpu, cuda or cuda:N' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --device cuda:x
# --device cuda: runs where a GPU is usable (the [gpu] tests check its numbers); elsewhere a clear exit 2.
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  expect 0 'same top-1' -- "$bin" kl --ref "$e_style" --cand "$e_w4" --tokens-file "$tmp/kl_ids.txt" --ctx 64 --device cuda --max-kl 100
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

if [ "$failures" -ne 0 ]; then
  echo "$failures CLI check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
