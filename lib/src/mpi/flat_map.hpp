// An open-addressing map from an MPI handle (a pointer or an int, depending on the MPI) to a small
// value. Lookups and inserts do not allocate except when the table grows, so the fast path of an
// intercepted call stays free of allocation and locks.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

namespace mpisnap::mpi {

template <class Key, class Value>
class FlatMap {
  static_assert(sizeof(Key) <= sizeof(std::uint64_t), "handle too large");
  static_assert(std::is_trivially_copyable_v<Key>, "handles are plain values");

 public:
  FlatMap() { rehash(16); }

  Value* find(Key k) noexcept {
    Slot* s = find_slot(k);
    return s ? &s->value : nullptr;
  }
  const Value* find(Key k) const noexcept { return const_cast<FlatMap*>(this)->find(k); }

  // Inserts or overwrites.
  void put(Key k, const Value& v) {
    if ((size_ + tombstones_ + 1) * 2 > slots_.size()) rehash(size_ * 2 >= slots_.size() / 2 ? slots_.size() * 2 : slots_.size());
    const std::uint64_t h = bits(k);
    Slot* grave = nullptr;
    for (std::size_t i = slot(h);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.state == Full && s.key == h) {
        s.value = v;
        return;
      }
      if (s.state == Tombstone && !grave) grave = &s;
      if (s.state == Empty) {
        Slot& target = grave ? *grave : s;
        if (grave) --tombstones_;
        target = Slot{h, v, Full};
        ++size_;
        return;
      }
    }
  }

  bool erase(Key k) noexcept {
    Slot* s = find_slot(k);
    if (!s) return false;
    s->state = Tombstone;
    --size_;
    ++tombstones_;
    return true;
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  template <class F>
  void for_each(F&& f) {
    for (Slot& s : slots_)
      if (s.state == Full) f(s.value);
  }
  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.state == Full) f(s.value);
  }

 private:
  enum State : std::uint8_t { Empty, Full, Tombstone };
  struct Slot {
    std::uint64_t key = 0;
    Value value{};
    State state = Empty;
  };

  Slot* find_slot(Key k) noexcept {
    if (size_ == 0) return nullptr;
    const std::uint64_t h = bits(k);
    for (std::size_t i = slot(h);; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.state == Empty) return nullptr;
      if (s.state == Full && s.key == h) return &s;
    }
  }

  static std::uint64_t bits(Key k) noexcept {
    std::uint64_t b = 0;
    std::memcpy(&b, &k, sizeof(Key));
    return b;
  }
  std::size_t slot(std::uint64_t h) const noexcept {
    return static_cast<std::size_t>((h * 0x9E3779B97F4A7C15ULL) >> 32) & mask_;
  }
  void rehash(std::size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    size_ = 0;
    tombstones_ = 0;
    for (const Slot& s : old) {
      if (s.state != Full) continue;
      for (std::size_t i = slot(s.key);; i = (i + 1) & mask_) {
        if (slots_[i].state == Empty) {
          slots_[i] = s;
          ++size_;
          break;
        }
      }
    }
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::size_t tombstones_ = 0;
};

}  // namespace mpisnap::mpi
