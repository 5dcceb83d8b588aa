#!/usr/bin/env python3
"""Oracle for quantgate's compressed-tensors code: a torch transcription of the compressed-tensors /
llm-compressor operations (written from their sources' semantics as documented in
../shared/docs/quant-formats.md sections 2-3; not a copy), run on CPU and CUDA.

It writes, under --out (default <repo>/tests/fixtures):

  quant_oracle/e_style_<SCHEME>.safetensors   for W4A16, W4A16_ASYM, W8A16 (group size 16) applied to
      tests/fixtures/gemma4/e_style: per quantized Linear `<module>.weight_packed`, `.weight_scale`,
      `.weight_zero_point` (asymmetric); and quant_oracle/e_style_dequant.json: FNV-1a 64 of each layer's
      dequantized bf16 bytes. The C++ test quantizes the same checkpoint with `quantize` and must match
      every word, scale, zero point and dequantized bit.
  gemma4/e_style_w4a16/golden/golden.safetensors   fp32 eager logits/hidden states of transformers run on
      the weights of our committed W4A16 fixture dequantized by this transcription.

Run on a machine with torch + transformers 5.17 (a GPU is used when present; CPU and CUDA must agree):
    python3 scripts/ct_oracle.py --out tests/fixtures
"""
import argparse
import json
import re
import sys
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import Gemma4ForCausalLM

REPO = Path(__file__).resolve().parent.parent
GROUP = 16
SCHEMES = {  # (bits, symmetric)
    "W4A16": (4, True),
    "W4A16_ASYM": (4, False),
    "W8A16": (8, True),
}
IGNORE = ["lm_head", "re:.*embed_tokens$", "re:.*norm$", "re:.*embed_tokens_per_layer.*",
          "re:.*per_layer_model_projection.*", "re:.*vision_tower.*", "re:.*audio_tower.*",
          "re:.*embed_vision.*", "re:.*embed_audio.*"]


def ignored(name):
    """compressed-tensors matching: 're:' = Python re.match, else exact module name."""
    for pattern in IGNORE:
        if pattern.startswith("re:"):
            if re.match(pattern[3:], name):
                return True
        elif pattern == name:
            return True
    return False


# ---------------------------------------------------------------- the transcription (torch ops)
def qparams(w, bits, symmetric):
    """Memoryless min-max observer per group of GROUP columns, then scale/zero point, all as torch
    tensor ops in the weight's dtype (bf16): every op computed in f32 and rounded to bf16."""
    out, inp = w.shape
    g = w.reshape(out, inp // GROUP, GROUP)
    zeros = torch.zeros((), dtype=w.dtype, device=w.device)
    lo = torch.minimum(g.amin(dim=-1), zeros)
    hi = torch.maximum(g.amax(dim=-1), zeros)
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    bit_range = qmax - qmin
    if symmetric:
        absmax = torch.maximum(-lo, hi)
        scale = absmax / (float(bit_range) / 2)
        zp = torch.zeros_like(scale, dtype=torch.int8)
    else:
        scale = (hi - lo) / float(bit_range)
        zp = qmin - lo / scale
        zp = torch.clamp(zp, qmin, qmax)
        zp = torch.round(zp).to(torch.int8)  # NaN (zero scale) -> 0, as observed in compressed-tensors
    eps = torch.finfo(w.dtype).eps
    scale = torch.where(scale == 0, torch.full_like(scale, eps), scale)
    return scale, zp


def quantize(w, scale, zp, bits, symmetric):
    qmin, qmax = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    out, inp = w.shape
    x = w.reshape(out, inp // GROUP, GROUP)
    v = x / scale[..., None]
    if not symmetric:
        v = v + zp[..., None].to(w.dtype)
    q = torch.round(torch.clamp(v, qmin, qmax))
    return q.reshape(out, inp).to(torch.int32)


def pack_last_dim(q, bits):
    """Offset-binary codes, element 0 in the lowest bits of each int32 word."""
    per = 32 // bits
    u = (q + 2 ** (bits - 1)).to(torch.int64)
    rows, cols = u.shape
    pad = (-cols) % per
    if pad:
        u = torch.cat([u, torch.zeros(rows, pad, dtype=torch.int64, device=u.device)], dim=1)
    u = u.reshape(rows, -1, per)
    words = torch.zeros(u.shape[:2], dtype=torch.int64, device=u.device)
    for i in range(per):
        words |= u[..., i] << (bits * i)
    words = torch.where(words >= 2 ** 31, words - 2 ** 32, words)
    return words.to(torch.int32)


def unpack_last_dim(words, bits, cols):
    per = 32 // bits
    w = words.to(torch.int64) & 0xFFFFFFFF
    parts = [(w >> (bits * i)) & (2 ** bits - 1) for i in range(per)]
    u = torch.stack(parts, dim=-1).reshape(words.shape[0], -1)[:, :cols]
    return (u - 2 ** (bits - 1)).to(torch.int32)


def dequantize(q, scale, zp, dtype):
    """q cast to the scale's dtype, zero point subtracted, times scale: one rounding per op."""
    out, inp = q.shape
    x = q.reshape(out, inp // GROUP, GROUP).to(dtype)
    if zp is not None:
        x = x - zp[..., None].to(dtype)
    return (x * scale[..., None]).reshape(out, inp)


def fnv1a64(data: bytes) -> str:
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


# ---------------------------------------------------------------- outputs
def oracle_goldens(out_root, devices):
    src = REPO / "tests/fixtures/gemma4/e_style"
    model = Gemma4ForCausalLM.from_pretrained(str(src), dtype=torch.bfloat16)
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and not ignored(n)]
    print(f"{len(linears)} Linear modules quantized; ignored:",
          [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and ignored(n)])
    odir = out_root / "quant_oracle"
    odir.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for scheme, (bits, sym) in SCHEMES.items():
        tensors, per_device = {}, {}
        for dev in devices:
            res = {}
            for name, mod in linears:
                w = mod.weight.detach().to(dev)
                scale, zp = qparams(w, bits, sym)
                q = quantize(w, scale, zp, bits, sym)
                packed = pack_last_dim(q, bits)
                assert torch.equal(unpack_last_dim(packed, bits, w.shape[1]), q)
                deq = dequantize(q, scale, None if sym else zp, w.dtype)
                res[name] = (packed.cpu(), scale.cpu(), zp.cpu(), deq.cpu())
            per_device[dev] = res
        ref = per_device[devices[0]]
        for dev in devices[1:]:
            for name in ref:
                for a, b in zip(ref[name], per_device[dev][name]):
                    assert torch.equal(a.view(torch.int16) if a.dtype == torch.bfloat16 else a,
                                       b.view(torch.int16) if b.dtype == torch.bfloat16 else b), (scheme, name, dev)
        print(f"{scheme}: CPU and CUDA agree bit for bit" if len(devices) > 1 else f"{scheme}: {devices[0]} only")
        for name, (packed, scale, zp, deq) in ref.items():
            tensors[f"{name}.weight_packed"] = packed.contiguous()
            tensors[f"{name}.weight_scale"] = scale.contiguous()
            if not sym:
                per = 32 // bits
                zp_codes = zp.to(torch.int32)  # [out, groups], packed along dim 0
                tensors[f"{name}.weight_zero_point"] = pack_last_dim(zp_codes.t().contiguous(), bits).t().contiguous()
            hashes[f"{scheme}/{name}"] = fnv1a64(deq.contiguous().view(torch.int16).numpy().tobytes())
        save_file(tensors, str(odir / f"e_style_{scheme}.safetensors"))
    (odir / "e_style_dequant.json").write_text(json.dumps(
        {"group_size": GROUP, "hash": "FNV-1a 64 of the dequantized bf16 bytes (little-endian)",
         "devices": devices, "torch": torch.__version__, "dequant_fnv1a64": hashes}, indent=1) + "\n")
    print("wrote", odir)


def w4a16_dequantized_state():
    """The committed W4A16 fixture's tensors with every packed Linear dequantized by this transcription."""
    d = REPO / "tests/fixtures/gemma4/e_style_w4a16"
    state = {}
    with safe_open(str(d / "model.safetensors"), framework="pt") as f:
        for k in f.keys():
            if k.endswith((".weight_scale", ".weight_shape")):
                continue
            t = f.get_tensor(k)
            if k.endswith(".weight_packed"):
                module = k[: -len(".weight_packed")]
                shape = f.get_tensor(module + ".weight_shape").tolist()
                scale = f.get_tensor(module + ".weight_scale")
                state[module + ".weight"] = dequantize(unpack_last_dim(t, 4, shape[1]), scale, None, scale.dtype)
            else:
                state[k] = t
    return state


def w4a16_logits(out_root, device):
    d = REPO / "tests/fixtures/gemma4/e_style_w4a16"
    state = w4a16_dequantized_state()
    expected = json.loads((REPO / "tests/fixtures/gemma4/e_style/expected.json").read_text())
    ids = torch.tensor(expected["golden"]["ids"], dtype=torch.int64)
    # The BF16 source's architecture and config, with every weight replaced by the dequantized one.
    model = Gemma4ForCausalLM.from_pretrained(str(REPO / "tests/fixtures/gemma4/e_style"), dtype=torch.float32,
                                              attn_implementation="eager").eval()
    missing, unexpected = model.load_state_dict({k: v.to(torch.float32) for k, v in state.items()}, strict=False)
    missing = [m for m in missing if m != "lm_head.weight"]
    assert not missing and not unexpected, (missing, unexpected)
    with torch.no_grad():
        out = model(input_ids=ids[None], output_hidden_states=True, use_cache=False)
    logits = out.logits[0].float().contiguous()
    hidden = torch.stack([h[0] for h in out.hidden_states]).float().contiguous()
    (d / "golden").mkdir(exist_ok=True)
    save_file({"ids": ids, "logits": logits, "hidden_states": hidden}, str(d / "golden" / "golden.safetensors"))
    print(f"wrote {d}/golden/golden.safetensors: logits {tuple(logits.shape)}, max|logit| {logits.abs().max():.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "tests/fixtures")
    args = ap.parse_args()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print("torch", torch.__version__, "devices", devices)
    oracle_goldens(args.out, devices)
    w4a16_logits(args.out, devices[-1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
