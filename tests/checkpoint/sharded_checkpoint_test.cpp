// Sharded checkpoints: the writer's shards + index are read back whole, and every inconsistency
// between index and shards is an error naming the index or shard file and the tensor.
#include <fstream>
#include <nlohmann/json.hpp>

#include "catch.h"
#include "checkpoint/checkpoint.h"
#include "checkpoint/json_file.h"
#include "checkpoint/safetensors_writer.h"
#include "safetensors_test_util.h"
#include "test_paths.h"

using namespace qg;
using qg::test::require_error;
using qg::test::TempDir;

namespace {
// Five 400-byte tensors with a 1000-byte shard limit: 2 + 2 + 1 tensors in three shards.
void write_sharded(const std::filesystem::path& dir) {
  SafetensorsWriter w(dir, {.max_shard_bytes = 1000});
  for (int i = 0; i < 5; ++i) {
    std::vector<std::byte> bytes(400, static_cast<std::byte>(i));
    w.add("t" + std::to_string(i), DType::kF32, Shape{100}, bytes);
  }
  w.finish();
}
void save_json(const std::filesystem::path& p, const nlohmann::json& j) { std::ofstream(p) << j.dump(2); }
}  // namespace

TEST_CASE("sharded writer output is read back through the index", "[checkpoint]") {
  TempDir d("sharded");
  write_sharded(d.path());
  CHECK(std::filesystem::exists(d / "model-00001-of-00003.safetensors"));
  CHECK(std::filesystem::exists(d / "model-00003-of-00003.safetensors"));
  CHECK_FALSE(std::filesystem::exists(d / "model.safetensors"));
  const auto index = read_json_file(d / kSafetensorsIndexName);
  CHECK(index["metadata"]["total_size"] == 2000);
  CHECK(index["weight_map"]["t4"] == "model-00003-of-00003.safetensors");

  const Checkpoint ck = Checkpoint::open(d.path());
  CHECK(ck.sharded());
  CHECK(ck.files().size() == 3);
  CHECK(ck.tensors().size() == 5);
  CHECK(ck.tensor_bytes() == 2000);
  CHECK(ck.warnings().empty());
  CHECK(to_f32(ck.view("t3"))[0] == to_f32(ck.view("t3"))[99]);
  CHECK(ck.find("t3")->file->path().filename() == "model-00002-of-00003.safetensors");
}

TEST_CASE("index and shards must agree", "[checkpoint]") {
  TempDir d("badindex");
  write_sharded(d.path());
  const auto index_path = d / kSafetensorsIndexName;
  auto index = read_json_file(index_path);

  SECTION("missing shard") {
    std::filesystem::remove(d / "model-00002-of-00003.safetensors");
    require_error([&] { Checkpoint::open(d.path()); }, kSafetensorsIndexName, "t2",
                  "shard 'model-00002-of-00003.safetensors' listed in the index is missing");
  }
  SECTION("index names a tensor the shard lacks") {
    index["weight_map"]["t9"] = "model-00001-of-00003.safetensors";
    save_json(index_path, index);
    require_error([&] { Checkpoint::open(d.path()); }, "model-00001-of-00003.safetensors", "t9",
                  "the shard does not contain it");
  }
  SECTION("shard holds a tensor the index does not list") {
    index["weight_map"].erase("t1");
    save_json(index_path, index);
    require_error([&] { Checkpoint::open(d.path()); }, "model-00001-of-00003.safetensors", "t1",
                  "not listed in the index");
  }
  SECTION("index maps a tensor to another shard") {
    index["weight_map"]["t1"] = "model-00002-of-00003.safetensors";
    save_json(index_path, index);
    require_error([&] { Checkpoint::open(d.path()); }, "model-00001-of-00003.safetensors", "t1",
                  "present in this shard but the index maps it to 'model-00002-of-00003.safetensors'");
  }
  SECTION("shard name escaping the directory") {
    index["weight_map"]["t0"] = "../elsewhere.safetensors";
    save_json(index_path, index);
    require_error([&] { Checkpoint::open(d.path()); }, kSafetensorsIndexName, "t0", "not a plain file name");
  }
  SECTION("malformed index JSON") {
    std::ofstream(index_path) << "{\"weight_map\": {";
    require_error([&] { Checkpoint::open(d.path()); }, kSafetensorsIndexName, "", "not valid JSON");
  }
  SECTION("a total_size mismatch is a warning, not an error") {
    index["metadata"]["total_size"] = 1234;
    save_json(index_path, index);
    const Checkpoint ck = Checkpoint::open(d.path());
    REQUIRE(ck.warnings().size() == 1);
    CHECK(ck.warnings()[0].find("total_size 1234") != std::string::npos);
  }
  SECTION("a corrupt shard is reported with its own file name") {
    auto bytes = qg::test::read_bytes(d / "model-00003-of-00003.safetensors");
    bytes.resize(bytes.size() - 100);
    qg::test::write_bytes(d / "model-00003-of-00003.safetensors", bytes);
    require_error([&] { Checkpoint::open(d.path()); }, "model-00003-of-00003.safetensors", "t4", "truncated");
  }
}

TEST_CASE("directories without weights or with ambiguous weights", "[checkpoint]") {
  TempDir d("dirs");
  require_error([&] { Checkpoint::open(d.path()); }, d.path().string(), "", "no model.safetensors");
  require_error([&] { Checkpoint::open(d / "nope"); }, "nope", "", "no such file");
  {
    SafetensorsWriter w(d.path(), {.basename = "a"});
    w.add("x", DType::kU8, Shape{1}, std::vector<std::byte>(1));
    w.finish();
  }
  {
    SafetensorsWriter w(d.path(), {.basename = "b"});
    w.add("x", DType::kU8, Shape{1}, std::vector<std::byte>(1));
    w.finish();
  }
  require_error([&] { Checkpoint::open(d.path()); }, d.path().string(), "", "2 .safetensors files but no");
}
