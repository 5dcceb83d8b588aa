#!/usr/bin/env bash
# Issue 11's benchmark: our engine (`quantgate bench-engine`) and the transformers baseline
# (scripts/bench_transformers.py) on the same GPU, in the same run, on a synthetic model of a real config's shapes.
#
#   scripts/bench_engine.sh QUANTGATE CONFIG DATA OUT [forward] [kl] [mmlu]
#
# DATA holds: tokenizer.json (the model's), wiki_ids.txt (WikiText-2 test as token ids, no BOS: `quantgate
# tokenize TOKENIZER --file wiki.test.raw`), mmlu/ (the MMLU CSV layout), mmlu_subset.jsonl (a `quantgate mmlu
# --dump-prompts` file of a subset, for the transformers loop, which is extrapolated by prompt tokens).
# Results: OUT/*.json and the tables on stdout.
set -euo pipefail
QG=$1 CONFIG=$2 DATA=$3 OUT=$4
shift 4
WHAT=${*:-forward kl mmlu}
mkdir -p "$OUT"
py=scripts/bench_transformers.py
for what in $WHAT; do
  case $what in
    forward)
      for precision in fast accurate; do
        echo "== ours, forward, $precision precision"
        "$QG" bench-engine --synthetic "$CONFIG" --device cuda --precision "$precision" \
          --json "$OUT/ours_forward_$precision.json"
      done
      echo "== transformers, forward"
      python3 "$py" forward --config "$CONFIG" --json "$OUT/transformers_forward.json"
      ;;
    kl)
      echo "== ours, KL over WikiText-2 (synthetic BF16 reference vs synthetic W4A16 candidate)"
      "$QG" bench-engine --synthetic "$CONFIG" --device cuda --precision fast --no-shapes \
        --kl-tokens "$DATA/wiki_ids.txt" --ctx 2048 --json "$OUT/ours_kl.json"
      echo "== transformers, KL over WikiText-2 (two BF16 models)"
      python3 "$py" kl --config "$CONFIG" --ids "$DATA/wiki_ids.txt" --ctx 2048 --json "$OUT/transformers_kl.json"
      ;;
    mmlu)
      echo "== ours, MMLU 5-shot, all 14,042 questions"
      "$QG" bench-engine --synthetic "$CONFIG" --device cuda --precision fast --weights bf16 --no-shapes \
        --mmlu-data "$DATA/mmlu" --tokenizer "$DATA/tokenizer.json" --shots 5 ${MMLU_BATCH:+--mmlu-batch $MMLU_BATCH} \
        --json "$OUT/ours_mmlu.json"
      total=$(python3 -c "import json;print(json.load(open('$OUT/ours_mmlu.json'))['mmlu']['prompt_tokens'])")
      echo "== transformers, MMLU 5-shot loop on a subset, extrapolated to $total prompt tokens"
      python3 "$py" mmlu --config "$CONFIG" --prompts "$DATA/mmlu_subset.jsonl" --total-prompt-tokens "$total" \
        --json "$OUT/transformers_mmlu.json"
      ;;
    *) echo "unknown part: $what (forward, kl, mmlu)" >&2; exit 2 ;;
  esac
done
