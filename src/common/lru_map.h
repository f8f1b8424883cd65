// LruMap: a map of at most `capacity` entries; Put beyond that drops the least recently used
// (Find counts as a use). Not thread-safe: one thread (the event loop) owns it.
#pragma once

#include <cstddef>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>

namespace overseer {

template <typename V>
class LruMap {
 public:
  explicit LruMap(size_t capacity) : capacity_(capacity) {}

  // The value under `key` (now the most recently used), or nullptr.
  const V* Find(const std::string& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second.pos);
    return &it->second.value;
  }

  void Put(const std::string& key, V value) {
    if (capacity_ == 0) return;
    if (auto it = map_.find(key); it != map_.end()) {
      it->second.value = std::move(value);
      order_.splice(order_.begin(), order_, it->second.pos);
      return;
    }
    if (map_.size() >= capacity_) {
      map_.erase(order_.back());
      order_.pop_back();
    }
    order_.push_front(key);
    map_.emplace(key, Entry{std::move(value), order_.begin()});
  }

  size_t size() const { return map_.size(); }

 private:
  using Order = std::list<std::string>;  // most recently used first
  struct Entry {
    V value;
    Order::iterator pos;
  };
  size_t capacity_;
  Order order_;
  std::unordered_map<std::string, Entry> map_;
};

}  // namespace overseer
