#pragma once
// Catch2 v2 (Debian 12) and v3 (the GPU machine's Ubuntu 24.04) behind one include.
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
using Catch::Approx;  // global in v2, namespaced in v3
#else
#include <catch2/catch.hpp>
#endif
