// The CUDA engine against the fp32 CPU reference (itself equal to transformers' fp32 logits to 1e-4, see
// forward_golden_test.cpp) on every fixture, quantized included, plus the engine's own contracts: packing of
// several sequences per step and one sequence over several steps, prefix reuse, run-to-run determinism,
// logits handed over on the GPU, the activation hook, and the memory plan's refusal.
//
// Tolerances. The engine's default "accurate" precision splits every GEMM input into two bf16 halves
// (x = hi + lo to 2^-17 relative, two GEMMs accumulated in fp32) and keeps the residual stream, norms, RoPE,
// softmax, the K/V cache and every GEMM output in fp32. Weights are bf16: the fp32 all_features fixture is
// rounded once at load (the engine warns), so its CPU reference here runs on a copy of that checkpoint with
// the tensors the engine holds in bf16 rounded the same way; the comparison then measures the engine, not the
// weight rounding (which alone moves all_features' logits by KL ~1e-3). The logits then follow the fp32 CPU
// pass to fp32-accumulation noise. The bounds: mean KL(cpu || gpu) <= 1e-4 and >= 99 % equal argmax;
// the max |diff| bound is set from the measured maxima (printed by every case) with margin.
//
// MoE fixtures (moe_style, all_features): a token whose top-k experts are nearly tied can have them swapped
// by any perturbation, and then its logits move by whole units (gemma4-text.md §15 item 16). With an fp16 K/V
// cache (2^-11) this happened to 15 of 256 tokens of moe_style on an H200; the fp32 cache of accurate mode
// removed every swap, so no allowance is made for them here.
//
// Measured on an H200 (accurate): mean KL 3e-11 .. 8e-10, max |diff| 2.5e-5 .. 4.6e-4, argmax 100 % on every
// case below; activations layer by layer within 5.2e-5 relative L2.
//
// "fast" precision rounds each GEMM input to bf16 once, as bf16 inference engines do. How far that alone
// moves the logits was measured independently on the CPU, by rounding the CPU reference's GEMM inputs and
// K/V to bf16 at the same places: e_style, 256 tokens: mean KL 1.9e-4, max |diff| 0.17, argmax agreement
// 96.5 % (GEMM inputs alone: KL 1.3e-4). The fast-mode test allows that, and skips the MoE fixtures, where a
// 2^-9 perturbation can swap a token's experts (gemma4-text.md §15 item 16) and move it by whole logits.
#include <cuda_runtime.h>
#include <fmt/format.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <vector>

#include "catch.h"
#include "common/error.h"
#include "forward/cpu/cpu_forward.h"
#include "evals/kl_device_comparer.h"
#include "evals/kl_eval.h"
#include "evals/kl_ref_cache.h"
#include "engine_options.h"
#include "forward/cuda/cuda_forward.h"
#include "forward_test_util.h"
#include "checkpoint/safetensors_writer.h"
#include "common/float_formats.h"
#include "test_paths.h"
#include "model/fixture_util.h"

using namespace qg;
using namespace qg::test;

namespace {

struct Bounds {
  double max_abs, mean_kl, argmax_agree;
};
// KL: 100x tighter than issue 6's 1e-4 and still >1000x the measured; max |diff|: ~4x the measured 4.6e-4.
constexpr Bounds kAccurate{2e-3, 1e-6, 0.99};
constexpr Bounds kFast{0.5, 5e-4, 0.95};       // the CPU bf16 emulation's figures with ~2.5x margin

struct Agreement {
  double max_abs = 0, mean_kl = 0, argmax_agree = 0;
  std::int64_t rows = 0;
};

// KL(p || q) per row of logits [rows, V], in double.
Agreement agreement(const std::vector<float>& p_logits, const std::vector<float>& q_logits, std::int64_t V) {
  Agreement a;
  REQUIRE(p_logits.size() == q_logits.size());
  const auto rows = static_cast<std::int64_t>(p_logits.size()) / V;
  double kl_sum = 0;
  std::int64_t agree = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* p = p_logits.data() + r * V;
    const float* q = q_logits.data() + r * V;
    double pm = p[0], qm = q[0];
    std::int64_t pa = 0, qa = 0;
    for (std::int64_t v = 0; v < V; ++v) {
      a.max_abs = std::max(a.max_abs, std::fabs(double(p[v]) - double(q[v])));
      if (p[v] > pm) pm = p[v], pa = v;
      if (q[v] > qm) qm = q[v], qa = v;
    }
    double ps = 0, qs = 0;
    for (std::int64_t v = 0; v < V; ++v) ps += std::exp(p[v] - pm), qs += std::exp(q[v] - qm);
    const double plz = pm + std::log(ps), qlz = qm + std::log(qs);
    double kl = 0;
    for (std::int64_t v = 0; v < V; ++v) {
      const double lp = p[v] - plz, lq = q[v] - qlz;
      kl += std::exp(lp) * (lp - lq);
    }
    kl_sum += kl;
    agree += pa == qa;
  }
  a.rows = rows;
  a.mean_kl = kl_sum / static_cast<double>(rows);
  a.argmax_agree = static_cast<double>(agree) / static_cast<double>(rows);
  return a;
}

void check_agreement(const std::string& what, const Agreement& a, const Bounds& b = kAccurate) {
  INFO(what);
  std::printf("cuda vs cpu %-44s rows %4lld  max|diff| %.3e  mean KL %.3e  argmax agree %.4f\n", what.c_str(),
              static_cast<long long>(a.rows), a.max_abs, a.mean_kl, a.argmax_agree);
  CHECK(a.max_abs <= b.max_abs);
  CHECK(a.mean_kl <= b.mean_kl);
  CHECK(a.argmax_agree >= b.argmax_agree);
}

// GPU logits against CPU logits with the accurate bounds.
void check_logits(const std::string& what, const std::vector<float>& cpu, const std::vector<float>& gpu,
                  std::int64_t V) {
  check_agreement(what, agreement(cpu, gpu, V));
}

// The fixture's directory, or for the fp32 all_features a copy with the tensors the engine holds in bf16
// rounded to bf16.
std::filesystem::path cpu_dir(const std::string& fixture) {
  if (fixture != "all_features") return gemma4_fixture(fixture);
  static TempDir tmp("cuda_forward_test");  // written once per test run
  const std::filesystem::path dir = tmp.path() / "all_features_bf16";
  if (std::filesystem::exists(dir / "model.safetensors")) return dir;
  std::filesystem::create_directories(dir);
  const Checkpoint ck = Checkpoint::open(gemma4_fixture(fixture));
  SafetensorsWriterOptions o;
  o.max_shard_bytes = UINT64_MAX;
  SafetensorsWriter w(dir, o);
  for (const auto& [name, t] : ck.tensors()) {
    const TensorView v = ck.view(name);
    // The engine keeps norms, layer scalars and the router in fp32 (exact); everything else becomes bf16.
    const bool engine_keeps_fp32 = name.find("norm") != std::string::npos ||
                                   name.find("layer_scalar") != std::string::npos ||
                                   name.find("router.") != std::string::npos;
    if (v.dtype != DType::kF32 || engine_keeps_fp32) {
      w.add(v);
      continue;
    }
    std::vector<std::uint16_t> b(static_cast<std::size_t>(v.numel()));
    for (std::int64_t i = 0; i < v.numel(); ++i) b[static_cast<std::size_t>(i)] = f32_to_bf16(load_as_f32(v, i));
    w.add(name, DType::kBF16, v.shape, std::as_bytes(std::span<const std::uint16_t>(b)));
  }
  w.finish();
  std::filesystem::copy_file(gemma4_fixture(fixture) / "config.json", dir / "config.json");
  return dir;
}

std::vector<TokenId> golden_ids(const std::string& fixture, const std::string& file, const std::string& name) {
  return to_ids(read_golden(gemma4_fixture(fixture) / "golden" / file, name).values);
}

CudaForwardOptions small_steps(std::int64_t batch_tokens,
                               GemmInputPrecision precision = GemmInputPrecision::kAccurate) {
  return engine_options(batch_tokens, precision, 1024, 16);
}

}  // namespace

TEST_CASE("cuda engine: logits agree with the CPU reference on every fixture", "[gpu]") {
  const std::string name = GENERATE("all_features", "e_style", "moe_style", "cond_gen", "e_style_w4a16");
  auto cpu = CpuForward::open(cpu_dir(name));
  auto gpu = CudaForward::open(gemma4_fixture(name));
  const std::int64_t V = cpu->config().n_vocab;
  const auto ids21 = golden_ids(name, "golden.safetensors", "ids");
  check_logits(name + " T=21", score_one(*cpu, ids21), score_one(*gpu, ids21), V);
  if (name != "e_style_w4a16") {  // the multi-length goldens exist for the dense fixtures
    for (const char* t : {"ids_T1", "ids_T9", "ids_T40", "ids_T256"}) {
      const auto ids = golden_ids(name, "forward.safetensors", t);
      check_logits(name + " " + t, score_one(*cpu, ids), score_one(*gpu, ids), V);
    }
  } else {  // the quantized fixture: its max_position_embeddings allows 256 tokens too
    std::vector<TokenId> ids(200);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<TokenId>(i == 0 ? 2 : 3 + (i * 37) % 500);
    check_logits(name + " T=200", score_one(*cpu, ids), score_one(*gpu, ids), V);
  }
  // The engine says when it rounded a checkpoint's weights to bf16.
  CHECK(gpu->warnings().empty() == (name != "all_features"));
}

TEST_CASE("cuda engine: fast precision (bf16 GEMM inputs) stays within bf16's own distance", "[gpu]") {
  const std::string name = GENERATE("e_style", "cond_gen", "e_style_w4a16");
  auto cpu = CpuForward::open(gemma4_fixture(name));
  CudaForwardOptions o;
  o.limits.precision = GemmInputPrecision::kFast;
  auto gpu = CudaForward::open(gemma4_fixture(name), o);
  const std::int64_t V = cpu->config().n_vocab;
  std::vector<TokenId> ids(200);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<TokenId>(i == 0 ? 2 : 3 + (i * 37) % 500);
  check_agreement(name + " fast T=200", agreement(score_one(*cpu, ids), score_one(*gpu, ids), V), kFast);
}

TEST_CASE("cuda engine: packing sequences into steps and splitting them across steps", "[gpu]") {
  const std::string name = GENERATE("all_features", "e_style", "moe_style");
  auto ref = CudaForward::open(gemma4_fixture(name));  // default limits: each sequence fits one step
  std::vector<std::vector<TokenId>> batch;
  for (int len : {1, 7, 33, 100, 12}) {
    std::vector<TokenId> s(static_cast<std::size_t>(len));
    for (int i = 0; i < len; ++i) s[static_cast<std::size_t>(i)] = i == 0 ? 2 : 3 + (i * 53 + len) % 500;
    batch.push_back(s);
  }
  // 13 rows a step: sequences span steps, and steps hold the tail of one and the head of the next.
  auto packed = CudaForward::open(gemma4_fixture(name), small_steps(13));
  const auto got = score_all(*packed, batch, ScoreOptions{.chunk_rows = 5});
  const std::int64_t V = ref->config().n_vocab;
  for (std::size_t b = 0; b < batch.size(); ++b) {
    const auto alone = score_one(*ref, batch[b]);
    // Same maths, but engines with other step sizes pin other GEMM algorithms: allow bf16-level differences.
    check_agreement(fmt::format("{} packed seq {} (len {})", name, b, batch[b].size()), agreement(alone, got[b], V));
  }
  // first_logit_row skips rows of every sequence and the head is not run for them.
  const auto tail = score_all(*packed, batch, ScoreOptions{.chunk_rows = 4, .first_logit_row = 5});
  for (std::size_t b = 0; b < batch.size(); ++b) {
    const std::size_t skip = std::min<std::size_t>(5, batch[b].size()) * static_cast<std::size_t>(V);
    REQUIRE(tail[b].size() == got[b].size() - skip);
    CHECK(std::equal(tail[b].begin(), tail[b].end(), got[b].begin() + static_cast<std::ptrdiff_t>(skip)));
  }
}

// Issue 8: "log-likelihoods are bit-identical whatever the batch size". A sequence's logits must be the same bits
// scored alone, in a batch, in another order, or as one of many continuations of a prefix: the GEMMs run a pinned
// algorithm (rows independent of M, tests/forward/gemm_invariance_test.cpp), a sequence that does not fit the rest
// of a step starts the next one (so it is cut into the same spans), and every other kernel is row-wise. Exact
// equality, no tolerance, in both precisions, with steps small enough that sequences are packed and split.
TEST_CASE("cuda engine: logits are bit-identical whatever the sequence is batched with", "[gpu]") {
  const std::string name = GENERATE("e_style", "moe_style", "all_features");
  const GemmInputPrecision precision = GENERATE(GemmInputPrecision::kAccurate, GemmInputPrecision::kFast);
  if (precision == GemmInputPrecision::kFast && name == "all_features") return;  // fp32 weights: covered by accurate
  auto gpu = CudaForward::open(gemma4_fixture(name), small_steps(48, precision));
  std::vector<std::vector<TokenId>> seqs;
  for (int len : {1, 7, 33, 100, 12, 60, 45}) {
    std::vector<TokenId> s(static_cast<std::size_t>(len));
    for (int i = 0; i < len; ++i) s[static_cast<std::size_t>(i)] = i == 0 ? 2 : 3 + (i * 37 + len * 11) % 480;
    seqs.push_back(s);
  }
  std::vector<std::vector<float>> alone;
  for (const auto& s : seqs) alone.push_back(score_one(*gpu, s));
  auto same_bits = [&](const std::vector<std::vector<float>>& got, const std::vector<std::size_t>& which,
                       const std::string& how) {
    for (std::size_t i = 0; i < which.size(); ++i) {
      INFO(fmt::format("{} {}: sequence {} (length {}) {}", name, precision == GemmInputPrecision::kFast ? "fast" : "accurate",
                       which[i], seqs[which[i]].size(), how));
      REQUIRE(got[i].size() == alone[which[i]].size());
      CHECK(std::memcmp(got[i].data(), alone[which[i]].data(), got[i].size() * sizeof(float)) == 0);
    }
  };
  auto batch_of = [&](const std::vector<std::size_t>& which) {
    std::vector<std::vector<TokenId>> b;
    for (std::size_t i : which) b.push_back(seqs[i]);
    return b;
  };
  for (const std::vector<std::size_t>& which : std::vector<std::vector<std::size_t>>{
           {0, 1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 2, 1, 0}, {2, 4}, {4, 2}, {1, 3, 6}, {5, 0}})
    same_bits(score_all(*gpu, batch_of(which)), which, fmt::format("in a batch of {}", which.size()));

  // Continuations of one prefix: alone vs all together.
  std::vector<TokenId> prefix(29);
  for (std::size_t i = 0; i < prefix.size(); ++i) prefix[i] = static_cast<TokenId>(i == 0 ? 2 : 5 + (i * 31) % 400);
  const PrefixHandle h = gpu->encode_prefix(prefix);
  auto continuations = [&](const std::vector<std::size_t>& which) {
    std::vector<TokenSpan> spans;
    for (std::size_t i : which) spans.emplace_back(seqs[i].data() + 1, seqs[i].size() - 1);  // no BOS mid-text
    std::vector<std::vector<float>> got(which.size());
    gpu->score_continuations(h, spans, [&](const LogitsChunk& c) {
      got[c.sequence].insert(got[c.sequence].end(), c.logits.begin(), c.logits.end());
    });
    return got;
  };
  const std::vector<std::size_t> all = {1, 2, 3, 4, 5, 6};
  const auto together = continuations(all);
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto single = continuations({all[i]});
    INFO(fmt::format("{} continuation {} alone vs in a batch of {}", name, all[i], all.size()));
    REQUIRE(single[0].size() == together[i].size());
    CHECK(std::memcmp(single[0].data(), together[i].data(), single[0].size() * sizeof(float)) == 0);
  }
}

TEST_CASE("cuda engine: the same call gives bit-identical logits run to run", "[gpu]") {
  auto gpu = CudaForward::open(gemma4_fixture("moe_style"), small_steps(32));
  const auto ids = golden_ids("moe_style", "forward.safetensors", "ids_T256");
  const auto a = score_one(*gpu, ids);
  const auto b = score_one(*gpu, ids);
  REQUIRE(a.size() == b.size());
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

TEST_CASE("cuda engine: prefix reuse equals scoring prefix + continuation", "[gpu]") {
  const std::string name = GENERATE("all_features", "e_style", "cond_gen");
  auto gpu = CudaForward::open(gemma4_fixture(name), small_steps(16));
  const std::int64_t V = gpu->config().n_vocab;
  std::vector<TokenId> prefix(23);
  for (std::size_t i = 0; i < prefix.size(); ++i) prefix[i] = static_cast<TokenId>(i == 0 ? 2 : 5 + (i * 31) % 400);
  const std::vector<std::vector<TokenId>> conts = {{7}, {9, 11, 13}, {100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118}};
  std::vector<float> prefix_logits;
  const PrefixHandle h = gpu->encode_prefix(prefix, [&](const LogitsChunk& c) {
    prefix_logits.insert(prefix_logits.end(), c.logits.begin(), c.logits.end());
  });
  REQUIRE(h->n_tokens() == 23);
  std::vector<TokenSpan> spans(conts.begin(), conts.end());
  std::vector<std::vector<float>> got(conts.size());
  gpu->score_continuations(h, spans, [&](const LogitsChunk& c) {
    CHECK(c.first_position >= 23);
    got[c.sequence].insert(got[c.sequence].end(), c.logits.begin(), c.logits.end());
  });
  auto cpu = CpuForward::open(cpu_dir(name));
  check_logits(name + " prefix rows", score_one(*cpu, prefix), prefix_logits, V);
  for (std::size_t b = 0; b < conts.size(); ++b) {
    std::vector<TokenId> full = prefix;
    full.insert(full.end(), conts[b].begin(), conts[b].end());
    const auto want = score_one(*cpu, full);
    const std::vector<float> tail(want.end() - static_cast<std::ptrdiff_t>(conts[b].size() * V), want.end());
    check_logits(fmt::format("{} continuation {}", name, b), tail, got[b], V);
  }
  // A prefix from another engine object is refused.
  auto other = CudaForward::open(gemma4_fixture(name), small_steps(16));
  CHECK_THROWS_AS(other->score_continuations(h, spans, [](const LogitsChunk&) {}), Error);
}

TEST_CASE("cuda engine: logits on the device equal the host copies", "[gpu]") {
  auto gpu = CudaForward::open(gemma4_fixture("e_style"), small_steps(20));
  const auto ids = golden_ids("e_style", "forward.safetensors", "ids_T40");
  const auto host = score_one(*gpu, ids, ScoreOptions{.chunk_rows = 16});
  std::vector<float> dev;
  gpu->score(TokenSpan(ids), [&](const LogitsChunk& c) {
    REQUIRE(c.device_logits != nullptr);
    CHECK(c.logits.empty());
    const std::size_t n = static_cast<std::size_t>(c.n_rows * c.n_vocab);
    const std::size_t at = dev.size();
    dev.resize(at + n);
    REQUIRE(cudaMemcpy(dev.data() + at, c.device_logits, n * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
  }, ScoreOptions{.chunk_rows = 16, .logits_on_device = true});
  REQUIRE(dev.size() == host.size());
  CHECK(std::memcmp(dev.data(), host.data(), host.size() * 4) == 0);
}

TEST_CASE("cuda engine: activations layer by layer follow the CPU reference", "[gpu]") {
  const std::string name = GENERATE("all_features", "moe_style");
  auto cpu = CpuForward::open(cpu_dir(name));
  auto gpu = CudaForward::open(gemma4_fixture(name), small_steps(16));
  const auto ids = golden_ids(name, "forward.safetensors", "ids_T40");
  std::map<std::pair<std::string, int>, std::vector<float>> want, got;
  auto collect = [](auto& into) {
    return [&into](const Activation& a) {
      auto& v = into[{std::string(a.name), a.layer}];
      const auto* p = static_cast<const float*>(a.value.data);
      v.insert(v.end(), p, p + a.value.numel());
    };
  };
  cpu->set_activation_hook(collect(want));
  gpu->set_activation_hook(collect(got));
  score_one(*cpu, ids);
  score_one(*gpu, ids);  // 40 tokens in 3 steps: the hook sees every step's rows in order
  REQUIRE(want.size() == got.size());
  for (const auto& [key, w] : want) {
    INFO(key.first << " layer " << key.second);
    const auto& g = got.at(key);
    REQUIRE(g.size() == w.size());
    double num = 0, den = 0;
    for (std::size_t i = 0; i < w.size(); ++i) num += (g[i] - w[i]) * double(g[i] - w[i]), den += double(w[i]) * w[i];
    const double rel = std::sqrt(num / std::max(den, 1e-30));
    std::printf("cuda vs cpu activation %-12s layer %2d  relative L2 %.2e\n", key.first.c_str(), key.second, rel);
    // fp32 everywhere but the split GEMM inputs (2^-17) and bf16 weights (the same on both sides); measured
    // at most 5.2e-5
    CHECK(rel < 2e-4);
  }
}

TEST_CASE("cuda engine: a plan that does not fit is refused before anything runs", "[gpu]") {
  CudaForwardOptions o;
  o.limits.max_context = std::int64_t{1} << 32;  // 4G tokens of K/V cache
  try {
    CudaForward::open(gemma4_fixture("e_style"), o);
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string msg = e.message();
    CHECK(msg.find("needs") != std::string::npos);
    CHECK(msg.find("free") != std::string::npos);
    CHECK(std::string(e.hint()).find("--max-context") != std::string::npos);
  }
  CHECK_THROWS_AS(CudaForward::open(gemma4_fixture("e_style"), CudaForwardOptions{.device = 99}), Error);
}

TEST_CASE("cuda engine: a synthetic model runs and its weights are counted", "[gpu]") {
  // The e_style config with random GPU-generated weights, dense and W4A16 (group 16 fits d_model 64).
  const Gemma4Config config = read_gemma4_config((gemma4_fixture("e_style") / "config.json").string());
  std::vector<TokenId> ids(300);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<TokenId>(i % 500);
  for (bool w4 : {false, true}) {
    CudaForwardOptions o = small_steps(64);
    auto gpu = CudaForward::synthetic(config, SyntheticWeights{.seed = 7, .w4a16 = w4, .group_size = 16}, o);
    std::int64_t rows = 0;
    bool finite = true;
    ScoreOptions so{.chunk_rows = 16};
    so.first_logit_row = 0;
    gpu->score(TokenSpan(ids.data(), 256), [&](const LogitsChunk& c) {
      rows += c.n_rows;
      for (float v : c.logits) finite = finite && std::isfinite(v);
    }, so);
    CHECK(rows == 256);
    CHECK(finite);
    CHECK(gpu->plan().weights > 0);
    CHECK(gpu->peak_used_bytes() >= gpu->allocated_bytes());
  }
}

TEST_CASE("kl on the CUDA engine: the GPU comparer equals the host comparer, and the CPU run", "[gpu]") {
  // e_style vs its W4A16 quantization over 4 chunks of 64 tokens.
  std::vector<TokenId> corpus(300);
  for (std::size_t i = 0; i < corpus.size(); ++i) corpus[i] = static_cast<TokenId>(3 + (i * 131) % 500);
  const KlChunkPlan plan = plan_kl_chunks(corpus, 2, KlChunking{.ctx = 64});
  auto per_token = [&](Forward& ref, Forward& cand, KlRowComparer* comparer) {
    std::vector<metrics::TokenKl> out;
    KlRunOptions o{.chunk_rows = 16};
    o.on_token = [&](std::int64_t, std::int64_t, TokenId, const metrics::TokenKl& t) { out.push_back(t); };
    run_kl(ref, cand, plan, o, comparer);
    return out;
  };
  auto gref = CudaForward::open(gemma4_fixture("e_style"), small_steps(48));
  auto gcand = CudaForward::open(gemma4_fixture("e_style_w4a16"), small_steps(48));
  const auto device = per_token(*gref, *gcand, device_kl_comparer().get());
  const auto host = per_token(*gref, *gcand, host_kl_comparer().get());
  auto cref = CpuForward::open(gemma4_fixture("e_style"));
  auto ccand = CpuForward::open(gemma4_fixture("e_style_w4a16"));
  const auto cpu = per_token(*cref, *ccand, nullptr);
  REQUIRE(device.size() == host.size());
  REQUIRE(cpu.size() == host.size());
  double max_comparer = 0, max_engine = 0, mean = 0;
  for (std::size_t i = 0; i < host.size(); ++i) {
    max_comparer = std::max(max_comparer, std::fabs(device[i].kl - host[i].kl));  // same logits, two comparers
    max_engine = std::max(max_engine, std::fabs(host[i].kl - cpu[i].kl));        // two engines
    mean += host[i].kl / static_cast<double>(host.size());
    CHECK(device[i].top1_ref == host[i].top1_ref);
  }
  std::printf("kl: %zu tokens, mean KL %.6f; |gpu comparer - host comparer| <= %.2e; |cuda - cpu engine| <= %.2e\n",
              host.size(), mean, max_comparer, max_engine);
  CHECK(max_comparer <= 1e-10);  // double sums in another order (kl_test.cpp)
  CHECK(max_engine <= 1e-3);     // logits within 2e-3 (the bounds above) move a KL of ~0.2 by well under that

  // Through a reference cache (fp32 rows on disk, uploaded per chunk): the same numbers bit for bit.
  TempDir tmp("kl_ref_cache_gpu");
  write_kl_ref_cache(*gref, plan, tmp.path() / "cache", nlohmann::json::object());
  const KlRefCache cache(tmp.path() / "cache", plan, gref->config().n_vocab);
  CachedKlReference reference(cache);
  std::vector<metrics::TokenKl> cached;
  KlRunOptions o{.chunk_rows = 16};
  o.on_token = [&](std::int64_t, std::int64_t, TokenId, const metrics::TokenKl& t) { cached.push_back(t); };
  run_kl(reference, *gcand, plan, o, device_kl_comparer().get());
  REQUIRE(cached.size() == device.size());
  for (std::size_t i = 0; i < cached.size(); ++i) CHECK(cached[i].kl == device[i].kl);
}
