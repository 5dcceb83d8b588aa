#include "forward/open_forward.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <iostream>

#include "common/error.h"
#include "forward/cpu/cpu_forward.h"
#include "evals/kl_eval.h"
#include "evals/mmlu_row_scorer.h"
#ifdef QG_HAVE_CUDA
#include "evals/kl_device_comparer.h"
#include "evals/mmlu_device_scorer.h"
#include "forward/cuda/cuda_forward.h"
#endif

namespace qg {

DeviceSpec parse_device(const std::string& text) {
  if (text == "cpu") return {false, 0};
  if (text == "cuda") return {true, 0};
  if (text.rfind("cuda:", 0) == 0) {
    int index = -1;
    const char* first = text.data() + 5;
    const char* last = text.data() + text.size();
    const auto [end, ec] = std::from_chars(first, last, index);
    if (ec == std::errc() && end == last && first != last && index >= 0) return {true, index};
  }
  throw Error(fmt::format("--device {}: expected cpu, cuda or cuda:N", text));
}

bool cuda_engine_built() {
#ifdef QG_HAVE_CUDA
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Forward> open_forward(const std::filesystem::path& model_dir, const ForwardOptions& options) {
  const DeviceSpec spec = parse_device(options.device);
  EngineLimits limits = options.limits;
  limits.precision = parse_precision(options.precision);
  if (!spec.cuda) return CpuForward::open(model_dir, CpuForwardOptions{.n_threads = options.threads});
#ifdef QG_HAVE_CUDA
  auto f = CudaForward::open(model_dir, CudaForwardOptions{.device = spec.index, .limits = limits, .profile = options.profile,
                                                                   .grow_batch_tokens = options.auto_batch_tokens});
  for (const std::string& w : f->warnings()) std::cerr << "warning: " << w << "\n";
  // What the engine holds on the GPU, so a user on a smaller card sees which flag to turn.
  std::cerr << fmt::format("{} on {} ({}, {} precision): {}\n", model_dir.string(), f->device(), f->device_name(),
                           precision_name(limits.precision), f->plan().breakdown());
  return f;
#else
  (void)limits;
  throw Error(fmt::format("--device {}: this quantgate was built without CUDA", options.device),
              {.hint = "rebuild where nvcc is installed (scripts/setup.sh), or use --device cpu"});
#endif
}

std::unique_ptr<Forward> open_synthetic_forward(const SyntheticModelSpec& spec, const ForwardOptions& options) {
  const DeviceSpec device = parse_device(options.device);
  if (!device.cuda) throw Error("synthetic models run on the CUDA engine only", {.hint = "use --device cuda"});
#ifdef QG_HAVE_CUDA
  EngineLimits limits = options.limits;
  limits.precision = parse_precision(options.precision);
  const Gemma4Config config = read_gemma4_config(spec.config.string());
  auto f = CudaForward::synthetic(config, SyntheticWeights{.seed = spec.seed, .w4a16 = spec.w4a16},
                                  CudaForwardOptions{.device = device.index, .limits = limits, .profile = options.profile,
                                                     .grow_batch_tokens = options.auto_batch_tokens});
  std::cerr << fmt::format("synthetic {} ({}) on {} ({}, {} precision): {}\n", spec.config.string(),
                           spec.w4a16 ? "W4A16" : "BF16", f->device(), f->device_name(), precision_name(limits.precision),
                           f->plan().breakdown());
  return f;
#else
  throw Error(fmt::format("--device {}: this quantgate was built without CUDA", options.device));
#endif
}

std::uint64_t forward_peak_device_bytes(const Forward& forward) {
#ifdef QG_HAVE_CUDA
  if (const auto* cuda = dynamic_cast<const CudaForward*>(&forward)) return cuda->peak_used_bytes();
#endif
  (void)forward;
  return 0;
}

std::string forward_profile_report(const Forward& forward) {
#ifdef QG_HAVE_CUDA
  if (const auto* cuda = dynamic_cast<const CudaForward*>(&forward)) return cuda->profile_report();
#endif
  (void)forward;
  return "";
}

std::string forward_device_name(const Forward& forward) {
#ifdef QG_HAVE_CUDA
  if (const auto* cuda = dynamic_cast<const CudaForward*>(&forward)) return cuda->device_name();
#endif
  return forward.device();
}

std::int64_t forward_batch_tokens(const Forward& forward) {
#ifdef QG_HAVE_CUDA
  if (const auto* cuda = dynamic_cast<const CudaForward*>(&forward)) return cuda->plan().limits.max_batch_tokens;
#endif
  (void)forward;
  return 0;
}

std::unique_ptr<KlRowComparer> open_kl_comparer(const Forward& ref, const Forward& cand) {
#ifdef QG_HAVE_CUDA
  if (ref.device().rfind("cuda", 0) == 0 && ref.device() == cand.device()) return device_kl_comparer();
#endif
  return host_kl_comparer();
}

KlOverlap open_kl_overlap(const Forward& ref, const Forward& cand, std::int64_t ctx, std::size_t rows_bytes) {
  KlOverlap o;
#ifdef QG_HAVE_CUDA
  if (ref.device().rfind("cuda", 0) != 0 || ref.device() != cand.device() || ctx < 1) return o;
  const std::int64_t step = std::min(forward_batch_tokens(ref), forward_batch_tokens(cand));
  for (auto g = static_cast<std::size_t>(std::max<std::int64_t>(1, step / ctx)); g >= 1; g /= 2)
    if (device_has_room_for_kl_rows(2 * g * rows_bytes)) {
      o.second = device_kl_comparer();
      o.chunks_per_call = g;
      return o;
    }
#else
  (void)ref, (void)cand, (void)ctx, (void)rows_bytes;
#endif
  return o;
}

std::unique_ptr<evals::MmluRowScorer> open_mmlu_row_scorer(const Forward& forward) {
#ifdef QG_HAVE_CUDA
  if (dynamic_cast<const CudaForward*>(&forward) != nullptr) return evals::device_mmlu_row_scorer();
#endif
  (void)forward;
  return evals::host_mmlu_row_scorer();
}

}  // namespace qg
