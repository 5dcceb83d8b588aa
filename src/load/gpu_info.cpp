#include "load/gpu_info.h"

#include <dlfcn.h>

#include <fmt/format.h>

namespace qg::load {

namespace {
using NvmlDevice = void*;
constexpr int kSuccess = 0;

template <class F>
void resolve(void* lib, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
}
}  // namespace

GpuInfo query_gpu_info(const char* library) {
  GpuInfo info;
  void* lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    info.note = fmt::format("no GPU information: cannot load {} (no NVIDIA driver on this host)", library);
    return info;
  }
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  int (*driver_version)(char*, unsigned) = nullptr;
  int (*cuda_version)(int*) = nullptr;
  int (*count)(unsigned*) = nullptr;
  int (*handle)(unsigned, NvmlDevice*) = nullptr;
  int (*name)(NvmlDevice, char*, unsigned) = nullptr;
  resolve(lib, "nvmlInit_v2", init);
  resolve(lib, "nvmlShutdown", shutdown);
  resolve(lib, "nvmlSystemGetDriverVersion", driver_version);
  resolve(lib, "nvmlSystemGetCudaDriverVersion_v2", cuda_version);
  if (!cuda_version) resolve(lib, "nvmlSystemGetCudaDriverVersion", cuda_version);
  resolve(lib, "nvmlDeviceGetCount_v2", count);
  resolve(lib, "nvmlDeviceGetHandleByIndex_v2", handle);
  resolve(lib, "nvmlDeviceGetName", name);
  if (!init || !count || !handle || !name) {
    info.note = "no GPU information: the NVML library lacks nvmlInit_v2/DeviceGetCount_v2/GetHandleByIndex_v2/GetName";
  } else if (const int rc = init(); rc != kSuccess) {
    info.note = fmt::format("no GPU information: nvmlInit_v2 failed (NVML error {})", rc);
  } else {
    char buf[96] = {};
    if (driver_version && driver_version(buf, 80) == kSuccess) info.driver_version = buf;
    // NVML encodes the CUDA version as 1000 * major + 10 * minor (12090 -> 12.9).
    if (int v = 0; cuda_version && cuda_version(&v) == kSuccess && v > 0)
      info.cuda_version = fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
    unsigned n = 0;
    if (count(&n) == kSuccess)
      for (unsigned i = 0; i < n; ++i) {
        NvmlDevice d = nullptr;
        if (handle(i, &d) != kSuccess) continue;  // NO_PERMISSION for devices outside our cgroup
        if (name(d, buf, sizeof(buf)) == kSuccess) info.names.emplace_back(buf);
      }
    info.available = !info.names.empty();
    if (!info.available) info.note = "no GPU information: NVML sees no GPU on this host";
    if (shutdown) shutdown();
  }
  dlclose(lib);
  return info;
}

}  // namespace qg::load
