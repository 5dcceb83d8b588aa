#include "checkpoint/safetensors_header.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "common/error.h"

namespace qg {

using nlohmann::json;

const SafetensorsEntry* SafetensorsHeader::find(const std::string& name) const {
  auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                             [](const SafetensorsEntry& e, const std::string& n) { return e.name < n; });
  return (it != tensors.end() && it->name == name) ? &*it : nullptr;
}

namespace {

[[noreturn]] void fail(const std::string& file, const std::string& tensor, const std::string& message) {
  throw Error(message, {.file = file, .tensor = tensor});
}

std::optional<std::uint64_t> as_u64(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
  return std::nullopt;
}

SafetensorsEntry parse_entry(const std::string& file, const std::string& name, const json& v) {
  if (!v.is_object()) fail(file, name, "header entry is not a JSON object");
  for (const auto& [key, _] : v.items())
    if (key != "dtype" && key != "shape" && key != "data_offsets")
      fail(file, name, fmt::format("unexpected key '{}' in header entry (expected dtype, shape, data_offsets)", key));

  SafetensorsEntry e;
  e.name = name;
  auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) fail(file, name, "missing or non-string 'dtype'");
  const auto dtype = dtype_from_name(dt->get<std::string>());
  if (!dtype)
    fail(file, name,
         fmt::format("unknown dtype '{}' (known: BF16 F16 F32 F64 I64 I32 I16 I8 U64 U32 U16 U8 BOOL F8_E4M3 "
                     "F8_E5M2 F8_E8M0)",
                     dt->get<std::string>()));
  e.dtype = *dtype;

  auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) fail(file, name, "missing or non-array 'shape'");
  for (const auto& d : *sh) {
    const auto u = as_u64(d);
    if (!u || *u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail(file, name, fmt::format("shape {} must hold non-negative integers", sh->dump()));
    e.shape.push_back(static_cast<std::int64_t>(*u));
  }

  auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2)
    fail(file, name, "missing 'data_offsets' or not a [begin, end] pair");
  const auto b = as_u64((*off)[0]);
  const auto en = as_u64((*off)[1]);
  if (!b || !en) fail(file, name, fmt::format("data_offsets {} must be non-negative integers", off->dump()));
  if (*b > *en) fail(file, name, fmt::format("data_offsets {} has begin > end", off->dump()));
  e.begin = *b;
  e.end = *en;

  // Expected size, with overflow checks (a hostile shape must not wrap around).
  std::uint64_t n = 1;
  bool overflow = false;
  for (std::int64_t d : e.shape) {
    const auto ud = static_cast<std::uint64_t>(d);
    if (ud != 0 && n > std::numeric_limits<std::uint64_t>::max() / ud) overflow = true;
    n *= ud;
  }
  const std::uint64_t elem = dtype_size(e.dtype);
  if (!overflow && n > std::numeric_limits<std::uint64_t>::max() / elem) overflow = true;
  if (overflow) fail(file, name, fmt::format("shape {} is too large", shape_str(e.shape)));
  if (n * elem != e.end - e.begin)
    fail(file, name,
         fmt::format("shape {} with dtype {} needs {} bytes but data_offsets [{}, {}] span {} bytes",
                     shape_str(e.shape), dtype_name(e.dtype), n * elem, e.begin, e.end, e.end - e.begin));
  return e;
}

}  // namespace

SafetensorsHeader parse_safetensors_header(std::span<const std::byte> bytes, const std::string& file) {
  if (bytes.size() < 8)
    fail(file, "", fmt::format("file has {} bytes, fewer than the 8-byte header length (truncated or not a "
                               "safetensors file)",
                               bytes.size()));
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint8_t>(bytes[static_cast<std::size_t>(i)]);
  if (n > kMaxHeaderBytes)
    fail(file, "", fmt::format("header length {} exceeds the limit of {} bytes (corrupt or not a safetensors file)", n,
                               kMaxHeaderBytes));
  if (n > bytes.size() - 8)
    fail(file, "", fmt::format("header length {} runs past the end of the file ({} bytes; truncated?)", n,
                               bytes.size()));

  SafetensorsHeader h;
  h.header_bytes = n;
  h.data_offset = 8 + n;
  h.data_bytes = bytes.size() - h.data_offset;

  const char* text = reinterpret_cast<const char*>(bytes.data() + 8);
  if (n == 0 || text[0] != '{') fail(file, "", "header does not start with '{' (not a JSON object)");

  // Collect duplicate top-level keys: nlohmann keeps only the last, which would hide a tensor.
  std::string duplicate;
  std::set<std::string> seen;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1) {
      std::string key = parsed.get<std::string>();
      if (!seen.insert(key).second && duplicate.empty()) duplicate = std::move(key);
    }
    return true;
  };
  json root;
  try {
    root = json::parse(text, text + n, cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    fail(file, "", fmt::format("header is not valid JSON: {}", e.what()));
  }
  if (!root.is_object()) fail(file, "", "header is not a JSON object");
  if (!duplicate.empty()) fail(file, duplicate, "appears twice in the header");

  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) fail(file, "", "__metadata__ is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fail(file, "", fmt::format("__metadata__ value for '{}' is not a string", mk));
        h.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    h.tensors.push_back(parse_entry(file, key, value));
  }

  // Byte ranges: inside the data section, no overlaps, no gaps, fully covered.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& t : h.tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(), [](const SafetensorsEntry* a, const SafetensorsEntry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  std::uint64_t cursor = 0;
  const SafetensorsEntry* prev = nullptr;
  for (const SafetensorsEntry* t : by_offset) {
    if (t->end > h.data_bytes)
      fail(file, t->name, fmt::format("data_offsets [{}, {}] end past the data section of {} bytes (truncated file?)",
                                      t->begin, t->end, h.data_bytes));
    if (t->begin < cursor)
      fail(file, t->name, fmt::format("data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", t->begin, t->end,
                                      prev->name, prev->begin, prev->end));
    if (t->begin > cursor)
      fail(file, t->name,
           fmt::format("data_offsets start at {} but the previous tensor ends at {}: a {}-byte gap (safetensors "
                       "packs tensors contiguously)",
                       t->begin, cursor, t->begin - cursor));
    cursor = t->end;
    prev = t;
  }
  if (cursor != h.data_bytes)
    fail(file, "", fmt::format("data section has {} bytes but its tensors cover only {} (trailing bytes)",
                               h.data_bytes, cursor));

  std::sort(h.tensors.begin(), h.tensors.end(),
            [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.name < b.name; });
  return h;
}

}  // namespace qg
