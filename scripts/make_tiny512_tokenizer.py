#!/usr/bin/env python3
"""tests/fixtures/text/tiny512/tokenizer.json: the synthetic llama3_like byte-level BPE cut to its first 512
ids (special tokens 0-4, the 256 bytes, the first merges), so token ids fit the tiny Gemma 4 fixtures'
vocab of 512 and `quantgate mmlu` can run end to end on them. Merges whose parts or result fall outside
the kept vocab are dropped (BPE then stops earlier; still a valid tokenizer). " A".." D" stay single tokens.
Usage: python3 scripts/make_tiny512_tokenizer.py tests/fixtures/text"""
import json, sys
root = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/text"
d = json.load(open(f"{root}/llama3_like/tokenizer.json"))
vocab = {t: i for t, i in d["model"]["vocab"].items() if i < 512}
merges = [m for m in d["model"]["merges"] if m[0] in vocab and m[1] in vocab and (m[0] + m[1]) in vocab]
d["model"]["vocab"] = vocab
d["model"]["merges"] = merges
d["added_tokens"] = [a for a in d["added_tokens"] if a["id"] < 512]
for t in ("ĠA", "ĠB", "ĠC", "ĠD"):
    assert t in vocab, t
json.dump(d, open(f"{root}/tiny512/tokenizer.json", "w"), ensure_ascii=False, separators=(",", ":"))
print(len(vocab), "tokens,", len(merges), "merges")
