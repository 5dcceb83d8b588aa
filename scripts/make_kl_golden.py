#!/usr/bin/env python3
"""Golden per-token KL for `quantgate kl`, computed by transformers + torch (run on the GPU machine).

Reference: tests/fixtures/gemma4/e_style (transformers, fp32 eager). Candidate: the same model with the weights
of our committed W4A16 fixture (tests/fixtures/gemma4/e_style_w4a16) dequantized by scripts/ct_oracle.py's
independent transcription of compressed-tensors. Two chunks of 128 tokens (BOS + 127 corpus ids), rows 64..126
scored as `quantgate kl --ctx 128` does (the second half; the last row predicts nothing). Per token, in float64
from the fp32 logits: KL(P||Q) = sum p (log p - log q) with log-softmax from torch, the reverse KL, both NLLs of
the true next token and both argmaxes.

Writes tests/fixtures/kl/golden.safetensors. Run: python3 scripts/make_kl_golden.py
"""
import json
import random
import sys
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file
from transformers import Gemma4ForCausalLM

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from ct_oracle import w4a16_dequantized_state  # noqa: E402

CTX, CHUNKS, BOS = 128, 2, 2


def load(name):
    return Gemma4ForCausalLM.from_pretrained(str(REPO / "tests/fixtures/gemma4" / name), dtype=torch.float32,
                                             attn_implementation="eager").eval()


def candidate():
    model = load("e_style")
    state = w4a16_dequantized_state()
    missing, unexpected = model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=False)
    assert not [m for m in missing if m != "lm_head.weight"] and not unexpected, (missing, unexpected)
    return model


def main():
    rng = random.Random(7)
    corpus = [rng.randrange(3, 512) for _ in range(CHUNKS * (CTX - 1))]
    chunks = torch.tensor([[BOS] + corpus[i * (CTX - 1):(i + 1) * (CTX - 1)] for i in range(CHUNKS)])
    ref, cand = load("e_style"), candidate()
    first = CTX // 2
    out = {k: [] for k in ("kl", "kl_reverse", "nll_ref", "nll_cand", "top1_ref", "top1_cand")}
    with torch.no_grad():
        lr = ref(input_ids=chunks, use_cache=False).logits.double()[:, first:CTX - 1]
        lc = cand(input_ids=chunks, use_cache=False).logits.double()[:, first:CTX - 1]
    lp, lq = torch.log_softmax(lr, -1), torch.log_softmax(lc, -1)
    nxt = chunks[:, first + 1:CTX]
    out["kl"] = (lp.exp() * (lp - lq)).sum(-1)
    out["kl_reverse"] = (lq.exp() * (lq - lp)).sum(-1)
    # cross-check with torch's own KL convention: kl_div(input=log q, target=log p, log_target=True) = p (log p - log q)
    kd = torch.nn.functional.kl_div(lq, lp, log_target=True, reduction="none").sum(-1)
    assert torch.allclose(kd, out["kl"], rtol=1e-12, atol=1e-15)
    out["nll_ref"] = -lp.gather(-1, nxt[..., None])[..., 0]
    out["nll_cand"] = -lq.gather(-1, nxt[..., None])[..., 0]
    out["top1_ref"] = lr.argmax(-1).to(torch.int64)
    out["top1_cand"] = lc.argmax(-1).to(torch.int64)
    tensors = {k: v.contiguous() for k, v in out.items()}
    tensors["ids"] = chunks.to(torch.int64).contiguous()
    dst = REPO / "tests/fixtures/kl"
    dst.mkdir(exist_ok=True)
    meta = {"transformers": transformers.__version__, "torch": torch.__version__, "ctx": str(CTX),
            "first_scored_row": str(first), "reference": "gemma4/e_style",
            "candidate": "gemma4/e_style_w4a16 dequantized by scripts/ct_oracle.py"}
    save_file(tensors, str(dst / "golden.safetensors"), metadata=meta)
    print(json.dumps({"mean_kl": float(out["kl"].mean()), "tokens": int(out["kl"].numel()), **meta}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
