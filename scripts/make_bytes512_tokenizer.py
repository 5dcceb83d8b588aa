#!/usr/bin/env python3
"""Writes tests/fixtures/text/bytes512/tokenizer.json: a 512-id byte-level BPE whose ids fit the tiny Gemma 4
fixtures (vocab 512) and whose BOS is id 2 like theirs (<pad> 0, <eos> 1, <bos> 2, the 256 byte symbols
3..258, then the first merges of llama3_like that fit). Same components as llama3_like, so every part is one
the tokenizer tests already cover. Used by `quantgate kl --corpus` tests on the tiny models.
Usage: python3 scripts/make_bytes512_tokenizer.py [tests/fixtures/text]"""
import json
import sys

root = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/text"
src = json.load(open(f"{root}/llama3_like/tokenizer.json"))
bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b)
        cs.append(256 + n)
        n += 1
vocab = {"<pad>": 0, "<eos>": 1, "<bos>": 2}
for c in cs:
    vocab[chr(c)] = len(vocab)
merges = []
for m in src["model"]["merges"]:
    a, b = m if isinstance(m, list) else m.split(" ")
    if len(vocab) >= 512:
        break
    if a in vocab and b in vocab and a + b not in vocab:
        vocab[a + b] = len(vocab)
        merges.append([a, b])
t = dict(src)
t["added_tokens"] = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True} for c, i in [("<pad>", 0), ("<eos>", 1), ("<bos>", 2)]]
t["model"] = dict(src["model"], vocab=vocab, merges=merges)
bos = {"SpecialToken": {"id": "<bos>", "type_id": 0}}
t["post_processor"] = {"type": "Sequence", "processors": [src["post_processor"]["processors"][0], {
    "type": "TemplateProcessing", "single": [bos, {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [bos, {"Sequence": {"id": "A", "type_id": 0}}, bos, {"Sequence": {"id": "B", "type_id": 0}}],
    "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}}]}
json.dump(t, open(f"{root}/bytes512/tokenizer.json", "w"), ensure_ascii=False, separators=(",", ":"))
print(len(vocab), "ids,", len(merges), "merges")
