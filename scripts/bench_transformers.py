#!/usr/bin/env python3
"""The transformers baseline of `quantgate bench-engine` (issue 11), run on the same GPU in the same session.

A Gemma 4 text model of a real config's shapes (e.g. tests/fixtures/configs/gemma4_e4b.json) with random bf16
weights, transformers' eager module with sdpa attention, no compilation: the way users run it.

  forward  B x T random ids, every logit row produced (model(ids).logits), one warm-up then the median of
           --repeats timed calls (CUDA events), peak memory from torch.cuda.max_memory_allocated.
  kl       two such models (seeds 1 and 2) over a token-id file chunked exactly as `quantgate kl` does
           ([BOS] + ctx-1 corpus ids per chunk, rows ctx/2 .. ctx-2 scored), full-vocab KL in fp32 on the GPU.
  mmlu     one forward per question (context ids from `quantgate mmlu --dump-prompts`), the four choices read
           from the last row, questions sorted by length and batched up to --batch-tokens padded tokens: the
           loglikelihood loop of lm-eval's HF backend for single-token choices. Run on a subset and extrapolated
           by prompt tokens.

Figures are printed and, with --json, written for the report. This script measures speed only: the metric maths
of quantgate is checked against transformers elsewhere (scripts/make_kl_golden.py, make_mmlu_golden.py).
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import transformers
from transformers import Gemma4ForCausalLM, Gemma4TextConfig


def build_model(config_path, seed):
    cfg = json.load(open(config_path))
    text = cfg.get("text_config", cfg)
    text = {k: v for k, v in text.items() if k not in ("architectures", "transformers_version", "model_type")}
    config = Gemma4TextConfig(**text)
    config._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    prev = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        model = Gemma4ForCausalLM(config)
    torch.set_default_dtype(prev)
    model.eval()
    return model, config


def matmul_flops_per_token(model, config):
    # 2 x (every Linear's weight, the head included once): the convention of quantgate's bench-engine.
    n = 0
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear):
            n += mod.weight.numel()
    return 2.0 * n


def cmd_forward(args):
    model, config = build_model(args.config, 1)
    flops = matmul_flops_per_token(model, config)
    rows = []
    gen = torch.Generator(device="cuda").manual_seed(1)
    for item in args.shapes.split(","):
        b, t = (int(x) for x in item.split("x"))
        ids = torch.randint(3, config.vocab_size, (b, t), device="cuda", generator=gen)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        times = []
        try:
            with torch.inference_mode():
                for i in range(args.warmup + args.repeats):
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    start.record()
                    logits = model(input_ids=ids).logits
                    end.record()
                    torch.cuda.synchronize()
                    assert logits.shape[:2] == (b, t)
                    del logits
                    if i >= args.warmup:
                        times.append(start.elapsed_time(end) / 1000.0)
        except torch.OutOfMemoryError as e:
            print(f"| {item} | out of memory | | | |", flush=True)
            rows.append({"shape": item, "error": f"out of memory: {str(e).splitlines()[0]}"})
            continue
        med = statistics.median(times)
        tps = b * t / med
        peak = torch.cuda.max_memory_allocated()
        print(f"| {item} | {tps:.0f} | {tps * flops / 1e12:.1f} | {med:.3f} | {peak / 2**30:.2f} GiB |", flush=True)
        rows.append({"shape": item, "batch": b, "tokens": t, "seconds": times, "median_seconds": med,
                     "tokens_per_second": tps, "effective_tflops": tps * flops / 1e12,
                     "gflop_per_token": flops / 1e9, "peak_allocated_bytes": peak})
    return {"forward": rows}


def load_ids(path):
    text = open(path).read()
    if path.endswith(".json"):
        v = json.loads(text)
        return v["ids"] if isinstance(v, dict) else v
    return [int(x) for x in text.replace(",", " ").split()]


def cmd_kl(args):
    ref, config = build_model(args.config, 1)
    cand, _ = build_model(args.config, 2)
    ids = load_ids(args.ids)
    bos = config.bos_token_id
    if ids and ids[0] == bos:
        ids = ids[1:]
    ctx, first = args.ctx, args.ctx // 2
    n_chunks = len(ids) // (ctx - 1)
    if args.max_chunks:
        n_chunks = min(n_chunks, args.max_chunks)
    chunks = torch.tensor([[bos] + ids[i * (ctx - 1):(i + 1) * (ctx - 1)] for i in range(n_chunks)], device="cuda")
    kl_sum, n_scored = 0.0, 0
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, n_chunks, args.batch):
            batch = chunks[s:s + args.batch]
            lp = torch.log_softmax(ref(input_ids=batch).logits[:, first:ctx - 1].float(), dim=-1)
            lq = torch.log_softmax(cand(input_ids=batch).logits[:, first:ctx - 1].float(), dim=-1)
            kl = (lp.exp() * (lp - lq)).sum(-1)
            kl_sum += kl.double().sum().item()
            n_scored += kl.numel()
            del lp, lq, kl
    torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    print(f"transformers KL: {n_chunks} chunks x {ctx}, {n_scored} scored tokens in {secs:.2f} s "
          f"({n_scored / secs:.0f} scored tokens/s), mean KL {kl_sum / max(n_scored, 1):.6g}", flush=True)
    return {"kl": {"chunks": n_chunks, "ctx": ctx, "scored_tokens": n_scored, "seconds": secs,
                   "scored_tokens_per_second": n_scored / secs, "batch": args.batch}}


def cmd_mmlu(args):
    model, config = build_model(args.config, 1)
    qs = [json.loads(line) for line in open(args.prompts)]
    # One sequence per question: the context; the four single-token choices come from its last row.
    seqs = sorted(([int(x) for x in q["context_ids"]] for q in qs), key=len)
    choice_ids = torch.tensor([int(q["continuation_ids"][i][0]) for q in qs[:1] for i in range(4)], device="cuda")
    tokens = sum(len(s) for s in seqs)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    done = 0
    with torch.inference_mode():
        i = 0
        while i < len(seqs):
            j = i + 1  # grow the batch while the padded size stays within the budget
            while j < len(seqs) and (j + 1 - i) * len(seqs[j]) <= args.batch_tokens:
                j += 1
            batch = seqs[i:j]
            width = len(batch[-1])
            ids = torch.full((len(batch), width), config.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for r, s in enumerate(batch):  # right padding, as lm-eval's HF backend
                ids[r, :len(s)] = torch.tensor(s)
                mask[r, :len(s)] = 1
            logits = model(input_ids=ids.cuda(), attention_mask=mask.cuda()).logits
            last = torch.tensor([len(s) - 1 for s in batch], device="cuda")
            rows = logits[torch.arange(len(batch), device="cuda"), last].float()
            _ = torch.log_softmax(rows, dim=-1)[:, choice_ids].cpu()
            done += len(batch)
            del logits
            i = j
    torch.cuda.synchronize()
    secs = time.perf_counter() - t0
    scale = args.total_prompt_tokens / tokens if args.total_prompt_tokens else None
    extra = f"; extrapolated to {args.total_prompt_tokens} prompt tokens: {secs * scale:.1f} s" if scale else ""
    print(f"transformers MMLU loop: {done} questions, {tokens} prompt tokens in {secs:.2f} s "
          f"({tokens / secs:.0f} tokens/s){extra}", flush=True)
    return {"mmlu": {"questions": done, "prompt_tokens": tokens, "seconds": secs,
                     "extrapolated_seconds": secs * scale if scale else None,
                     "total_prompt_tokens": args.total_prompt_tokens, "batch_tokens": args.batch_tokens}}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["forward", "kl", "mmlu"])
    p.add_argument("--config", required=True)
    p.add_argument("--shapes", default="1x2048,4x2048,1x8192,8x512,1x32768")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ids", help="kl: token ids (JSON array or whitespace list), no BOS")
    p.add_argument("--ctx", type=int, default=2048)
    p.add_argument("--max-chunks", type=int, default=0)
    p.add_argument("--batch", type=int, default=4, help="kl: chunks per forward call")
    p.add_argument("--prompts", help="mmlu: a `quantgate mmlu --dump-prompts` JSONL")
    p.add_argument("--batch-tokens", type=int, default=16384, help="mmlu: padded tokens per forward call")
    p.add_argument("--total-prompt-tokens", type=int, default=0, help="mmlu: extrapolate to this many tokens")
    p.add_argument("--json")
    args = p.parse_args()
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name()}",
          flush=True)
    if args.mode == "forward":
        print("| B x T | tokens/s | effective TFLOP/s | median s | peak allocated |\n|---|---|---|---|---|")
    out = {"forward": cmd_forward, "kl": cmd_kl, "mmlu": cmd_mmlu}[args.mode](args)
    out.update({"transformers": transformers.__version__, "torch": torch.__version__,
                "device": torch.cuda.get_device_name(), "argv": sys.argv})
    if args.json:
        json.dump(out, open(args.json, "w"), indent=2)


if __name__ == "__main__":
    main()
