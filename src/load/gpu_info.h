#pragma once
// Which GPU this host has, for provenance: name(s), driver version and the CUDA version the driver supports,
// read through NVML loaded at run time (dlopen("libnvidia-ml.so.1"), as load/nvml_sampler does: no build
// dependency). Never throws: without the library, a driver or a GPU, `available` is false and `note` says why.
#include <string>
#include <vector>

namespace qg::load {

struct GpuInfo {
  bool available = false;
  std::string note;                // why not available
  std::vector<std::string> names;  // one per GPU NVML lets us see, in NVML index order
  std::string driver_version;      // "570.86.15"
  std::string cuda_version;        // the driver's CUDA version, "12.9" (empty if NVML does not say)
};

GpuInfo query_gpu_info(const char* library = "libnvidia-ml.so.1");

}  // namespace qg::load
