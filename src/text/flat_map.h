#pragma once
// Open-addressing hash tables for the two hot lookups of BPE: token string -> id (262k entries for
// Gemma) and (left id, right id) -> (merge rank, merged id) (515k entries). std::unordered_map costs
// one allocation per entry and a pointer chase per lookup; these are flat arrays.
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace qg::text {

inline std::uint64_t hash_bytes(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, then a final mix so low bits are usable
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 32);
}

inline std::uint64_t hash_u64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

// String -> int32 map; keys are copied into one arena.
class StringIdMap {
 public:
  void reserve(std::size_t n) {
    std::size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, Slot{});
  }
  // Inserts or overwrites.
  void set(std::string_view key, std::int32_t id) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const std::uint64_t h = hash_bytes(key);
    std::size_t i = h & (slots_.size() - 1);
    for (;; i = (i + 1) & (slots_.size() - 1)) {
      Slot& s = slots_[i];
      if (s.len < 0) {
        s.hash = h;
        s.offset = arena_.size();
        s.len = static_cast<std::int32_t>(key.size());
        s.id = id;
        arena_.append(key);
        ++size_;
        return;
      }
      if (s.hash == h && key_of(s) == key) {
        s.id = id;
        return;
      }
    }
  }
  // -1 when absent.
  std::int32_t find(std::string_view key) const {
    if (slots_.empty()) return -1;
    const std::uint64_t h = hash_bytes(key);
    for (std::size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      const Slot& s = slots_[i];
      if (s.len < 0) return -1;
      if (s.hash == h && key_of(s) == key) return s.id;
    }
  }
  std::size_t size() const { return size_; }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    std::size_t offset = 0;
    std::int32_t len = -1;  // -1: empty slot
    std::int32_t id = 0;
  };
  std::string_view key_of(const Slot& s) const { return std::string_view(arena_).substr(s.offset, static_cast<std::size_t>(s.len)); }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 16 : old.size() * 2, Slot{});
    for (const Slot& s : old) {
      if (s.len < 0) continue;
      std::size_t i = s.hash & (slots_.size() - 1);
      while (slots_[i].len >= 0) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;
  std::string arena_;
  std::size_t size_ = 0;
};

// uint64 key -> uint64 value map (BPE merges: key = left << 32 | right, value = rank << 32 | merged id).
class U64Map {
 public:
  void reserve(std::size_t n) {
    std::size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    keys_.assign(cap, kEmpty);
    values_.assign(cap, 0);
  }
  void set(std::uint64_t key, std::uint64_t value) {
    if ((size_ + 1) * 2 > keys_.size()) rehash(keys_.empty() ? 16 : keys_.size() * 2);
    std::size_t i = hash_u64(key) & (keys_.size() - 1);
    for (;; i = (i + 1) & (keys_.size() - 1)) {
      if (keys_[i] == kEmpty) {
        keys_[i] = key;
        values_[i] = value;
        ++size_;
        return;
      }
      if (keys_[i] == key) {
        values_[i] = value;
        return;
      }
    }
  }
  const std::uint64_t* find(std::uint64_t key) const {
    if (keys_.empty()) return nullptr;
    for (std::size_t i = hash_u64(key) & (keys_.size() - 1);; i = (i + 1) & (keys_.size() - 1)) {
      if (keys_[i] == key) return &values_[i];
      if (keys_[i] == kEmpty) return nullptr;
    }
  }
  std::size_t size() const { return size_; }

 private:
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};  // ids are < 2^31, so never a real key
  void rehash(std::size_t cap) {
    std::vector<std::uint64_t> ok = std::move(keys_), ov = std::move(values_);
    keys_.assign(cap, kEmpty);
    values_.assign(cap, 0);
    size_ = 0;
    for (std::size_t i = 0; i < ok.size(); ++i)
      if (ok[i] != kEmpty) set(ok[i], ov[i]);
  }
  std::vector<std::uint64_t> keys_, values_;
  std::size_t size_ = 0;
};

}  // namespace qg::text
