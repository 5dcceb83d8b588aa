#include "load/nvml_sampler.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>

#include "load/clock.h"

namespace qg::load {

namespace {
using NvmlDevice = void*;
struct NvmlMemoryV1 {  // nvmlMemory_t: 24 bytes
  std::uint64_t total, free, used;
};
static_assert(sizeof(NvmlMemoryV1) == 24);
constexpr int kSuccess = 0;
constexpr int kInsufficientSize = 7;
constexpr std::uint64_t kValueNotAvailable = ~0ull;

struct Api {
  void* lib = nullptr;
  int (*init)() = nullptr;
  int (*shutdown)() = nullptr;
  const char* (*error_string)(int) = nullptr;
  int (*driver_version)(char*, unsigned) = nullptr;
  int (*count)(unsigned*) = nullptr;
  int (*handle)(unsigned, NvmlDevice*) = nullptr;
  int (*name)(NvmlDevice, char*, unsigned) = nullptr;
  int (*uuid)(NvmlDevice, char*, unsigned) = nullptr;
  int (*memory)(NvmlDevice, NvmlMemoryV1*) = nullptr;
  int (*procs)(NvmlDevice, unsigned*, void*) = nullptr;  // _v3/_v2: 24- (or 32-) byte records
  bool initialised = false;

  std::string err(int rc) const { return error_string ? error_string(rc) : "NVML error " + std::to_string(rc); }
};

template <class F>
void resolve(void* lib, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
}

struct Sample {
  double t;
  std::uint64_t used;
};
}  // namespace

struct NvmlSampler::Impl {
  Api api;
  double interval_s;
  std::optional<std::int64_t> pid;
  std::string reason;
  std::vector<NvmlDevice> devices;
  std::vector<GpuVram> gpus;
  std::vector<std::vector<Sample>> samples;
  std::vector<std::map<std::int64_t, std::int64_t>> proc_peak;  // per GPU: pid -> peak bytes
  std::atomic<bool> running{false};
  std::thread thread;
  std::string driver;

  bool open(const char* library) {
    api.lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!api.lib) {
      reason = std::string("NVML not available: cannot load ") + library + " (no NVIDIA driver on this host?)";
      return false;
    }
    resolve(api.lib, "nvmlInit_v2", api.init);
    resolve(api.lib, "nvmlShutdown", api.shutdown);
    resolve(api.lib, "nvmlErrorString", api.error_string);
    resolve(api.lib, "nvmlSystemGetDriverVersion", api.driver_version);
    resolve(api.lib, "nvmlDeviceGetCount_v2", api.count);
    resolve(api.lib, "nvmlDeviceGetHandleByIndex_v2", api.handle);
    resolve(api.lib, "nvmlDeviceGetName", api.name);
    resolve(api.lib, "nvmlDeviceGetUUID", api.uuid);
    resolve(api.lib, "nvmlDeviceGetMemoryInfo", api.memory);
    resolve(api.lib, "nvmlDeviceGetComputeRunningProcesses_v3", api.procs);
    if (!api.procs) resolve(api.lib, "nvmlDeviceGetComputeRunningProcesses_v2", api.procs);
    if (!api.init || !api.count || !api.handle || !api.memory) {
      reason = "NVML library lacks nvmlInit_v2/GetCount_v2/GetHandleByIndex_v2/GetMemoryInfo";
      return false;
    }
    const int rc = api.init();
    if (rc != kSuccess) {
      reason = "nvmlInit_v2 failed: " + api.err(rc);
      return false;
    }
    api.initialised = true;
    char buf[96] = {};
    if (api.driver_version && api.driver_version(buf, 80) == kSuccess) driver = buf;
    unsigned n = 0;
    if (api.count(&n) != kSuccess || n == 0) {
      reason = "NVML reports no GPU";
      return false;
    }
    for (unsigned i = 0; i < n; ++i) {
      NvmlDevice d = nullptr;
      if (api.handle(i, &d) != kSuccess) continue;  // NO_PERMISSION for devices outside our cgroup
      GpuVram g;
      g.nvml_index = i;
      if (api.name && api.name(d, buf, 96) == kSuccess) g.name = buf;
      if (api.uuid && api.uuid(d, buf, 96) == kSuccess) g.uuid = buf;
      devices.push_back(d);
      gpus.push_back(g);
    }
    if (devices.empty()) {
      reason = "NVML: no accessible GPU handle";
      return false;
    }
    samples.resize(devices.size());
    proc_peak.resize(devices.size());
    return true;
  }

  void sample_once() {
    const double t = now_seconds();
    for (std::size_t i = 0; i < devices.size(); ++i) {
      NvmlMemoryV1 m{};
      if (api.memory(devices[i], &m) == kSuccess) {
        gpus[i].total_bytes = m.total;
        samples[i].push_back({t, m.total - m.free});
      }
      if (!api.procs) continue;
      // Stride probe (docs §6 pitfalls): 24-byte records, but R535 wrote 32 through _v3.
      unsigned count = 0;
      int rc = api.procs(devices[i], &count, nullptr);
      if (rc != kInsufficientSize && rc != kSuccess) continue;
      if (count == 0) continue;
      count += 4;
      std::vector<unsigned char> buf(static_cast<std::size_t>(count) * 32, 0xAA);
      unsigned got = count;
      if (api.procs(devices[i], &got, buf.data()) != kSuccess || got == 0) continue;
      std::size_t written = buf.size();
      while (written > 0 && buf[written - 1] == 0xAA) --written;
      const std::size_t stride = (written + got - 1) / got > 24 ? 32 : 24;
      for (unsigned k = 0; k < got; ++k) {
        std::uint32_t p = 0;
        std::uint64_t bytes = 0;
        std::memcpy(&p, buf.data() + k * stride, 4);
        std::memcpy(&bytes, buf.data() + k * stride + 8, 8);
        if (bytes == kValueNotAvailable) continue;
        auto& peak = proc_peak[i][p];
        peak = std::max<std::int64_t>(peak, static_cast<std::int64_t>(bytes));
      }
    }
  }
};

NvmlSampler::NvmlSampler(double interval_s, std::optional<std::int64_t> server_pid, const char* library)
    : impl_(std::make_unique<Impl>()) {
  impl_->interval_s = std::max(0.1, interval_s);  // <= 10 Hz: NVML calls block
  impl_->pid = server_pid;
  if (!impl_->open(library)) impl_->devices.clear();
}

NvmlSampler::~NvmlSampler() {
  if (impl_->running) stop();
  if (impl_->api.initialised && impl_->api.shutdown) impl_->api.shutdown();
  if (impl_->api.lib) dlclose(impl_->api.lib);
}

void NvmlSampler::start() {
  if (impl_->devices.empty() || impl_->running) return;
  impl_->sample_once();
  impl_->running = true;
  Impl* impl = impl_.get();
  impl_->thread = std::thread([impl] {
    auto next = std::chrono::steady_clock::now();
    while (impl->running) {
      next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(impl->interval_s));
      std::this_thread::sleep_until(next);
      impl->sample_once();
    }
  });
}

VramReport NvmlSampler::stop() {
  VramReport r;
  r.interval_s = impl_->interval_s;
  r.driver_version = impl_->driver;
  if (impl_->running) {
    impl_->running = false;
    impl_->thread.join();
  }
  if (impl_->devices.empty()) {
    r.reason = impl_->reason.empty() ? "NVML sampler not started" : impl_->reason;
    return r;
  }
  r.measured = true;
  for (std::size_t i = 0; i < impl_->devices.size(); ++i) {
    GpuVram g = impl_->gpus[i];
    const auto& s = impl_->samples[i];
    g.n_samples = s.size();
    if (!s.empty()) {
      g.baseline_used_bytes = s.front().used;
      for (const auto& x : s) g.peak_used_bytes = std::max(g.peak_used_bytes, x.used);
      std::vector<std::uint64_t> tail;
      for (std::size_t k = s.size() / 2; k < s.size(); ++k) tail.push_back(s[k].used);
      std::sort(tail.begin(), tail.end());
      g.steady_used_bytes = tail[tail.size() / 2];
    }
    const auto& pp = impl_->proc_peak[i];
    if (impl_->pid) {
      if (auto it = pp.find(*impl_->pid); it != pp.end()) {
        g.process_pid = it->first;
        g.process_peak_bytes = it->second;
      }
    } else {
      for (const auto& [p, b] : pp)
        if (b > g.process_peak_bytes) {
          g.process_pid = p;
          g.process_peak_bytes = b;
        }
    }
    r.gpus.push_back(g);
  }
  if (r.gpus.size() > 0 && std::all_of(r.gpus.begin(), r.gpus.end(), [](const GpuVram& g) { return g.process_peak_bytes < 0; }))
    r.reason = "per-process memory not available (container without --pid=host, or no permission): device-level only";
  return r;
}

}  // namespace qg::load
