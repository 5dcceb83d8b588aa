#pragma once
// Opens the forward pass a user asked for (--device cpu | cuda | cuda:N) behind the Forward interface, so
// kl, mmlu and score run on either engine with the same code.
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
};

// Throws qg::Error for a CUDA device in a build without CUDA, and everything the engines' open() throws.
std::unique_ptr<Forward> open_forward(const std::filesystem::path& model_dir, const ForwardOptions& options);

bool cuda_engine_built();

class KlRowComparer;
// The KL comparer for this pair of engines: on the GPU when both run on the same CUDA device (no logits copied
// to the host), else on the host.
std::unique_ptr<KlRowComparer> open_kl_comparer(const Forward& ref, const Forward& cand);

}  // namespace qg
