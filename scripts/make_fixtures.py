#!/usr/bin/env python3
"""Generate the Gemma 4 golden fixtures used by quantgate's C++ tests.

What is written under --out (default: <repo>/tests/fixtures):

  gemma4/<name>/    tiny random checkpoints saved by transformers' save_pretrained, plus
                    expected.json (tensor names/dtypes/shapes read back from the saved files,
                    parameter counts by component) and golden/golden.safetensors (ids, logits,
                    hidden_states of an fp32 eager reload of the saved checkpoint):
      all_features  Gemma4ForCausalLM, fp32, every text code path (docs/gemma4-text.md §16)
      e_style       Gemma4ForCausalLM, bf16, PLE + KV sharing + double-wide MLP
      moe_style     Gemma4ForCausalLM, bf16, "26B-style": MoE + attention_k_eq_v
      cond_gen      Gemma4ForConditionalGeneration, bf16, sharded, tiny vision/audio towers
  configs/          bare config.json files of the real E2B/E4B/26B-A4B/31B models and
                    parameter counts / tensor listings from a meta-device instantiation.

The C++ tests compare against these files, so they must come from the pinned stack.
Regenerate with exactly this command on a machine with transformers 5.17.0 (no internet needed):

    python3 scripts/make_fixtures.py --out tests/fixtures

Counting convention ("*_params"): numel of every tensor save_pretrained writes (parameters and
persistent buffers such as layer_scalar), the tied lm_head counted once (it is not saved).
"""
import argparse
import copy
import inspect
import json
import math
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

import safetensors
import torch
import transformers
from safetensors import safe_open
from safetensors.torch import save_file
from transformers import (Gemma4AudioConfig, Gemma4Config, Gemma4ForCausalLM,
                          Gemma4ForConditionalGeneration, Gemma4TextConfig, Gemma4VisionConfig)

REPO_ROOT = Path(__file__).resolve().parent.parent
PINNED_TRANSFORMERS = "5.17.0"
SEQ_LEN, IDS_SEED = 21, 1234
S, F = "sliding_attention", "full_attention"
# hidden_states layout (transformers' capture_outputs): entry 0 is the input of layer 0 (scaled
# token embeddings), entry i (1 <= i < L) the output of decoder layer i-1 (after layer_scalar),
# and the last entry is replaced by last_hidden_state, i.e. it is AFTER the final model.norm.
HS_LAYOUT = ("[0]=scaled embeddings (input of layer 0); [i]=output of layer i-1 (after layer_scalar) "
             "for 1<=i<L; [L]=final norm applied to the output of layer L-1 (last_hidden_state)")

# ---------------------------------------------------------------------------- tiny fixtures
MOE_KEYS = dict(attention_k_eq_v=True, num_global_key_value_heads=1, enable_moe_block=True,
                num_experts=8, top_k_experts=2, moe_intermediate_size=32)
# name -> (text style, save dtype, ConditionalGeneration?, max_shard_size, seed)
TINY = {
    "all_features": ("all_features", torch.float32, False, None, 0),
    "e_style": ("e_style", torch.bfloat16, False, None, 1),
    "moe_style": ("moe_style", torch.bfloat16, False, None, 2),
    "cond_gen": ("e_style", torch.bfloat16, True, "200KB", 3),
}


def tiny_text_kwargs(style):
    kw = dict(vocab_size=512, vocab_size_per_layer_input=512, hidden_size=64, intermediate_size=96,
              num_hidden_layers=4, layer_types=[S, F, S, F], num_attention_heads=4,
              num_key_value_heads=2, head_dim=16, global_head_dim=32, sliding_window=8,
              hidden_size_per_layer_input=16, num_kv_shared_layers=2, use_double_wide_mlp=True,
              attention_k_eq_v=False, enable_moe_block=False, final_logit_softcapping=30.0,
              max_position_embeddings=256, rms_norm_eps=1e-6, tie_word_embeddings=True,
              pad_token_id=0, bos_token_id=2, eos_token_id=1)
    if style in ("all_features", "moe_style"):
        kw.update(MOE_KEYS)
    if style == "moe_style":
        kw.update(hidden_size_per_layer_input=0, num_kv_shared_layers=0, use_double_wide_mlp=False)
    return kw


def tiny_towers():
    vision = Gemma4VisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2, head_dim=8,
                                patch_size=4, position_embedding_size=16, pooling_kernel_size=3,
                                use_clipped_linears=True)
    audio = Gemma4AudioConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              subsampling_conv_channels=[8, 4], conv_kernel_size=3,
                              output_proj_dims=32, use_clipped_linears=True)
    return vision, audio


def randomise_(model, seed):
    """§16 step 2: norms/scales ~ 1+0.2N, everything else ~ 0.15N, layer_scalar ~ U(0.5, 1.5)."""
    g = torch.Generator().manual_seed(seed)
    n_scalars = 0
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied lm_head is visited once (same Parameter)
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype)
            if p.ndim == 1 and ("norm" in name or name.endswith("scale")):
                p.copy_(1.0 + 0.2 * noise)
            else:
                p.copy_(0.15 * noise)
        for name, b in model.named_buffers():
            if name.split(".")[-1] == "layer_scalar":
                b.copy_(0.5 + torch.rand(b.shape, generator=g, dtype=torch.float32).to(b.dtype))
                n_scalars += 1
    if n_scalars == 0:
        raise RuntimeError("no layer_scalar buffer found in the model")


def round_to_bf16_(model):
    """Round every saved tensor (parameters + persistent buffers) to bf16 and back, in place.
    Non-persistent buffers (rotary *_inv_freq, embed_scale) are left in fp32."""
    saved = set(model.state_dict().keys())
    with torch.no_grad():
        tensors = list(model.parameters()) + [b for n, b in model.named_buffers() if n in saved]
        for t in tensors:
            if t.is_floating_point():
                t.copy_(t.to(torch.bfloat16).to(t.dtype))


def is_tied(model):
    out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    text_cfg = model.config.get_text_config()
    return (out is not None and out.weight is inp.weight) or bool(text_cfg.tie_word_embeddings)


def saved_view(model):
    """What save_pretrained writes: state_dict (no non-persistent buffers) minus the tied head."""
    sd = model.state_dict()
    if is_tied(model):
        sd.pop("lm_head.weight", None)
    return sd


COMPONENTS = (("text_decoder", "model.language_model."), ("vision", "model.vision_tower."),
              ("audio", "model.audio_tower."), ("embed_vision", "model.embed_vision."),
              ("embed_audio", "model.embed_audio."))


def classify(name, cond):
    if name.startswith("lm_head."):
        return "text_decoder"
    if not cond:
        return "text_decoder" if name.startswith("model.") else "other"
    return next((comp for comp, prefix in COMPONENTS if name.startswith(prefix)), "other")


def count_components(model, cond):
    counts = {f"{c}_params": 0 for c, _ in COMPONENTS}
    counts.update(other_params=0, ple_table_params=0, embed_tokens_params=0, layer_scalar_params=0)
    text, nontext = {}, {}
    for name, t in saved_view(model).items():
        comp = classify(name, cond)
        counts[f"{comp}_params"] += t.numel()
        (text if comp == "text_decoder" else nontext)[name] = list(t.shape)
        if comp == "text_decoder":
            if name.endswith("embed_tokens_per_layer.weight"):
                counts["ple_table_params"] += t.numel()
            elif name.endswith(".embed_tokens.weight"):
                counts["embed_tokens_params"] += t.numel()
            elif name.endswith(".layer_scalar"):
                counts["layer_scalar_params"] += t.numel()
    counts["text_decoder_params_excl_layer_scalar"] = (counts["text_decoder_params"]
                                                       - counts["layer_scalar_params"])
    counts["total_params"] = sum(math.prod(s) for s in list(text.values()) + list(nontext.values()))
    return counts, text, nontext


def read_saved_tensors(directory):
    """name -> dtype/shape/file, read back from every saved (possibly sharded) safetensors file.
    Keys and shapes come from safe_open; the dtype string ("F32", "BF16", ...) from the file header."""
    out = {}
    for f in sorted(directory.glob("*.safetensors")):
        with open(f, "rb") as fh:
            header = json.loads(fh.read(int.from_bytes(fh.read(8), "little")))
        with safe_open(str(f), framework="pt") as h:
            for k in h.keys():
                shape = list(h.get_slice(k).get_shape())
                out[k] = {"dtype": header[k]["dtype"], "shape": shape, "file": f.name}
    return out


def save_checkpoint(model, directory, dtype, max_shard_size):
    kwargs = {}
    if "safe_serialization" in inspect.signature(model.save_pretrained).parameters:
        kwargs["safe_serialization"] = True
    if max_shard_size:
        kwargs["max_shard_size"] = max_shard_size
    # Casting a *copy* only affects what is written: the in-memory fp32 model keeps its fp32
    # rotary buffers (non-persistent, never saved anyway).
    to_save = model if dtype == torch.float32 else copy.deepcopy(model).to(dtype)
    to_save.save_pretrained(str(directory), **kwargs)


def reload_fp32(cls, directory):
    """fp32 eager reload of the saved checkpoint; experts (MoE) forced to the eager per-expert
    loop where this transformers accepts `experts_implementation` (default is grouped_mm)."""
    base = dict(dtype=torch.float32, attn_implementation="eager")
    attempts = (dict(experts_implementation="eager", output_loading_info=True),
                dict(output_loading_info=True), {})
    for i, extra in enumerate(attempts):
        try:
            result = cls.from_pretrained(str(directory), **base, **extra)
            break
        except TypeError:
            if i == len(attempts) - 1:
                raise
            traceback.print_exc()
            print(f"WARNING: from_pretrained rejected {sorted(extra)}; retrying without")
    model, info = result if isinstance(result, tuple) else (result, {})
    info = {k: sorted(str(x) for x in v) for k, v in info.items() if isinstance(v, (list, set, tuple))}
    return model.eval(), info


def run_forward(model, ids):
    with torch.no_grad():
        out = model(input_ids=ids[None], output_hidden_states=True, use_cache=False)
    logits = out.logits[0].float().contiguous()
    hidden = torch.stack([h[0].float() for h in out.hidden_states]).contiguous()
    return logits, hidden


def golden_ids(vocab):
    g = torch.Generator().manual_seed(IDS_SEED)
    rest = torch.randint(3, vocab, (SEQ_LEN - 1,), generator=g, dtype=torch.int64)
    return torch.cat([torch.tensor([2], dtype=torch.int64), rest])


def make_tiny(out_root, name, towers=True):
    style, dtype, cond, shard, seed = TINY[name]
    d = out_root / "gemma4" / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    torch.manual_seed(seed)
    text_kw = tiny_text_kwargs(style)
    text_cfg = Gemma4TextConfig(**text_kw)
    has_vision = has_audio = False
    if cond:
        vision, audio = tiny_towers() if towers else (None, None)
        has_vision, has_audio = vision is not None, audio is not None
        cls = Gemma4ForConditionalGeneration
        model = cls(Gemma4Config(text_config=text_cfg, vision_config=vision, audio_config=audio))
    else:
        cls = Gemma4ForCausalLM
        model = cls(text_cfg)
    model.eval()
    randomise_(model, seed)
    if dtype == torch.bfloat16:
        round_to_bf16_(model)
    save_checkpoint(model, d, dtype, shard)

    saved = read_saved_tensors(d)
    counts, text, nontext = count_components(model, cond)
    if not any(k.endswith(".layer_scalar") for k in saved):
        raise RuntimeError("layer_scalar was not written to the checkpoint")
    expected_names = set(text) | set(nontext)
    if set(saved) != expected_names:
        print(f"WARNING {name}: saved names differ from state_dict: only saved "
              f"{sorted(set(saved) - expected_names)}, only state_dict {sorted(expected_names - set(saved))}")
    shards = sorted(f.name for f in d.glob("model*.safetensors"))
    if shard and (len(shards) < 2 or not (d / "model.safetensors.index.json").exists()):
        print(f"WARNING {name}: expected a sharded checkpoint, got {shards}")

    reloaded, info = reload_fp32(cls, d)
    missing = [k for k in info.get("missing_keys", []) if k != "lm_head.weight"]
    if missing:
        raise RuntimeError(f"reload reported missing keys (goldens would not match the files): {missing}")
    mem_sd, re_sd = saved_view(model), reloaded.state_dict()
    differing = [k for k, v in mem_sd.items() if k not in re_sd or not torch.equal(v, re_sd[k].to(v.dtype))]
    if differing:
        raise RuntimeError(f"reloaded tensors differ from the saved model: {differing[:10]}")

    ids = golden_ids(text_kw["vocab_size"])
    logits, hidden = run_forward(reloaded, ids)
    try:  # sanity check only: in-memory model with default attention/experts kernels
        mem_diff = (run_forward(model, ids)[0] - logits).abs().max().item()
    except Exception:
        traceback.print_exc()
        mem_diff = None
    if mem_diff is None or mem_diff > 1e-3:
        print(f"WARNING {name}: in-memory vs reloaded logits differ by {mem_diff}")
    n_layers = text_kw["num_hidden_layers"]
    assert logits.shape == (SEQ_LEN, text_kw["vocab_size"]), logits.shape
    assert hidden.shape == (n_layers + 1, SEQ_LEN, text_kw["hidden_size"]), hidden.shape
    # Goldens live in a subfolder so the checkpoint directory holds only what save_pretrained wrote.
    (d / "golden").mkdir(exist_ok=True)
    save_file({"ids": ids.contiguous(), "logits": logits, "hidden_states": hidden},
              str(d / "golden" / "golden.safetensors"))

    saved_cfg = json.loads((d / "config.json").read_text())
    saved_text_cfg = saved_cfg.get("text_config", saved_cfg)
    expected = {
        "fixture": name, "transformers": transformers.__version__, "torch": torch.__version__,
        "safetensors": safetensors.__version__, "class": cls.__name__,
        "dtype": "float32" if dtype == torch.float32 else "bfloat16",
        "text_config_kwargs": text_kw, "has_vision": has_vision, "has_audio": has_audio,
        "weight_files": shards, "sharded": (d / "model.safetensors.index.json").exists(),
        "saved_per_layer_config": saved_text_cfg.get("per_layer_config"),
        "count_definition": "numel of saved tensors (parameters + persistent buffers), tied head once",
        "tensors": {k: {"dtype": v["dtype"], "shape": v["shape"]} for k, v in saved.items()},
        "tensor_files": {k: v["file"] for k, v in saved.items()},
        **{k: counts[k] for k in ("text_decoder_params", "text_decoder_params_excl_layer_scalar",
                                  "ple_table_params", "embed_tokens_params", "vision_params",
                                  "audio_params", "embed_vision_params", "embed_audio_params",
                                  "total_params")},
        "golden": {"ids": ids.tolist(), "file": "golden/golden.safetensors", "seq_len": SEQ_LEN,
                   "reload": "from_pretrained(dtype=float32, attn_implementation='eager')",
                   "max_abs_logit": logits.abs().max().item(),
                   "sliding_window": text_kw["sliding_window"],
                   "sliding_window_lt_seq_len": text_kw["sliding_window"] < SEQ_LEN,
                   "hidden_states_layout": HS_LAYOUT,
                   "in_memory_vs_reload_max_abs_diff": mem_diff},
        "loading_info": info,
        "experts_implementation": getattr(reloaded.config.get_text_config(), "_experts_implementation", None),
    }
    (d / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {d}: {sorted(p.name for p in d.iterdir())}; {len(saved)} tensors, "
          f"text params {counts['text_decoder_params']}, max|logit| {expected['golden']['max_abs_logit']:.3f}")


def make_cond_gen(out_root):
    try:
        make_tiny(out_root, "cond_gen", towers=True)
    except Exception:
        traceback.print_exc()
        print("WARNING: cond_gen with tiny vision/audio towers failed (traceback above); "
              "falling back to vision_config=None, audio_config=None (has_vision=false)")
        make_tiny(out_root, "cond_gen", towers=False)


# ------------------------------------------------------------------------- real variant configs
ROPE = {S: {"rope_type": "default", "rope_theta": 10000.0},
        F: {"rope_type": "proportional", "partial_rotary_factor": 0.25, "rope_theta": 1000000.0}}
COMMON_TEXT = dict(vocab_size=262144, vocab_size_per_layer_input=262144, head_dim=256,
                   global_head_dim=512, final_logit_softcapping=30.0, rms_norm_eps=1e-6,
                   rope_parameters=ROPE, tie_word_embeddings=True, hidden_activation="gelu_pytorch_tanh",
                   pad_token_id=0, bos_token_id=2, eos_token_id=[1, 106])
NO_MOE = dict(enable_moe_block=False, num_experts=None, top_k_experts=None, moe_intermediate_size=None)
VARIANTS = {  # values: docs/gemma4-text.md §1 == transformers convert_gemma4_weights.py _VARIANTS
    "e2b": (dict(hidden_size=1536, num_hidden_layers=35, layer_types=([S] * 4 + [F]) * 7,
                 num_attention_heads=8, num_key_value_heads=1, num_global_key_value_heads=None,
                 attention_k_eq_v=False, intermediate_size=6144, use_double_wide_mlp=True,
                 num_kv_shared_layers=20, hidden_size_per_layer_input=256, sliding_window=512,
                 max_position_embeddings=131072, use_bidirectional_attention=None, **NO_MOE),
            "on_device", True),
    "e4b": (dict(hidden_size=2560, num_hidden_layers=42, layer_types=([S] * 5 + [F]) * 7,
                 num_attention_heads=8, num_key_value_heads=2, num_global_key_value_heads=None,
                 attention_k_eq_v=False, intermediate_size=10240, use_double_wide_mlp=False,
                 num_kv_shared_layers=18, hidden_size_per_layer_input=256, sliding_window=512,
                 max_position_embeddings=131072, use_bidirectional_attention=None, **NO_MOE),
            "on_device", True),
    "26b_a4b": (dict(hidden_size=2816, num_hidden_layers=30, layer_types=([S] * 5 + [F]) * 5,
                     num_attention_heads=16, num_key_value_heads=8, num_global_key_value_heads=2,
                     attention_k_eq_v=True, intermediate_size=2112, use_double_wide_mlp=False,
                     num_kv_shared_layers=0, hidden_size_per_layer_input=0, sliding_window=1024,
                     max_position_embeddings=262144, use_bidirectional_attention="vision",
                     enable_moe_block=True, num_experts=128, top_k_experts=8, moe_intermediate_size=704),
                "large", False),
    "31b": (dict(hidden_size=5376, num_hidden_layers=60, layer_types=([S] * 5 + [F]) * 10,
                 num_attention_heads=32, num_key_value_heads=16, num_global_key_value_heads=4,
                 attention_k_eq_v=True, intermediate_size=21504, use_double_wide_mlp=False,
                 num_kv_shared_layers=0, hidden_size_per_layer_input=0, sliding_window=1024,
                 max_position_embeddings=262144, use_bidirectional_attention="vision", **NO_MOE),
            "large", False),
}
# Converter vision configs. Its extra keys global_head_dim / default_output_length and the
# top-level vision_soft_tokens_per_image are not fields of the 5.17 config classes and change
# no tensor shape, so they are left out.
VISION = {"on_device": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=16,
                            num_attention_heads=12, num_key_value_heads=12, head_dim=64,
                            pooling_kernel_size=3, use_clipped_linears=True),
          "large": dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27,
                        num_attention_heads=16, num_key_value_heads=16, head_dim=72,
                        pooling_kernel_size=3, use_clipped_linears=False, standardize=True)}
E4B_TEXT_PARAMS_EXCL_SCALARS = 7_463_013_376  # docs §1 "7.46 B" (42 layer_scalar buffers excluded)
E4B_PLE_PARAMS = 2_818_572_288  # 262144 x (42 * 256)


def saved_config_json(config, architectures):
    config.architectures = architectures
    with tempfile.TemporaryDirectory() as tmp:
        config.save_pretrained(tmp)
        return (Path(tmp) / "config.json").read_text()


def make_variant(out_root, key):
    text_only, vision_kind, has_audio = VARIANTS[key]
    text_kw = copy.deepcopy({**COMMON_TEXT, **text_only})
    cfg_dir = out_root / "configs"
    cfg_dir.mkdir(parents=True, exist_ok=True)
    config = Gemma4Config(text_config=Gemma4TextConfig(**text_kw),
                          vision_config=Gemma4VisionConfig(**VISION[vision_kind]),
                          audio_config=Gemma4AudioConfig() if has_audio else None)
    cfg_text = saved_config_json(config, ["Gemma4ForConditionalGeneration"])
    (cfg_dir / f"gemma4_{key}.json").write_text(cfg_text)
    with torch.device("meta"):
        model = Gemma4ForConditionalGeneration(config)
    counts, text, nontext = count_components(model, cond=True)
    expected = {"variant": key, "transformers": transformers.__version__, "torch": torch.__version__,
                "class": "Gemma4ForConditionalGeneration",
                "count_definition": "numel of saved tensors (parameters + persistent buffers), tied head once",
                **counts, "text_tensor_count": len(text), "nontext_tensor_count": len(nontext),
                "text_tensors": text}
    if key == "e4b":
        expected["nontext_tensors"] = nontext
    (cfg_dir / f"gemma4_{key}.expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"{key}: text_decoder_params={counts['text_decoder_params']:,} (excl. layer_scalar "
          f"{counts['text_decoder_params_excl_layer_scalar']:,}), ple_table={counts['ple_table_params']:,}, "
          f"vision={counts['vision_params']:,}, audio={counts['audio_params']:,}, "
          f"total={counts['total_params']:,}, {len(text)} text tensors")
    written = [f"gemma4_{key}.json", f"gemma4_{key}.expected.json"]
    if key == "e4b":
        written += write_e4b_extra_forms(cfg_dir, cfg_text, text_kw)
        n_scalars = text_kw["num_hidden_layers"]
        assert counts["ple_table_params"] == E4B_PLE_PARAMS, counts["ple_table_params"]
        assert counts["text_decoder_params_excl_layer_scalar"] == E4B_TEXT_PARAMS_EXCL_SCALARS, counts
        assert counts["text_decoder_params"] == E4B_TEXT_PARAMS_EXCL_SCALARS + n_scalars, counts
        if len(text) != 665:
            print(f"WARNING e4b: {len(text)} text tensors, docs §13 says 665")
    print(f"wrote {cfg_dir}: {written}")


def write_e4b_extra_forms(cfg_dir, cfg_text, text_kw):
    # Google's released config.json form: global_head_dim / num_global_key_value_heads instead of
    # 5.17's per_layer_config. If 5.17 already wrote global_head_dim it is simply overwritten.
    google = json.loads(cfg_text)
    tc = google["text_config"]
    print(f"e4b saved text_config has per_layer_config={'per_layer_config' in tc}, "
          f"global_head_dim={'global_head_dim' in tc}")
    tc.pop("per_layer_config", None)
    tc.update(global_head_dim=512, num_global_key_value_heads=None)
    tc.setdefault("head_dim", 256)
    tc.setdefault("num_key_value_heads", 2)
    (cfg_dir / "gemma4_e4b_google_form.json").write_text(json.dumps(google, indent=2) + "\n")
    # Flat text-only config.json, as Gemma4ForCausalLM.save_pretrained would write it.
    causal_text = saved_config_json(Gemma4TextConfig(**copy.deepcopy(text_kw)), ["Gemma4ForCausalLM"])
    assert json.loads(causal_text)["model_type"] == "gemma4_text"
    (cfg_dir / "gemma4_e4b_causallm.json").write_text(causal_text)
    return ["gemma4_e4b_google_form.json", "gemma4_e4b_causallm.json"]


# ------------------------------------------------------------------------------------- driver
def dir_size(path):
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "tests" / "fixtures",
                    help="output root (default: <repo>/tests/fixtures)")
    args = ap.parse_args()
    out_root = args.out.resolve()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"safetensors {safetensors.__version__}; writing to {out_root}")
    if transformers.__version__ != PINNED_TRANSFORMERS:
        print(f"WARNING: fixtures are pinned to transformers {PINNED_TRANSFORMERS}")

    jobs = [(f"gemma4/{n}", lambda n=n: make_tiny(out_root, n)) for n in TINY if n != "cond_gen"]
    jobs.append(("gemma4/cond_gen", lambda: make_cond_gen(out_root)))
    jobs += [(f"configs/{k}", lambda k=k: make_variant(out_root, k)) for k in VARIANTS]
    failed = []
    for name, job in jobs:
        print(f"=== {name}")
        try:
            job()
        except Exception:
            traceback.print_exc()
            failed.append(name)

    for name in TINY:
        print(f"size gemma4/{name}: {dir_size(out_root / 'gemma4' / name) / 1e6:.3f} MB")
    total = dir_size(out_root / "gemma4")
    print(f"size gemma4/ total: {total / 1e6:.3f} MB; configs/: {dir_size(out_root / 'configs') / 1e6:.3f} MB")
    if total > 4.2e6:
        print("WARNING: tiny fixtures exceed the ~4 MB budget")
    if failed:
        print(f"FAILED: {failed}")
        sys.exit(1)
    print("all fixtures written")


if __name__ == "__main__":
    main()
