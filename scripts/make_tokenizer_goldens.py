#!/usr/bin/env python3
"""Golden token ids for quantgate's tokenizer tests (tests/text/*), made with the Hugging Face `tokenizers`
library, and that library's speed on WikiText-2 for the comparison with quantgate's encoder.

Needs: tokenizers (0.23.x), jinja2 (transformers optional: its chat-template renderer is used when present).
    python3 scripts/make_tokenizer_goldens.py --data ../shared/datasets --out tests/fixtures/text

--data has the layout of ../shared/datasets (only these files are read):
    tokenizers/gemma3/{tokenizer.json, tokenizer_config.json, test-vectors/ggml-vocab-gemma-4.gguf.{inp,out}}
    wikitext-2-raw/wiki.test.raw
    mmlu/{dev,test}/<subject>_{dev,test}.csv, mmlu/golden_prompts.jsonl, mmlu/golden_prompts_edge.jsonl

Writes into --out:
    gemma3_wikitext.qgids   all of wiki.test.raw encoded with add_special_tokens=True (one record)
    gemma3_mmlu.qgids       285 MMLU prompts built from the CSVs + the golden_prompts*.jsonl contexts
    gemma3_cases.json       edge cases (ids with/without special tokens, decodes), llama.cpp Gemma-4 vectors,
                            Gemma 3 chat renders + ids, WikiText sha256/count/FNV-64
    gemma4_chat_cases.json  Jinja renders of the Gemma 4 templates in chat_templates/
    llama3_like/tokenizer.json, qwen2_like/tokenizer.json   synthetic byte-level BPE tokenizers (trained here)
    bytelevel_cases.json    their edge-case ids/decodes and WikiText count + FNV-64 checkpoints
    bytelevel_mmlu.qgids    their ids for the MMLU prompts
    bench_tokenizers.json   encode timings of `tokenizers` on WikiText (same machine as quantgate's bench)

.qgids format (little-endian varints, see tests/text/golden_io.h): b"QGIDS001", n_records, then per record
name_len, name (UTF-8), n_ids, ids.
"""
import argparse
import csv
import hashlib
import json
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

FNV_OFFSET, FNV_PRIME, MASK64 = 0xCBF29CE484222325, 0x100000001B3, (1 << 64) - 1
CHECKPOINT_EVERY = 4096  # FNV-64 checkpoint every this many ids (lets a test find the first bad stretch)

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")

# Edge cases: (name, text). Keep in sync with nothing: the C++ tests read texts from the JSON.
EDGE_CASES = [
    ("empty", ""),
    ("space", " "),
    ("spaces_run", "a     b      c"),
    ("leading_trailing_spaces", "   padded   "),
    ("newline", "\n"),
    ("newlines_mixed", "line one\nline two\n\n\nline five\r\nwindows\rcr"),
    ("newline_runs", "\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\n\nend"),
    ("tabs", "\tindented\t\tcode\t\t\t\n\t\treturn x;"),
    ("space_runs_long", "x" + " " * 40 + "y" + " " * 3),
    ("mixed_whitespace", " \t \n \u00a0\u3000\u2003 z \u0085 \u2028"),
    ("emoji", "I love 🦙 and 👩‍👩‍👧‍👦 families 🇫🇷 🏳️‍🌈 ✨"),
    ("cjk", "日本語のテキストと中文文本，还有한국어 텍스트。"),
    ("combining_marks", "cafe\u0301 na\u0308ive e\u0301\u0301 \u1e9b\u0323 Zalgo: Z\u0351\u034a\u0360a\u0316l\u0325g\u0334o"),
    ("precomposed", "café naïve Ångström"),
    ("arabic_hebrew", "مرحبا بالعالم שלום עולם"),
    ("devanagari_thai", "नमस्ते दुनिया สวัสดีชาวโลก"),
    ("special_lookalikes", "<bos> <eos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn >x < bos> <BOS> <unk> <mask>"),
    ("special_partial", "<start_of_tur <end_of_turn <|im_start|> <|begin_of_text|> [multimodal] <unused0> <unused99999>"),
    ("html_tokens", "<table><tr><td>1</td></tr></table> <h1>T</h1><code>x</code>"),
    ("byte_fallback", "\u0000\u0001\u001f\u007f \U0010fffd \ue000 \U0001d4d0\U0001d4d1"),
    ("digits", "3.14159 1234567890 ١٢٣ ½ ² Ⅻ 2024-11-28"),
    ("contractions", "I'm you're they've she'd we'll it's DON'T I'M 'S ſ'ſ"),
    ("punctuation", "Hello!!! What?.. (yes) [no] {maybe} --- ... 「quote」 «guillemets» “smart”"),
    ("code", "def f(x):\n    return x**2  # square\n\nif __name__ == '__main__':\n    print(f(3))\n"),
    ("url_email", "https://example.com/a/b?c=d&e=f#g mail: someone@example.org"),
    ("long_word", "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3),
    ("repeated_char", "a" * 300),
    ("metaspace_char", "\u2581already\u2581has\u2581 lower one eighth blocks\u2581"),
    ("lone_chars", "é"),
    ("mixed_scripts", "Ελληνικά Кириллица Latin ქართული ᚠᛇᚻ"),
    # the synthetic tokenizers' added tokens (lstrip, rstrip, single_word, normalized, NFD content)
    ("added_token_flags", "un cafe\u0301 au lait, un café au lait; hello world, hello  world; [SW] x[SW] [SW]y;"
                          " a   <mask>b <pad_r>   c the end<|im_start|>x<|im_end|>"),
]

CHAT_CASES_GEMMA3 = [
    ("user_only", [{"role": "user", "content": "Hello"}], {}),
    ("system_multiturn", [{"role": "system", "content": "You are terse.  "}, {"role": "user", "content": "  What is 2+2?\n"},
                          {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}], {}),
    ("no_generation_prompt", [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
     {"add_generation_prompt": False}),
    ("unicode_whitespace", [{"role": "user", "content": "\u3000 hi \u0085\n\u001f"}], {}),
    ("empty_user", [{"role": "system", "content": "S"}, {"role": "user", "content": ""}], {}),
    ("special_text_in_content", [{"role": "user", "content": "say <end_of_turn> and <bos> please"}], {}),
    ("assistant_first", [{"role": "assistant", "content": "I start"}], {}),  # the template raises
]

CHAT_CASES_GEMMA4 = [
    ("user_only", [{"role": "user", "content": "Hello"}], {}),
    ("user_only_thinking", [{"role": "user", "content": "Hello"}], {"enable_thinking": True}),
    ("system_multiturn", [{"role": "system", "content": " Be brief. "}, {"role": "user", "content": "Q1 \n"},
                          {"role": "assistant", "content": "A1"}, {"role": "user", "content": "Q2"}], {}),
    ("system_thinking", [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Q"}], {"enable_thinking": True}),
    ("developer", [{"role": "developer", "content": "dev rules"}, {"role": "user", "content": "x"}], {}),
    ("assistant_thought_stripped", [{"role": "user", "content": "Q"},
                                    {"role": "assistant", "content": "<|channel>thought\nsecret<channel|>Final answer  "},
                                    {"role": "user", "content": "Next"}], {}),
    ("consecutive_assistants", [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "part one"},
                                {"role": "assistant", "content": "part two"}], {}),
    ("no_generation_prompt", [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}],
     {"add_generation_prompt": False}),
]


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def write_qgids(path, records):
    with open(path, "wb") as f:
        f.write(b"QGIDS001")
        f.write(varint(len(records)))
        for name, ids in records:
            nb = name.encode("utf-8")
            f.write(varint(len(nb)))
            f.write(nb)
            f.write(varint(len(ids)))
            f.write(b"".join(varint(i) for i in ids))
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(records)} records)", flush=True)


def fnv64_checkpoints(ids):
    h = FNV_OFFSET
    marks = []
    for n, i in enumerate(ids, 1):
        for b in i.to_bytes(4, "little"):
            h = ((h ^ b) * FNV_PRIME) & MASK64
        if n % CHECKPOINT_EVERY == 0:
            marks.append(f"{h:016x}")
    return f"{h:016x}", marks


def read_text(path):
    return Path(path).read_bytes().decode("utf-8")  # exact bytes: no newline translation


# ---- MMLU prompts, exactly as shared/docs/mmlu-lm-eval.md section 2 (and tests/text/mmlu_prompts.cpp) ----
def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    for r in rows:
        assert len(r) == 6, (path, r)
    return rows


def mmlu_desc(subject):
    return "The following are multiple choice questions (with answers) about " + subject.replace("_", " ") + ".\n\n"


def mmlu_text(r):
    return r[0].strip() + "\nA. " + r[1] + "\nB. " + r[2] + "\nC. " + r[3] + "\nD. " + r[4] + "\nAnswer:"


def mmlu_context(subject, dev, row, k):
    return mmlu_desc(subject) + "".join(mmlu_text(d) + " " + d[5] + "\n\n" for d in dev[:k]) + mmlu_text(row)


def mmlu_cases(data):
    """(name, text): for each subject (sorted), test records 0..2 at k=0, record 0 at k=5, and record 0 at k=0
    followed by " " + its gold letter (the joint context+continuation string lm-eval encodes)."""
    cases = []
    test_dir = data / "mmlu" / "test"
    subjects = sorted(p.name[: -len("_test.csv")] for p in test_dir.glob("*_test.csv"))
    for s in subjects:
        dev = read_csv(data / "mmlu" / "dev" / f"{s}_dev.csv")
        test = read_csv(test_dir / f"{s}_test.csv")
        for i in range(3):
            cases.append((f"mmlu/{s}/test{i}/k0", mmlu_context(s, dev, test[i], 0)))
        cases.append((f"mmlu/{s}/test0/k5", mmlu_context(s, dev, test[0], 5)))
        cases.append((f"mmlu/{s}/test0/k0+gold", mmlu_context(s, dev, test[0], 0) + " " + test[0][5]))
    for fname in ("golden_prompts.jsonl", "golden_prompts_edge.jsonl"):
        for n, line in enumerate(open(data / "mmlu" / fname, encoding="utf-8")):
            r = json.loads(line)
            if "context" not in r:
                continue
            gold = r["continuations"]["ABCD".index(r["answer"])]
            cases.append((f"{fname}/{n}/context", r["context"]))
            cases.append((f"{fname}/{n}/context+gold", r["context"] + gold))
    return cases


# ---- chat templates: transformers' apply_chat_template when available, else jinja2 set up as transformers does ----
def make_renderer(tok_obj):
    try:
        from transformers import PreTrainedTokenizerFast

        hf = PreTrainedTokenizerFast(tokenizer_object=tok_obj)

        def render(template, messages, bos_token, eos_token, **kw):
            hf.bos_token, hf.eos_token = bos_token, eos_token
            return hf.apply_chat_template(messages, chat_template=template, tokenize=False, **kw)

        probe = render("{{ bos_token }}{{ messages[0]['content'] }}", [{"role": "user", "content": "x"}], "<bos>", "<eos>",
                       add_generation_prompt=True)
        if probe == "<bos>x":
            import transformers
            return render, f"transformers {transformers.__version__} apply_chat_template(tokenize=False)"
        print(f"transformers renderer probe gave {probe!r}; using jinja2 directly", flush=True)
    except Exception as e:  # noqa: BLE001 - fall back to plain jinja2 with transformers' settings
        print(f"transformers renderer unavailable ({e!r}); using jinja2 directly", flush=True)
    import jinja2
    import jinja2.ext
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[jinja2.ext.loopcontrols])
    env.globals["raise_exception"] = raise_exception

    def render(template, messages, bos_token, eos_token, **kw):
        return env.from_string(template).render(messages=messages, bos_token=bos_token, eos_token=eos_token, **kw)

    return render, f"jinja2 {jinja2.__version__} ImmutableSandboxedEnvironment(trim_blocks, lstrip_blocks)"


def render_cases(render, template, cases, bos, eos):
    out = []
    for name, messages, opts in cases:
        kw = {"add_generation_prompt": opts.get("add_generation_prompt", True)}
        if "enable_thinking" in opts:
            kw["enable_thinking"] = opts["enable_thinking"]
        entry = {"name": name, "messages": messages, "add_generation_prompt": kw["add_generation_prompt"],
                 "enable_thinking": opts.get("enable_thinking", False)}
        try:
            entry["rendered"] = render(template, messages, bos, eos, **kw)
        except Exception as e:  # noqa: BLE001 - the template raised: the C++ renderer must refuse too
            entry["error"] = str(e)
        out.append(entry)
    return out


def encode_ids(tok, text, add_special):
    return tok.encode(text, add_special_tokens=add_special).ids


def edge_entries(tok):
    out = []
    for name, text in EDGE_CASES:
        ids = encode_ids(tok, text, False)
        ids_special = encode_ids(tok, text, True)
        out.append({"name": name, "text": text, "ids": ids, "ids_special": ids_special,
                    "decoded": tok.decode(ids_special, skip_special_tokens=False),
                    "decoded_skip_special": tok.decode(ids_special, skip_special_tokens=True)})
    return out


def time_encode(tok, text, lines, repeats):
    singles, batches = [], []
    tok.encode(text)  # warm-up (caches)
    for _ in range(repeats):
        t0 = time.perf_counter()
        tok.encode(text)
        singles.append(time.perf_counter() - t0)
    tok.encode_batch(lines)
    for _ in range(repeats):
        t0 = time.perf_counter()
        tok.encode_batch(lines)
        batches.append(time.perf_counter() - t0)
    return {"whole_file_single_thread_s": {"best": min(singles), "median": statistics.median(singles), "runs": singles},
            "lines_encode_batch_s": {"best": min(batches), "median": statistics.median(batches), "runs": batches,
                                     "threads": os.cpu_count(), "n_lines": len(lines)}}


# ---- synthetic byte-level tokenizers (Llama 3 / Qwen 2 style) ----
def train_llama3_like(corpus_lines, vocab_size):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus_lines, trainer)
    bot = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bot)]),
    ])
    # Added tokens exercising every flag: lstrip (RoBERTa's <mask>), rstrip, single_word, normalized text tokens.
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=False, normalized=False, special=True)])
    tok.add_tokens([AddedToken("[SW]", single_word=True, normalized=False),
                    AddedToken("<pad_r>", rstrip=True, normalized=False),
                    AddedToken("hello world", normalized=True),
                    AddedToken(" the", normalized=False)])
    return tok


def make_qwen2_like(llama_tok):
    """The same vocab and merges with Qwen 2's setup: NFC, Qwen's regex, no BOS (merges become "a b" strings in
    the saved file, see bytelevel_goldens)."""
    j = json.loads(llama_tok.to_str())
    j["added_tokens"] = [t for t in j["added_tokens"] if t["content"] in ("<|begin_of_text|>", "<|end_of_text|>")]
    j["normalizer"] = {"type": "NFC"}
    j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {"Regex": QWEN2_PATTERN}
    j["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    j["model"]["ignore_merges"] = False
    j["model"]["merges"] = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in j["model"]["merges"]]
    tok = Tokenizer.from_str(json.dumps(j, ensure_ascii=False))
    tok.add_special_tokens([AddedToken("<|im_start|>", normalized=False, special=True),
                            AddedToken("<|im_end|>", normalized=False, special=True)])
    # content in NFD: matched in its NFC form after normalization, decoded as the NFC form
    tok.add_tokens([AddedToken("cafe\u0301 au lait", normalized=True)])
    return tok


def gemma_goldens(args, out, env, wiki, wiki_bytes):
    gdir = args.data / "tokenizers" / "gemma3"
    t0 = time.perf_counter()
    gemma = Tokenizer.from_file(str(gdir / "tokenizer.json"))
    load_s = time.perf_counter() - t0
    wiki_ids = encode_ids(gemma, wiki, True)
    fnv, marks = fnv64_checkpoints(wiki_ids)
    write_qgids(out / "gemma3_wikitext.qgids", [("wikitext-2-raw/wiki.test.raw add_special_tokens=True", wiki_ids)])
    roundtrip = gemma.decode(wiki_ids, skip_special_tokens=True) == wiki
    print(f"gemma3: {len(wiki_ids)} WikiText ids, decode round trip {'ok' if roundtrip else 'DIFFERS'}", flush=True)

    cases = mmlu_cases(args.data)
    write_qgids(out / "gemma3_mmlu.qgids", [(name, encode_ids(gemma, text, True)) for name, text in cases])

    vec_in = (gdir / "test-vectors" / "ggml-vocab-gemma-4.gguf.inp").read_text(encoding="utf-8").split("\n__ggml_vocab_test__\n")
    vec_out = (gdir / "test-vectors" / "ggml-vocab-gemma-4.gguf.out").read_text(encoding="utf-8").split("\n")
    if vec_out and vec_out[-1] == "" and len(vec_out) > len(vec_in):
        vec_out = vec_out[:-1]
    if len(vec_in) == len(vec_out) + 1 and vec_in[-1] == "":
        vec_in = vec_in[:-1]
    vectors = []
    for text, expected in zip(vec_in, vec_out):
        ids = encode_ids(gemma, text, False)
        want = [int(x) for x in expected.split()]
        vectors.append({"text": text, "ids": ids, "llama_cpp_ids": want, "matches_llama_cpp": ids == want})
    print(f"llama.cpp Gemma-4 vectors: {sum(v['matches_llama_cpp'] for v in vectors)}/{len(vectors)} match", flush=True)

    render, renderer = make_renderer(gemma)
    cfg = json.loads((gdir / "tokenizer_config.json").read_text(encoding="utf-8"))
    chat = render_cases(render, cfg["chat_template"], CHAT_CASES_GEMMA3, "<bos>", "<end_of_turn>")
    fname = "golden_prompts_edge.jsonl"
    for n, line in enumerate(open(args.data / "mmlu" / fname, encoding="utf-8")):
        r = json.loads(line)
        if "messages" in r:
            mt = "multiturn" if r.get("chat_fewshot_as_multiturn") else "singleturn"
            chat += render_cases(render, cfg["chat_template"], [(f"{fname}/{n}/{mt}", r["messages"], {})], "<bos>", "<end_of_turn>")
    for c in chat:
        if "rendered" in c:
            c["ids"] = encode_ids(gemma, c["rendered"], False)

    gemma4_chat = {}
    for tpl in sorted(args.templates.glob("gemma4*.jinja")):
        gemma4_chat[tpl.name] = render_cases(render, tpl.read_text(encoding="utf-8"), CHAT_CASES_GEMMA4, "<bos>", "<turn|>")

    json.dump({"generator": "scripts/make_tokenizer_goldens.py", "environment": env, "renderer": renderer,
               "tokenizer": "tokenizers/gemma3/tokenizer.json",
               "wikitext": {"file": "wikitext-2-raw/wiki.test.raw", "sha256": hashlib.sha256(wiki_bytes).hexdigest(),
                            "bytes": len(wiki_bytes), "add_special_tokens": True, "count": len(wiki_ids), "fnv64": fnv,
                            "checkpoint_every": CHECKPOINT_EVERY, "checkpoints": marks, "roundtrip_ok": roundtrip},
               "mmlu": {"count": len(cases), "rule": mmlu_cases.__doc__.strip()},
               "edge_cases": edge_entries(gemma), "llama_cpp_vectors": vectors, "chat": chat},
              open(out / "gemma3_cases.json", "w", encoding="utf-8"), ensure_ascii=False, indent=1)
    json.dump({"generator": "scripts/make_tokenizer_goldens.py", "environment": env, "renderer": renderer,
               "templates": gemma4_chat}, open(out / "gemma4_chat_cases.json", "w", encoding="utf-8"), ensure_ascii=False, indent=1)
    return gemma, load_s, len(wiki_ids), cases


def bytelevel_goldens(args, out, env, wiki, wiki_lines, cases):
    llama = train_llama3_like([l for l in wiki_lines if l.strip()], args.vocab_size)
    qwen = make_qwen2_like(llama)
    byte_cases, byte_records = {}, []
    synth = {"llama3_like": llama, "qwen2_like": qwen}
    for name in list(synth):
        (out / name).mkdir(exist_ok=True)
        path = out / name / "tokenizer.json"
        synth[name].save(str(path), pretty=False)  # compact: same JSON, a third of the bytes
        if name == "qwen2_like":  # `tokenizers` saves merges as pairs; keep the legacy "a b" form in this file
            j = json.loads(path.read_text(encoding="utf-8"))
            j["model"]["merges"] = [m if isinstance(m, str) else f"{m[0]} {m[1]}" for m in j["model"]["merges"]]
            path.write_text(json.dumps(j, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        tok = Tokenizer.from_file(str(out / name / "tokenizer.json"))  # goldens from the file as committed
        synth[name] = tok
        ids = encode_ids(tok, wiki, True)
        fnv, marks = fnv64_checkpoints(ids)
        byte_cases[name] = {"edge_cases": edge_entries(tok),
                            "wikitext": {"add_special_tokens": True, "count": len(ids), "fnv64": fnv,
                                         "checkpoint_every": CHECKPOINT_EVERY, "checkpoints": marks,
                                         "roundtrip_ok": tok.decode(ids, skip_special_tokens=True) == wiki}}
        byte_records += [(f"{name}/{cname}", encode_ids(tok, text, True)) for cname, text in cases]
    json.dump({"generator": "scripts/make_tokenizer_goldens.py", "environment": env, "tokenizers": byte_cases},
              open(out / "bytelevel_cases.json", "w", encoding="utf-8"), ensure_ascii=False, indent=1)
    write_qgids(out / "bytelevel_mmlu.qgids", byte_records)
    return synth, byte_cases


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--templates", type=Path, default=Path(__file__).resolve().parent.parent / "tests/fixtures/text/chat_templates")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--vocab-size", type=int, default=4096)
    args = ap.parse_args()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    env = {"tokenizers": tokenizers.__version__, "python": platform.python_version(), "machine": platform.machine(),
           "cpu_count": os.cpu_count(), "processor": platform.processor()}
    try:
        import transformers
        env["transformers"] = transformers.__version__
    except Exception:  # noqa: BLE001
        pass
    print("environment:", env, flush=True)

    wiki_path = args.data / "wikitext-2-raw" / "wiki.test.raw"
    wiki_bytes = wiki_path.read_bytes()
    wiki = wiki_bytes.decode("utf-8")  # exact bytes: no newline translation
    wiki_lines = wiki.split("\n")
    failures = []
    gemma = synth = None
    try:
        gemma, gemma_load_s, gemma_count, cases = gemma_goldens(args, out, env, wiki, wiki_bytes)
        print(f"gemma3 goldens done at {time.perf_counter() - t_start:.1f}s", flush=True)
    except Exception:  # noqa: BLE001 - keep going: the other sections are independent
        traceback.print_exc()
        failures.append("gemma3")
        cases = mmlu_cases(args.data)
    try:
        synth, byte_cases = bytelevel_goldens(args, out, env, wiki, wiki_lines, cases)
        print(f"byte-level goldens done at {time.perf_counter() - t_start:.1f}s", flush=True)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        failures.append("bytelevel")

    # ---- speed of `tokenizers` on WikiText (quantgate's bench runs right after, on the same machine) ----
    bench = {"environment": env, "text": {"file": "wikitext-2-raw/wiki.test.raw", "bytes": len(wiki_bytes)}}
    if gemma is not None:
        bench["gemma3"] = {"load_s": gemma_load_s, "tokens": gemma_count, **time_encode(gemma, wiki, wiki_lines, args.repeats)}
    if synth is not None:
        bench["llama3_like"] = {"tokens": byte_cases["llama3_like"]["wikitext"]["count"],
                                **time_encode(synth["llama3_like"], wiki, wiki_lines, args.repeats)}
    json.dump(bench, open(out / "bench_tokenizers.json", "w"), indent=1)
    for k in ("gemma3", "llama3_like"):
        if k not in bench:
            continue
        b = bench[k]
        sec = b["whole_file_single_thread_s"]["best"]
        print(f"tokenizers {k}: whole file, one thread: best {sec:.3f}s ({len(wiki_bytes) / sec / 1e6:.2f} MB/s, "
              f"{b['tokens'] / sec / 1e6:.3f} Mtok/s); encode_batch(lines): best {b['lines_encode_batch_s']['best']:.3f}s "
              f"on {os.cpu_count()} cores", flush=True)
    print(f"all done in {time.perf_counter() - t_start:.1f}s; failed sections: {failures or 'none'}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
