#!/usr/bin/env python3
"""Golden logits of the tiny Gemma 4 fixtures at several sequence lengths, for the forward-pass tests.

For every fixture already in tests/fixtures/gemma4/<name> (made by scripts/make_fixtures.py), reloads
the SAVED checkpoint exactly as the existing golden.safetensors was made (fp32, eager attention, eager
experts loop: make_fixtures.reload_fp32, on the CPU) and writes golden/forward.safetensors:

  ids_T{n} I64 [n], logits_T{n} F32 [n, vocab]   n in LENGTHS (1; window-1, window, window+1; 40 > window)
  hidden_states_T40 F32 [n_layers + 1, 40, hidden] (layout as golden.safetensors: [0] scaled embeddings,
                   [i] output of layer i-1 after layer_scalar, [L] after the final norm)
  ids_batch I64 [3, 12], logits_batch F32 [3, 12, vocab]   one batched call (equal lengths, no padding)
  ids_T{max} I64 [max_position_embeddings], logits_T{max}_rows F32 [k, vocab], rows_T{max} I64 [k]:
                   a sequence of exactly max_position_embeddings tokens; only every 8th row is kept
                   (sizes: the fixtures' goldens stay small)

The file's metadata records the versions and, per case, max|logits_fp32 - logits_fp64| of the same
model run in float64: the fp32 reference's own rounding noise, which the C++ tolerance is set against.

Usage (a machine with torch + transformers 5.17; no GPU needed):
    python3 scripts/make_forward_goldens.py [--fixtures tests/fixtures] [--out DIR]
--out defaults to the fixtures tree itself (<fixture>/golden/forward.safetensors).
"""
import argparse
import copy
import json
import sys
import traceback
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import PINNED_TRANSFORMERS, reload_fp32  # noqa: E402  (same reload as golden.safetensors)
from transformers import Gemma4ForCausalLM, Gemma4ForConditionalGeneration  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ("all_features", "e_style", "moe_style", "cond_gen")
HIDDEN_T = 40
BATCH, BATCH_T = 3, 12
MAX_ROW_STRIDE = 8
SEED = 4321


def make_ids(gen, vocab, n):
    """BOS (2) first, then random ids >= 3, as the fixtures' golden ids."""
    rest = torch.randint(3, vocab, (n - 1,), generator=gen, dtype=torch.int64)
    return torch.cat([torch.tensor([2], dtype=torch.int64), rest])


def run(model, ids, hidden=False):
    with torch.no_grad():
        out = model(input_ids=ids if ids.ndim == 2 else ids[None], output_hidden_states=hidden, use_cache=False)
    logits = out.logits.float()
    hs = torch.stack([h[0].float() for h in out.hidden_states]) if hidden else None
    return (logits if ids.ndim == 2 else logits[0]).contiguous(), hs


def goldens_for(fixtures_dir, name):
    d = fixtures_dir / "gemma4" / name
    expected = json.loads((d / "expected.json").read_text())
    cls = {"Gemma4ForCausalLM": Gemma4ForCausalLM,
           "Gemma4ForConditionalGeneration": Gemma4ForConditionalGeneration}[expected["class"]]
    kw = expected["text_config_kwargs"]
    vocab, window, max_pos = kw["vocab_size"], kw["sliding_window"], kw["max_position_embeddings"]
    model, _ = reload_fp32(cls, d)
    model64 = copy.deepcopy(model).double()  # every buffer too (RoPE frequencies, embed scales)

    gen = torch.Generator().manual_seed(SEED)
    out, noise = {}, {}

    def record(key, ids, logits):
        out[f"ids_{key}"] = ids.contiguous()
        out[f"logits_{key}"] = logits
        noise[key] = (run(model64, ids)[0].double() - logits.double()).abs().max().item()

    for n in sorted({1, window - 1, window, window + 1, HIDDEN_T}):
        ids = make_ids(gen, vocab, n)
        if n == HIDDEN_T:  # the tables' edge rows
            ids[5], ids[6] = 0, vocab - 1
        logits, hs = run(model, ids, hidden=(n == HIDDEN_T))
        record(f"T{n}", ids, logits)
        if hs is not None:
            out[f"hidden_states_T{n}"] = hs.contiguous()
    batch = torch.stack([make_ids(gen, vocab, BATCH_T) for _ in range(BATCH)])
    record("batch", batch, run(model, batch)[0])

    ids = make_ids(gen, vocab, max_pos)
    logits = run(model, ids)[0]
    rows = torch.arange(MAX_ROW_STRIDE - 1, max_pos, MAX_ROW_STRIDE, dtype=torch.int64)
    out[f"ids_T{max_pos}"] = ids
    out[f"logits_T{max_pos}_rows"] = logits[rows].contiguous()
    out[f"rows_T{max_pos}"] = rows
    noise[f"T{max_pos}"] = (run(model64, ids)[0].double() - logits.double()).abs().max().item()
    return out, noise


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", type=Path, default=REPO_ROOT / "tests" / "fixtures")
    ap.add_argument("--out", type=Path, default=None, help="write <out>/<fixture>/forward.safetensors instead")
    args = ap.parse_args()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    if transformers.__version__ != PINNED_TRANSFORMERS:
        print(f"WARNING: goldens are pinned to transformers {PINNED_TRANSFORMERS}")
    total, failed = 0, []
    for name in FIXTURES:
        try:
            tensors, noise = goldens_for(args.fixtures, name)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        meta = {"transformers": transformers.__version__, "torch": torch.__version__,
                "reload": "from_pretrained(dtype=float32, attn_implementation='eager', experts_implementation='eager'), CPU",
                "max_abs_fp32_minus_fp64": json.dumps(noise)}
        target = (args.out / name) if args.out else (args.fixtures / "gemma4" / name / "golden")
        target.mkdir(parents=True, exist_ok=True)
        path = target / "forward.safetensors"
        save_file(tensors, str(path), metadata=meta)
        total += path.stat().st_size
        print(f"{name}: {path} {path.stat().st_size / 1e3:.0f} kB; fp32-vs-fp64 max|dlogit| "
              + ", ".join(f"{k} {v:.2e}" for k, v in noise.items()))
    print(f"total {total / 1e6:.3f} MB")
    if failed:
        print(f"FAILED: {failed}")
        sys.exit(1)


if __name__ == "__main__":
    main()
