#pragma once
// Open-addressing hash tables for the two hot lookups of BPE: token string -> id (262k entries for
// Gemma) and (left id, right id) -> (merge rank, merged id) (515k entries). std::unordered_map costs
// one allocation per entry and a pointer chase per lookup; these are flat arrays.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace qg::text {

// An array of trivially copyable T in 2 MiB-aligned memory that asks Linux for transparent huge pages:
// BPE probes its merge table at random, and with 4 KiB pages nearly every probe also misses the TLB.
template <typename T>
class HugePageArray {
 public:
  HugePageArray() = default;
  HugePageArray(std::size_t n, const T& fill) : size_(n) {
    constexpr std::size_t kHuge = std::size_t{2} << 20;
    const std::size_t bytes = (n * sizeof(T) + kHuge - 1) / kHuge * kHuge;
    data_.reset(static_cast<T*>(std::aligned_alloc(kHuge, bytes ? bytes : kHuge)));
    if (!data_) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    ::madvise(data_.get(), bytes, MADV_HUGEPAGE);  // a hint; harmless where THP is off
#endif
    for (std::size_t i = 0; i < n; ++i) data_.get()[i] = fill;
  }
  T& operator[](std::size_t i) { return data_.get()[i]; }
  const T& operator[](std::size_t i) const { return data_.get()[i]; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* begin() { return data_.get(); }
  T* end() { return data_.get() + size_; }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  std::size_t size_ = 0;
};

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
// Key and value share a slot, so a lookup touches one cache line.
class U64Map {
 public:
  void reserve(std::size_t n) {
    std::size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_ = HugePageArray<Slot>(cap, Slot{});
  }
  void set(std::uint64_t key, std::uint64_t value) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.empty() ? 16 : slots_.size() * 2);
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.key == kEmpty) {
        s = {key, value};
        ++size_;
        return;
      }
      if (s.key == key) {
        s.value = value;
        return;
      }
    }
  }
  const std::uint64_t* find(std::uint64_t key) const {
    if (slots_.empty()) return nullptr;
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.value;
      if (s.key == kEmpty) return nullptr;
    }
  }
  // Starts loading key's slot into cache, so several lookups can wait on memory at the same time.
  void prefetch(std::uint64_t key) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[hash_u64(key) & (slots_.size() - 1)]);
  }
  std::size_t size() const { return size_; }

 private:
  static constexpr std::uint64_t kEmpty = ~std::uint64_t{0};  // ids are < 2^31, so never a real key
  struct Slot {
    std::uint64_t key = kEmpty;
    std::uint64_t value = 0;
  };
  void rehash(std::size_t cap) {
    HugePageArray<Slot> old = std::move(slots_);
    slots_ = HugePageArray<Slot>(cap, Slot{});
    size_ = 0;
    for (const Slot& s : old)
      if (s.key != kEmpty) set(s.key, s.value);
  }
  HugePageArray<Slot> slots_;
  std::size_t size_ = 0;
};

}  // namespace qg::text
