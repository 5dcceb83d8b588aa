// The writer and reader agree on every dtype, on shapes (scalars and zero-size included), on
// alignment and metadata; streamed producers are checked for the exact byte count.
#include <cstring>
#include <numeric>

#include "catch.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/safetensors_writer.h"
#include "safetensors_test_util.h"
#include "test_paths.h"

using namespace qg;
using qg::test::TempDir;

namespace {
std::vector<std::byte> pattern(std::size_t n, int seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 131 + static_cast<std::size_t>(seed) * 7) & 0xff);
  return v;
}
}  // namespace

TEST_CASE("safetensors writer -> reader round trip, every dtype", "[checkpoint]") {
  TempDir dir("roundtrip");
  std::map<std::string, std::vector<std::byte>> expected;
  {
    SafetensorsWriter w(dir.path());
    int seed = 0;
    for (DType d : kAllDTypes) {
      const Shape shape{3, 5};
      auto bytes = pattern(15 * dtype_size(d), seed++);
      const std::string name = "t." + std::string(dtype_name(d));
      w.add(name, d, shape, bytes);
      expected[name] = bytes;
    }
    w.add("scalar", DType::kF32, Shape{}, pattern(4, 99));
    expected["scalar"] = pattern(4, 99);
    w.add("empty", DType::kBF16, Shape{0, 7}, {});
    expected["empty"] = {};
    const auto files = w.finish();
    REQUIRE(files.size() == 1);
    CHECK(files[0].filename() == "model.safetensors");
  }
  const Checkpoint ck = Checkpoint::open(dir.path());
  CHECK_FALSE(ck.sharded());
  REQUIRE(ck.tensors().size() == expected.size());
  for (const auto& [name, bytes] : expected) {
    const TensorView v = ck.view(name);
    REQUIRE(v.nbytes() == bytes.size());
    CHECK(std::memcmp(v.data, bytes.data(), bytes.size()) == 0);
  }
  CHECK(ck.view("t.F8_E4M3").dtype == DType::kF8E4M3);
  CHECK(ck.view("t.I64").shape == Shape{3, 5});
  CHECK(ck.view("scalar").shape.empty());
  CHECK(ck.view("scalar").numel() == 1);
  CHECK(ck.view("empty").numel() == 0);
  const auto& h = ck.files().front()->header();
  CHECK(h.data_offset % 8 == 0);  // header padded so tensor data is 8-byte aligned
  CHECK(h.metadata.at("format") == "pt");
  CHECK(ck.tensor_bytes() == h.data_bytes);
}

TEST_CASE("bf16 tensors read back as the fp32 values they encode", "[checkpoint]") {
  TempDir dir("bf16");
  const std::vector<std::uint16_t> bits = {0x3f80, 0xc000, 0x4249, 0x0000};  // 1, -2, 50.25, 0
  {
    SafetensorsWriter w(dir.path());
    w.add("x", DType::kBF16, Shape{4}, std::as_bytes(std::span(bits)));
    w.finish();
  }
  const Checkpoint ck = Checkpoint::open(dir / "model.safetensors");  // a file path works too
  CHECK(to_f32(ck.view("x")) == std::vector<float>{1.0f, -2.0f, 50.25f, 0.0f});
}

TEST_CASE("streamed tensors must produce exactly their byte count", "[checkpoint]") {
  TempDir dir("stream");
  SafetensorsWriter w(dir.path());
  const auto piece = pattern(8, 1);
  w.add_streamed("ok", DType::kF32, Shape{2, 4}, [&](const SafetensorsWriter::Sink& sink) {
    for (int i = 0; i < 4; ++i) sink(piece);  // 4 x 8 bytes = 2*4 floats
  });
  qg::test::require_error([&] { w.add("ok", DType::kF32, Shape{1}, pattern(4, 0)); }, "", "ok", "added twice");
  qg::test::require_error(
      [&] { w.add_streamed("short", DType::kF32, Shape{4}, [&](const SafetensorsWriter::Sink& sink) { sink(piece); }); },
      "", "short", "producer wrote 8 bytes");
  // After a failed tensor the data file holds stray bytes: the writer refuses to go on or finish.
  qg::test::require_error([&] { w.add("next", DType::kU8, Shape{1}, pattern(1, 0)); }, "", "next", "earlier tensor failed");
  qg::test::require_error([&] { w.finish(); }, "", "", "nothing was finished");
}

TEST_CASE("an abandoned writer leaves no files behind", "[checkpoint]") {
  TempDir dir("abandon");
  {
    SafetensorsWriter w(dir.path());
    w.add("x", DType::kU8, Shape{16}, pattern(16, 3));
  }
  CHECK(std::filesystem::is_empty(dir.path()));
}
