// Test runner. `[gpu]` tests run as their own ctest entry; without a usable CUDA device that entry
// exits 77, which ctest counts as skipped (SKIP_RETURN_CODE), so a GPU-less run says so instead of
// passing silently.
#if __has_include(<catch2/catch_session.hpp>)
#include <catch2/catch_session.hpp>
#else
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#endif

#include <cstdio>
#include <string>

#ifdef QG_HAVE_CUDA
#include "kernels/device_info.cuh"
#endif

int main(int argc, char** argv) {
  bool wants_gpu = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.find("[gpu]") != std::string::npos && a.find('~') == std::string::npos) wants_gpu = true;
  }
  if (wants_gpu) {
#ifdef QG_HAVE_CUDA
    const int devices = qg::cuda_device_count();
#else
    const int devices = 0;
#endif
    if (devices == 0) {
      std::puts("[gpu] tests skipped: no CUDA device (or a CPU-only build)");
      return 77;
    }
  }
  return Catch::Session().run(argc, argv);
}
