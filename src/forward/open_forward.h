#pragma once
// Opens the forward pass a user asked for (--device cpu | cuda | cuda:N) behind the Forward interface, so
// kl, mmlu and score run on either engine with the same code.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "forward/forward.h"
#include "forward/memory_plan.h"

namespace qg {

struct DeviceSpec {
  bool cuda = false;
  int index = 0;
};
// "cpu", "cuda" (= cuda:0), "cuda:N"; anything else is a qg::Error naming the flag value.
DeviceSpec parse_device(const std::string& text);

struct ForwardOptions {
  std::string device = "cpu";
  int threads = 0;      // CPU engine
  EngineLimits limits;  // CUDA engine
  std::string precision = "accurate";  // CUDA engine: accurate | fast (sets limits.precision; see memory_plan.h)
  bool profile = false;  // CUDA engine: GPU time per phase (forward_profile_report)
  // CUDA engine: limits.max_batch_tokens is a default, raised to 4096 / 8192 when memory allows (the CLI sets this
  // unless --max-batch-tokens is given; see grown_batch_tokens in forward/memory_plan.h).
  bool auto_batch_tokens = false;
};

// Throws qg::Error for a CUDA device in a build without CUDA, and everything the engines' open() throws.
std::unique_ptr<Forward> open_forward(const std::filesystem::path& model_dir, const ForwardOptions& options);

bool cuda_engine_built();

// A synthetic model for speed and memory runs (bench-engine): a real config's shapes with random weights
// generated on the GPU, BF16 or W4A16 (int4, group 128). CUDA engine only: throws qg::Error otherwise.
struct SyntheticModelSpec {
  std::filesystem::path config;  // a config.json (e.g. tests/fixtures/configs/gemma4_e4b.json)
  bool w4a16 = false;
  std::uint64_t seed = 1;
};
std::unique_ptr<Forward> open_synthetic_forward(const SyntheticModelSpec& spec, const ForwardOptions& options);

// Device memory in use at the peak seen by a CUDA engine (cudaMemGetInfo after each step, the CUDA context
// and other processes included); 0 for the CPU engine.
std::uint64_t forward_peak_device_bytes(const Forward& forward);
// With ForwardOptions::profile on a CUDA engine: a table of GPU time per phase; "" otherwise.
std::string forward_profile_report(const Forward& forward);
// The GPU's name ("NVIDIA H100 80GB HBM3") for a CUDA engine, "cpu" otherwise.
std::string forward_device_name(const Forward& forward);
// Rows per step the engine runs (after grown_batch_tokens); 0 for the CPU engine.
std::int64_t forward_batch_tokens(const Forward& forward);

class KlRowComparer;
// The KL comparer for this pair of engines: on the GPU when both run on the same CUDA device (no logits copied
// to the host), else on the host.
std::unique_ptr<KlRowComparer> open_kl_comparer(const Forward& ref, const Forward& cand);
// What run_kl_overlapped (evals/kl_overlap.h) needs when both engines run on the same CUDA device: a second GPU
// comparer and the chunks per forward call, as many as fill one engine step (its rows per step / ctx), halved
// until the GPU has room for two groups of reference rows (2 x chunks x `rows_bytes`, asked before either
// comparer holds rows). `second` is nullptr when the engines are elsewhere or not even one chunk each fits: the
// models then run one after the other (two CPU engines would only compete for the same cores).
struct KlOverlap {
  std::unique_ptr<KlRowComparer> second;
  std::size_t chunks_per_call = 1;
};
KlOverlap open_kl_overlap(const Forward& ref, const Forward& cand, std::int64_t ctx, std::size_t rows_bytes);

namespace evals {
class MmluRowScorer;
}
// run_mmlu's row scorer for this engine (MmluEvalOptions::row_scorer): on the GPU for a CUDA engine (the engine
// then hands its logits on the device and only a few doubles per row come back), else on the host.
std::unique_ptr<evals::MmluRowScorer> open_mmlu_row_scorer(const Forward& forward);

}  // namespace qg
