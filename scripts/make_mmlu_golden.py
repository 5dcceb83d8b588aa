#!/usr/bin/env python3
"""Golden MMLU choice log-likelihoods, computed by transformers + tokenizers as lm-evaluation-harness's HF
backend does (run on the GPU machine with transformers 5.17).

Input: tests/fixtures/mmlu/prompts_{0,5}shot.jsonl, the exact lm-eval contexts and continuations that
`quantgate mmlu --dump-prompts` wrote for the tiny e_style model with the tiny512 tokenizer (the prompt text
itself is checked against lm-eval's own golden prompts elsewhere). For each question and choice this script,
independently of quantgate:
  * tokenizes with `tokenizers` as lm-eval's _encode_pair: whole = encode(context + continuation),
    ctx = encode(context), cont = whole[len(ctx):] (the tokenizer adds its BOS itself), and checks that the
    ids equal the ones quantgate dumped;
  * applies lm-eval's left truncation: inp = (ctx + cont)[-(max_length + 1):][:-1], max_length =
    max_position_embeddings (256);
  * runs transformers (fp32, eager) and sums log_softmax (float64) of the continuation tokens.
Writes tests/fixtures/mmlu/golden_logliks.json. Run: python3 scripts/make_mmlu_golden.py
"""
import json
import sys
from pathlib import Path

import tokenizers
import torch
import transformers
from transformers import Gemma4ForCausalLM

REPO = Path(__file__).resolve().parent.parent
MAX_LENGTH = 256


def main():
    tok = tokenizers.Tokenizer.from_file(str(REPO / "tests/fixtures/text/tiny512/tokenizer.json"))
    model = Gemma4ForCausalLM.from_pretrained(str(REPO / "tests/fixtures/gemma4/e_style"), dtype=torch.float32,
                                              attn_implementation="eager").eval()
    assert model.config.max_position_embeddings == MAX_LENGTH
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "tokenizers": tokenizers.__version__,
           "max_length": MAX_LENGTH, "questions": []}
    for name in ("prompts_0shot.jsonl", "prompts_5shot.jsonl"):
        for line in (REPO / "tests/fixtures/mmlu" / name).read_text().splitlines():
            q = json.loads(line)
            ctx = tok.encode(q["context"]).ids
            assert ctx == q["context_ids"], (q["subject"], q["index"])
            logliks, truncated = [], False
            for c, cont_ids in zip(q["continuations"], q["continuation_ids"]):
                whole = tok.encode(q["context"] + c).ids
                cont = whole[len(ctx):]
                assert cont == cont_ids, (q["subject"], q["index"], c)
                full = ctx + cont
                truncated |= len(full) > MAX_LENGTH + 1
                inp = full[-(MAX_LENGTH + 1):][:-1]
                with torch.no_grad():
                    logits = model(input_ids=torch.tensor([inp]), use_cache=False).logits[0].double()
                lp = torch.log_softmax(logits[len(inp) - len(cont):], -1)
                logliks.append(float(sum(lp[i, t] for i, t in enumerate(cont))))
            out["questions"].append({"file": name, "subject": q["subject"], "index": q["index"],
                                     "shots": q["shots"], "truncated": truncated, "loglik": logliks})
    (REPO / "tests/fixtures/mmlu/golden_logliks.json").write_text(json.dumps(out, indent=1) + "\n")
    print(len(out["questions"]), "questions,", sum(q["truncated"] for q in out["questions"]), "truncated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
