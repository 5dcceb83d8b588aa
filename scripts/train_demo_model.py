#!/usr/bin/env python3
"""Train the bundled demo model (evals/demo/model/): a tiny Gemma 4 E-style text model with its own tokenizer.

Why it exists: `quantgate gate evals/demo.json` must run end to end on a 2-core CPU in a few minutes, on a model
whose weights are not random noise (random weights make KL and MMLU numbers meaningless). So this script trains a
~1.5M-parameter Gemma4ForCausalLM for a few minutes on one GPU and saves it as transformers does.

What is written to --out (everything `quantgate quantize/kl/mmlu` and transformers read):
  config.json, generation_config.json, model.safetensors   save_pretrained, bf16 (~2.9 MB)
  tokenizer.json                                           byte-level BPE (Llama-3 style regex + ByteLevel),
                                                           1,024 ids, Gemma's special ids: <pad>=0 <eos>=1 <bos>=2
                                                           <unk>=3, Gemma 4 turn tokens, " A".." D" single tokens
  tokenizer_config.json, chat_template.jinja               BOS added by encode (as Gemma), Gemma 4's chat template
  train_log.json                                           loss curve, held-out PPL before/after, seconds, versions,
                                                           data sha256s, sanity checks, tokenizer ids for C++ checks

Data (--data, laid out as ../shared/datasets): wikitext-2-raw/wiki.test.raw, mmlu/dev/*.csv, mmlu/val/*.csv
(SHA256SUMS files beside them are checked when present). Training text = the first 90% of wiki.test.raw (cut at a
line end) + every MMLU dev/val record formatted as lm-eval prompts with their answer (plain and Gemma 4 chat
format). The last 10% of wiki.test.raw is held out: its first half selects the checkpoint (evaluated every
--eval-every steps, the best one is kept), its second half is only reported (PPL before and after training).
MMLU test records are never read.

Run on the GPU machine (transformers 5.17, torch + CUDA, tokenizers, safetensors; no internet needed):
    python3 scripts/train_demo_model.py --data DATA_DIR --out evals/demo/model
"""
import argparse
import csv
import hashlib
import json
import math
import os
import platform
import random
import shutil
import sys
import time
from pathlib import Path

# cuBLAS needs this before CUDA initialises for deterministic GEMMs (torch.use_deterministic_algorithms).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import safetensors  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import transformers  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers  # noqa: E402
from transformers import Gemma4ForCausalLM, Gemma4TextConfig  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
PINNED_TRANSFORMERS = "5.17.0"
CHAT_TEMPLATE = REPO_ROOT / "tests" / "fixtures" / "text" / "chat_templates" / "gemma4-31B-it.jinja"

# ------------------------------------------------------------------------------------------- tokenizer
# Gemma's ids for the first four specials (what the model config and quantgate's BOS handling expect), then the
# Gemma 4 chat markers the template emits, so `mmlu --chat` sees them as single tokens, as on the real model.
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<|turn>", "<turn|>", "<|channel>", "<channel|>", "<|think|>"]
PAD_ID, EOS_ID, BOS_ID, UNK_ID = 0, 1, 2, 3
# The byte-level split of tests/fixtures/text/llama3_like (scripts/make_tokenizer_goldens.py): a tokenizer kind
# whose every component quantgate's src/text already matches `tokenizers` on (goldens in tests/fixtures/text).
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
ANSWER_TOKENS = [" A", " B", " C", " D"]  # lm-eval's MMLU continuations: each must be ONE token

# ------------------------------------------------------------------------------------------- model
S, FULL = "sliding_attention", "full_attention"


def model_config(vocab_size):
    """E-style Gemma 4 (as E2B/E4B): per-layer embeddings, sliding + full layers, KV sharing, global head dim.
    Every Linear that W4A16 quantizes has in_features a multiple of 128 (q/k/v/gate/up/per_layer_input_gate:
    hidden 128; o_proj: 4x32=128 or 4x64=256; down_proj: 256; per_layer_projection: 128), so group size 128
    works without --ignore beyond the model card's list."""
    return Gemma4TextConfig(
        vocab_size=vocab_size, vocab_size_per_layer_input=vocab_size, hidden_size=128, intermediate_size=256,
        num_hidden_layers=4, layer_types=[S, FULL, S, FULL], num_attention_heads=4, num_key_value_heads=1,
        head_dim=32, global_head_dim=64, sliding_window=128, hidden_size_per_layer_input=128,
        num_kv_shared_layers=2, use_double_wide_mlp=False, attention_k_eq_v=False, enable_moe_block=False,
        final_logit_softcapping=30.0, max_position_embeddings=2048, rms_norm_eps=1e-6, tie_word_embeddings=True,
        pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=[EOS_ID, SPECIALS.index("<turn|>")])


# ------------------------------------------------------------------------------------------- data
def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_sums(root, files):
    """Verify files against root/SHA256SUMS when it exists (the copy the lead makes may omit it)."""
    sums_path = root / "SHA256SUMS"
    if not sums_path.exists():
        return "no SHA256SUMS beside the data: not verified"
    sums = {}
    for line in sums_path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            sums[name.strip().lstrip("*")] = digest
    for f in files:
        rel = f.relative_to(root).as_posix()
        if rel in sums and sums[rel] != sha256_file(f):
            raise SystemExit(f"ERROR: {f}: sha256 differs from {sums_path}")
    return f"verified against {sums_path}"


def read_mmlu_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    for r in rows:
        if len(r) != 6 or r[5] not in ("A", "B", "C", "D"):
            raise SystemExit(f"ERROR: {path}: expected 6 fields ending in a letter A-D, got {r!r}")
    return rows


def mmlu_desc(subject):  # lm-eval's MMLU description (shared/docs/mmlu-lm-eval.md, src/evals/mmlu_prompts.cpp)
    return "The following are multiple choice questions (with answers) about " + subject.replace("_", " ") + ".\n\n"


def mmlu_text(r):
    return r[0].strip() + "\nA. " + r[1] + "\nB. " + r[2] + "\nC. " + r[3] + "\nD. " + r[4] + "\nAnswer:"


def gemma4_chat(system, user, answer):
    """Gemma 4's template (chat_template.jinja) for [system, user] + generation prompt with thinking off, as
    src/text/chat_format.cpp renders it for `mmlu --chat`, then the answer letter and the end of the turn.
    The leading <bos> is left out: every training window starts with BOS already."""
    return ("<|turn>system\n" + system.strip() + "<turn|>\n<|turn>user\n" + user.strip() + "<turn|>\n"
            "<|turn>model\n<|channel>thought\n<channel|>" + answer + "<turn|>\n")


def mmlu_training_docs(mmlu_dir, rng, chat_fraction):
    """One document per dev/val record: lm-eval's k-shot prompt (k uniform in 0..5, shots = the subject's dev
    records, as lm-eval picks them) followed by " " + the gold letter; a chat_fraction of them in the Gemma 4
    chat form that `mmlu --chat` uses (continuation = the bare letter). Also returns each record once as a 0-shot
    text (the tokenizer's training text)."""
    subjects = sorted(p.name[: -len("_dev.csv")] for p in (mmlu_dir / "dev").glob("*_dev.csv"))
    if not subjects:
        raise SystemExit(f"ERROR: no *_dev.csv under {mmlu_dir / 'dev'} (expected the MMLU CSV layout)")
    files, docs, zero_shot = [], [], []
    for s in subjects:
        dev_path, val_path = mmlu_dir / "dev" / f"{s}_dev.csv", mmlu_dir / "val" / f"{s}_val.csv"
        if not val_path.exists():
            raise SystemExit(f"ERROR: {val_path} is missing (expected dev/ and val/ for every subject)")
        files += [dev_path, val_path]
        dev, val = read_mmlu_csv(dev_path), read_mmlu_csv(val_path)
        for row in dev + val:
            zero_shot.append(mmlu_desc(s) + mmlu_text(row) + " " + row[5])
            shots = [d for d in dev if d is not row][: rng.randint(0, 5)]
            body = "".join(mmlu_text(d) + " " + d[5] + "\n\n" for d in shots) + mmlu_text(row)
            if rng.random() < chat_fraction:
                docs.append(("chat", gemma4_chat(mmlu_desc(s), body, row[5])))
            else:
                docs.append(("plain", mmlu_desc(s) + body + " " + row[5]))
    return subjects, files, docs, zero_shot


def split_wiki(text):
    """First 90% (cut after a newline) for training; the rest halves into selection / report sets."""
    cut = text.rfind("\n", 0, int(0.9 * len(text))) + 1
    held = text[cut:]
    mid = held.rfind("\n", 0, len(held) // 2) + 1
    return text[:cut], held[:mid], held[mid:]


# ------------------------------------------------------------------------------------------- tokenizer
def train_tokenizer(texts, vocab_size):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    for i, s in enumerate(SPECIALS):
        if tok.token_to_id(s) != i:
            raise SystemExit(f"ERROR: special token {s} got id {tok.token_to_id(s)}, expected {i}")
    tok = ensure_single_tokens(tok, ANSWER_TOKENS)
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", BOS_ID)]),
    ])
    return tok


def ensure_single_tokens(tok, words):
    """Append a merge (and a vocab entry) for any answer word BPE did not learn. ' A' is pre-tokenized alone after
    'Answer:', so the byte-level pair 'Ġ' + 'A' is the only merge it needs; appending at the lowest rank changes no
    other word's tokens (a merge only applies where its two parts are adjacent symbols)."""
    missing = [w for w in words if len(tok.encode(w, add_special_tokens=False).ids) != 1]
    if not missing:
        return tok
    j = json.loads(tok.to_str())
    vocab, merges = j["model"]["vocab"], j["model"]["merges"]
    for w in missing:
        space, letter = "\u0120", w[1:]  # 'Ġ' is the byte-level symbol of ' '
        vocab[space + letter] = max(vocab.values()) + 1
        merges.append([space, letter] if merges and isinstance(merges[0], list) else f"{space} {letter}")
    tok = Tokenizer.from_str(json.dumps(j))
    print(f"appended merges for {missing}")
    for w in words:
        if len(tok.encode(w, add_special_tokens=False).ids) != 1:
            raise SystemExit(f"ERROR: {w!r} is still not a single token")
    return tok


def write_tokenizer_files(tok, out, max_len):
    tok.save(str(out / "tokenizer.json"))
    # PreTrainedTokenizerFast: transformers then uses tokenizer.json as written (a Gemma class would rebuild
    # Gemma's own SentencePiece-style pipeline). add_bos_token mirrors the post-processor (quantgate warns if not).
    cfg = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<bos>", "eos_token": "<eos>",
           "pad_token": "<pad>", "unk_token": "<unk>", "add_bos_token": True, "add_eos_token": False,
           "model_max_length": max_len, "clean_up_tokenization_spaces": False, "padding_side": "left"}
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2) + "\n")
    shutil.copyfile(CHAT_TEMPLATE, out / "chat_template.jinja")


# ------------------------------------------------------------------------------------------- training
def windows_from(stream, starts, ctx):
    """[BOS] + stream[s : s + ctx - 1] for each start: the layout of a `quantgate kl` chunk."""
    out = torch.empty((len(starts), ctx), dtype=torch.long)
    out[:, 0] = BOS_ID
    for i, s in enumerate(starts):
        out[i, 1:] = stream[s: s + ctx - 1]
    return out


def next_token_nll(model, batch, autocast):
    """Summed next-token NLL (nats) and count over batch rows (the BOS is never a target)."""
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
        logits = model(input_ids=batch, use_cache=False).logits
    logits = logits[:, :-1].float()
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), reduction="sum")
    return loss, batch[:, 1:].numel()


@torch.no_grad()
def heldout_eval(model, ids, ctx, device, n_bytes, autocast):
    """Non-overlapping BOS-prefixed chunks of ctx tokens covering every held-out token once (last chunk shorter).
    Returns token PPL and bits per byte (tokenizer-independent)."""
    model.eval()
    total, count = 0.0, 0
    step = ctx - 1
    for s in range(0, len(ids), step):
        piece = ids[s: s + step]
        batch = torch.cat([torch.tensor([BOS_ID]), piece])[None].to(device)
        loss, n = next_token_nll(model, batch, autocast)
        total += loss.item()
        count += n
    model.train()
    return {"tokens": count, "nll_per_token": total / count, "ppl": math.exp(total / count),
            "bits_per_byte": total / math.log(2) / n_bytes}


def set_determinism(seed):
    random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.use_deterministic_algorithms(True, warn_only=True)


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def train(model, wiki_ids, mmlu_ids, mmlu_starts, select_ids, select_bytes, args, device, log):
    # Weight decay on matrices only: decaying RMSNorm scales (initialised at 1) would shrink the activations.
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    vectors = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": matrices, "weight_decay": 0.1}, {"params": vectors, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    g = torch.Generator().manual_seed(args.seed)
    n_wiki = max(1, round(args.batch * args.wiki_fraction))
    best = {"step": 0, **heldout_eval(model, select_ids, args.ctx, device, select_bytes, True)}
    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    log["selection_curve"] = [{"step": 0, "ppl": best["ppl"]}]
    log["loss_curve"] = []
    model.train()
    t0, step = time.time(), 0
    for step in range(1, args.steps + 1):
        w = torch.randint(0, len(wiki_ids) - args.ctx, (n_wiki,), generator=g).tolist()
        m = torch.randint(0, len(mmlu_starts), (args.batch - n_wiki,), generator=g).tolist()
        batch = torch.cat([windows_from(wiki_ids, w, args.ctx),
                           windows_from(mmlu_ids, [mmlu_starts[i] for i in m], args.ctx)]).to(device)
        for group in opt.param_groups:
            group["lr"] = lr_at(step - 1, args)
        loss, n = next_token_nll(model, batch, True)
        loss = loss / n
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.log_every == 0 or step == 1:
            elapsed = time.time() - t0
            log["loss_curve"].append({"step": step, "loss": loss.item(), "lr": lr_at(step - 1, args),
                                      "seconds": round(elapsed, 2)})
            eta = elapsed / step * (args.steps - step)
            print(f"step {step}/{args.steps} loss {loss.item():.4f} {elapsed:.1f}s (ETA {eta:.0f}s)", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            ev = heldout_eval(model, select_ids, args.ctx, device, select_bytes, True)
            log["selection_curve"].append({"step": step, "ppl": ev["ppl"]})
            print(f"  selection PPL {ev['ppl']:.2f} (best {best['ppl']:.2f} at step {best['step']})", flush=True)
            if ev["ppl"] < best["ppl"]:
                best = {"step": step, **ev}
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if time.time() - t0 > args.max_seconds:
            print(f"WARNING: stopped at step {step}: --max-seconds {args.max_seconds} reached (run not reproducible)")
            log["stopped_by_time_limit"] = True
            break
    log["train_seconds"] = round(time.time() - t0, 2)
    log["steps_run"] = step
    log["best_selection"] = best
    model.load_state_dict(best_state)
    return model


# ------------------------------------------------------------------------------------------- checks
def sanity_checks(out, tok, report_ids, report_bytes, vocab, log, args):
    """Reload what was saved the way users will, and check it. Returns a list of failures (empty = pass)."""
    failures, checks = [], {}
    model = Gemma4ForCausalLM.from_pretrained(str(out), dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.cat([torch.tensor([BOS_ID]), report_ids[:63]])[None]
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits[0].float()
    loss = F.cross_entropy(logits[:-1], ids[0, 1:]).item()
    # "Well below log(vocab)": a uniform guess scores log(V) = 6.93 nats; 0.75 log(V) (5.2 nats, PPL 180) is
    # far above a trained model's ~4 nats but below anything an untrained or broken save could reach.
    checks["reload_forward_64"] = {"finite": bool(torch.isfinite(logits).all()), "loss": loss,
                                   "log_vocab": math.log(vocab), "limit": 0.75 * math.log(vocab)}
    if not torch.isfinite(logits).all():
        failures.append("reloaded model gives non-finite logits")
    if not loss < 0.75 * math.log(vocab):
        failures.append(f"reloaded model's loss on 64 held-out tokens {loss:.3f} >= 0.75 log(V)")
    checks["report_after_reload_fp32"] = heldout_eval(model, report_ids, args.ctx, "cpu", report_bytes, False)

    reloaded = Tokenizer.from_file(str(out / "tokenizer.json"))
    samples = {"wiki": "The game 's opening theme was composed by Hitoshi Sakimoto , who also worked on the "
                       "previous games in the Valkyria Chronicles series .",
               "mmlu": mmlu_desc("high_school_biology") + mmlu_text(["What is 2 + 2?", "3", "4", "5", "22", "B"]) + " B",
               "chat": "<bos>" + gemma4_chat(mmlu_desc("astronomy"), "Which planet is largest?\nA. Mars\nB. Jupiter"
                                             "\nC. Venus\nD. Earth\nAnswer:", "B"),
               "unicode": "Café naïve — 東京 😀 \t tabs\n\n  spaces "}
    checks["tokenizer_ids"] = {}
    for name, text in samples.items():
        with_special = reloaded.encode(text).ids
        without = reloaded.encode(text, add_special_tokens=False).ids
        checks["tokenizer_ids"][name] = {"text": text, "ids_add_special": with_special, "ids": without}
        if with_special[0] != BOS_ID or with_special[1:] != without:
            failures.append(f"tokenizer: encode({name}) does not add exactly one BOS")
        if reloaded.decode(without, skip_special_tokens=False) != text:
            failures.append(f"tokenizer: decode(encode({name})) is not the text")
    for w in ANSWER_TOKENS:
        if len(reloaded.encode(w, add_special_tokens=False).ids) != 1:
            failures.append(f"tokenizer: {w!r} is not one token")
    # transformers' view (what lm-eval's HF backend uses): a mismatch is a failure, a load error only a warning.
    try:
        auto = transformers.AutoTokenizer.from_pretrained(str(out))
        for name, c in checks["tokenizer_ids"].items():
            got = auto(c["text"])["input_ids"]
            if got != c["ids_add_special"]:
                failures.append(f"AutoTokenizer ids differ from tokenizers' on {name}: {got[:12]}...")
        msgs = [{"role": "system", "content": mmlu_desc("astronomy")},
                {"role": "user", "content": "Which planet is largest?\nA. Mars\nB. Jupiter\nC. Venus\nD. Earth\nAnswer:"}]
        rendered = auto.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        expected = samples["chat"][: -len("B<turn|>\n")]
        checks["chat_template_render"] = {"rendered": rendered, "matches_training_format": rendered == expected}
        if rendered != expected:
            failures.append(f"chat template renders {rendered!r}, training used {expected!r}")
    except Exception as e:  # noqa: BLE001 - recorded, not fatal: the C++ side reads the files directly
        checks["auto_tokenizer_error"] = repr(e)
        print(f"WARNING: AutoTokenizer check skipped: {e!r}")
    size = (out / "model.safetensors").stat().st_size
    checks["model_safetensors_bytes"] = size
    if size > 3.2e6:
        failures.append(f"model.safetensors is {size} bytes (budget ~3 MB)")
    log["sanity_checks"] = checks
    log["sanity_failures"] = failures
    return failures


# ------------------------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder with wikitext-2-raw/ and mmlu/ (as ../shared/datasets)")
    ap.add_argument("--out", type=Path, required=True, help="output checkpoint folder (evals/demo/model)")
    ap.add_argument("--vocab", type=int, default=1024, help="tokenizer size (= model vocab_size)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=32, help="windows per step")
    ap.add_argument("--ctx", type=int, default=1024, help="tokens per window, BOS included (also held-out chunks)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--wiki-fraction", type=float, default=0.6, help="share of each batch drawn from WikiText")
    ap.add_argument("--chat-fraction", type=float, default=0.25, help="share of MMLU documents in chat form")
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--max-seconds", type=float, default=420, help="safety stop for the training loop")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("ERROR: this script trains on a CUDA GPU (none visible)")
    if transformers.__version__ != PINNED_TRANSFORMERS:
        print(f"WARNING: pinned to transformers {PINNED_TRANSFORMERS}, running {transformers.__version__}")
    device = "cuda"
    set_determinism(args.seed)
    t_start = time.time()

    wiki_path = args.data / "wikitext-2-raw" / "wiki.test.raw"
    mmlu_dir = args.data / "mmlu"
    if not wiki_path.exists():
        raise SystemExit(f"ERROR: {wiki_path} not found (--data must hold wikitext-2-raw/wiki.test.raw)")
    wiki = wiki_path.read_bytes().decode("utf-8")  # exact bytes, no newline translation
    wiki_train, wiki_select, wiki_report = split_wiki(wiki)
    subjects, mmlu_files, docs, zero_shot = mmlu_training_docs(mmlu_dir, random.Random(args.seed), args.chat_fraction)
    data_log = {
        "wiki": {"path": "wikitext-2-raw/wiki.test.raw", "sha256": sha256_file(wiki_path), "bytes": len(wiki.encode()),
                 "train_chars": len(wiki_train), "selection_chars": len(wiki_select), "report_chars": len(wiki_report),
                 "check": check_sums(wiki_path.parent, [wiki_path])},
        "mmlu": {"subjects": len(subjects), "files": len(mmlu_files), "documents": len(docs),
                 "chat_documents": sum(k == "chat" for k, _ in docs), "check": check_sums(mmlu_dir, mmlu_files),
                 "sha256_of_sorted_file_sha256s": hashlib.sha256("".join(
                     f"{sha256_file(f)}  {f.relative_to(mmlu_dir).as_posix()}\n" for f in sorted(mmlu_files)).encode()).hexdigest()},
    }

    # The tokenizer sees each record once (the k-shot documents repeat the dev records up to ~300 times).
    tok = train_tokenizer([wiki_train] + zero_shot, args.vocab)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_tokenizer_files(tok, args.out, 2048)

    enc = lambda t: torch.tensor(tok.encode(t, add_special_tokens=False).ids, dtype=torch.long)  # noqa: E731
    wiki_ids, select_ids, report_ids = enc(wiki_train), enc(wiki_select), enc(wiki_report)
    mmlu_parts, mmlu_starts, pos = [], [], 0
    for _, d in docs:
        ids = torch.cat([enc(d), torch.tensor([EOS_ID])])
        mmlu_starts.append(pos)
        mmlu_parts.append(ids)
        pos += len(ids)
    mmlu_ids = torch.cat(mmlu_parts + [wiki_ids[: args.ctx]])  # tail padding: every start has a full window
    data_log["tokens"] = {"wiki_train": len(wiki_ids), "selection": len(select_ids), "report": len(report_ids),
                          "mmlu": pos, "chars_per_token_wiki": len(wiki_train) / len(wiki_ids)}
    print(f"vocab {vocab}; tokens: {data_log['tokens']}")

    config = model_config(vocab)
    # Eager attention: deterministic backward (SDPA's fused kernels are not). Set on the config before the model
    # is built (works across transformers versions), with the model-level setter as a fallback.
    try:
        config._attn_implementation = "eager"
    except Exception as e:  # noqa: BLE001
        print(f"WARNING: config._attn_implementation: {e!r}")
    model = Gemma4ForCausalLM(config)
    if getattr(model.config, "_attn_implementation", None) != "eager":
        try:
            model.set_attn_implementation("eager")
        except Exception as e:  # noqa: BLE001
            print(f"WARNING: could not select eager attention: {e!r}")
    attn_impl = getattr(model.config, "_attn_implementation", None)
    print(f"attention implementation: {attn_impl}")
    model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    report_bytes = len(wiki_report.encode())
    log = {"command": " ".join([Path(sys.argv[0]).name] + sys.argv[1:]), "args": {k: str(v) for k, v in vars(args).items()},
           "versions": {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
                        "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                        "safetensors": safetensors.__version__, "gpu": torch.cuda.get_device_name(0)},
           "data": data_log, "vocab": vocab, "parameters": n_params, "attn_implementation": attn_impl,
           "report_before": heldout_eval(model, report_ids, args.ctx, device, report_bytes, True)}
    print(f"{n_params:,} parameters; report-set PPL before training {log['report_before']['ppl']:.1f}")

    model = train(model, wiki_ids, mmlu_ids, mmlu_starts, select_ids, len(wiki_select.encode()), args, device, log)
    log["report_after"] = heldout_eval(model, report_ids, args.ctx, device, report_bytes, True)
    print(f"report-set PPL after training {log['report_after']['ppl']:.2f} "
          f"({log['report_after']['bits_per_byte']:.3f} bits/byte)")

    model.generation_config.bos_token_id, model.generation_config.pad_token_id = BOS_ID, PAD_ID
    model.generation_config.eos_token_id = config.eos_token_id
    model.to("cpu").to(torch.bfloat16).save_pretrained(str(args.out))

    failures = sanity_checks(args.out, tok, report_ids, report_bytes, vocab, log, args)
    log["total_seconds"] = round(time.time() - t_start, 2)
    log["files"] = {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
                    for p in sorted(args.out.iterdir()) if p.is_file() and p.name != "train_log.json"}
    (args.out / "train_log.json").write_text(json.dumps(log, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}: {sorted(log['files'])}; model.safetensors "
          f"{log['files']['model.safetensors']['bytes']:,} bytes; {log['total_seconds']:.0f} s in all")
    if failures:
        print("SANITY CHECKS FAILED:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("sanity checks passed")


if __name__ == "__main__":
    main()
