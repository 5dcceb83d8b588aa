// Every header validation rule, each with a file corrupted on purpose, expecting that specific error
// naming the file and (where one is at fault) the tensor.
#include "catch.h"
#include "checkpoint/safetensors_file.h"
#include "checkpoint/safetensors_writer.h"
#include "safetensors_test_util.h"
#include "test_paths.h"

using namespace qg;
using qg::test::require_error;
using qg::test::TempDir;
using qg::test::write_raw_safetensors;

namespace {
// Two F32 tensors: a [2] at [0, 8), b [1] at [8, 12).
const std::string kGoodHeader =
    R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
const std::vector<std::uint8_t> kData(12, 0x11);

void open(const std::filesystem::path& p) { SafetensorsFile f(p); }
}  // namespace

TEST_CASE("a well-formed hand-made file is accepted", "[checkpoint]") {
  TempDir d("valid");
  write_raw_safetensors(d / "ok.safetensors", kGoodHeader, kData);
  SafetensorsFile f(d / "ok.safetensors");
  REQUIRE(f.header().tensors.size() == 2);
  CHECK(f.find("b")->begin == 8);
  CHECK(f.view("a").shape == Shape{2});
  require_error([&] { (void)f.view("zzz"); }, "ok.safetensors", "zzz", "no such tensor");
}

TEST_CASE("truncated files", "[checkpoint]") {
  TempDir d("trunc");
  SECTION("shorter than the length prefix") {
    qg::test::write_bytes(d / "t.safetensors", {1, 2, 3, 4});
    require_error([&] { open(d / "t.safetensors"); }, "t.safetensors", "", "fewer than the 8-byte header length");
  }
  SECTION("cut inside the header") {
    write_raw_safetensors(d / "t.safetensors", kGoodHeader.substr(0, 20), {}, kGoodHeader.size());
    require_error([&] { open(d / "t.safetensors"); }, "t.safetensors", "", "runs past the end of the file");
  }
  SECTION("cut inside the data") {
    write_raw_safetensors(d / "t.safetensors", kGoodHeader, std::vector<std::uint8_t>(10, 0));
    require_error([&] { open(d / "t.safetensors"); }, "t.safetensors", "b", "end past the data section of 10 bytes");
  }
  SECTION("empty file") {
    qg::test::write_bytes(d / "t.safetensors", {});
    require_error([&] { open(d / "t.safetensors"); }, "t.safetensors", "", "fewer than the 8-byte");
  }
}

TEST_CASE("bad header length and bad JSON", "[checkpoint]") {
  TempDir d("badjson");
  SECTION("length beyond the 100 MB bound") {
    write_raw_safetensors(d / "h.safetensors", kGoodHeader, kData, 200'000'000);
    require_error([&] { open(d / "h.safetensors"); }, "h.safetensors", "", "exceeds the limit");
  }
  SECTION("not JSON") {
    write_raw_safetensors(d / "h.safetensors", R"({"a":{"dtype":"F32",)", {});
    require_error([&] { open(d / "h.safetensors"); }, "h.safetensors", "", "not valid JSON");
  }
  SECTION("JSON but not an object") {
    write_raw_safetensors(d / "h.safetensors", "[1,2,3]", {});
    require_error([&] { open(d / "h.safetensors"); }, "h.safetensors", "", "does not start with '{'");
  }
  SECTION("duplicate tensor names") {
    write_raw_safetensors(d / "h.safetensors",
                          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                          std::vector<std::uint8_t>(8, 0));
    require_error([&] { open(d / "h.safetensors"); }, "h.safetensors", "a", "appears twice");
  }
  SECTION("entry is not an object") {
    write_raw_safetensors(d / "h.safetensors", R"({"a":5})", {});
    require_error([&] { open(d / "h.safetensors"); }, "h.safetensors", "a", "not a JSON object");
  }
  SECTION("metadata must map strings to strings") {
    write_raw_safetensors(d / "h.safetensors", R"({"__metadata__":{"format":1}})", {});
    require_error([&] { open(d / "h.safetensors"); }, "h.safetensors", "", "__metadata__ value for 'format'");
  }
}

TEST_CASE("tensor entries: dtype, shape, size", "[checkpoint]") {
  TempDir d("entries");
  SECTION("unknown dtype") {
    write_raw_safetensors(d / "e.safetensors", R"({"w":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,1]}})", {0});
    require_error([&] { open(d / "e.safetensors"); }, "e.safetensors", "w", "unknown dtype 'Q4_K'");
  }
  SECTION("negative dimension") {
    write_raw_safetensors(d / "e.safetensors", R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", {0});
    require_error([&] { open(d / "e.safetensors"); }, "e.safetensors", "w", "non-negative integers");
  }
  SECTION("fractional dimension") {
    write_raw_safetensors(d / "e.safetensors", R"({"w":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}})", {0});
    require_error([&] { open(d / "e.safetensors"); }, "e.safetensors", "w", "non-negative integers");
  }
  SECTION("size differs from prod(shape) x dtype size") {
    write_raw_safetensors(d / "e.safetensors", R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})",
                          std::vector<std::uint8_t>(20, 0));
    require_error([&] { open(d / "e.safetensors"); }, "e.safetensors", "w", "needs 24 bytes");
  }
  SECTION("shape whose byte size overflows 64 bits") {
    write_raw_safetensors(d / "e.safetensors",
                          R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                          std::vector<std::uint8_t>(8, 0));
    require_error([&] { open(d / "e.safetensors"); }, "e.safetensors", "w", "too large");
  }
  SECTION("begin after end") {
    write_raw_safetensors(d / "e.safetensors", R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", {});
    require_error([&] { open(d / "e.safetensors"); }, "e.safetensors", "w", "begin > end");
  }
  SECTION("unexpected key") {
    write_raw_safetensors(d / "e.safetensors", R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":1}})", {0});
    require_error([&] { open(d / "e.safetensors"); }, "e.safetensors", "w", "unexpected key 'x'");
  }
}

TEST_CASE("byte ranges: inside the data section, no overlap, no gap, full cover", "[checkpoint]") {
  TempDir d("ranges");
  SECTION("overlap") {
    write_raw_safetensors(d / "r.safetensors",
                          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                          std::vector<std::uint8_t>(8, 0));
    require_error([&] { open(d / "r.safetensors"); }, "r.safetensors", "b", "overlap tensor 'a'");
  }
  SECTION("out of range") {
    write_raw_safetensors(d / "r.safetensors", R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                          std::vector<std::uint8_t>(8, 0));
    require_error([&] { open(d / "r.safetensors"); }, "r.safetensors", "a", "end past the data section");
  }
  SECTION("gap") {
    write_raw_safetensors(d / "r.safetensors",
                          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                          std::vector<std::uint8_t>(12, 0));
    require_error([&] { open(d / "r.safetensors"); }, "r.safetensors", "b", "4-byte gap");
  }
  SECTION("trailing bytes") {
    write_raw_safetensors(d / "r.safetensors", kGoodHeader, std::vector<std::uint8_t>(16, 0));
    require_error([&] { open(d / "r.safetensors"); }, "r.safetensors", "", "trailing bytes");
  }
}
