#include "common/ids.h"

#include <sys/random.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace overseer {

std::string RandomHex(size_t n_bytes) {
  std::vector<unsigned char> buf(n_bytes);
  size_t got = 0;
  while (got < n_bytes) {
    const ssize_t r = getrandom(buf.data() + got, n_bytes - got, 0);
    if (r > 0) got += static_cast<size_t>(r);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(n_bytes * 2);
  for (unsigned char c : buf) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string NewId(std::string_view prefix) {
  static std::atomic<uint32_t> counter{0};
  const auto ms =
      static_cast<unsigned long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  const unsigned c = counter.fetch_add(1, std::memory_order_relaxed) & 0xffffu;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%012llx%04x", ms & 0xffffffffffffULL, c);
  std::string id(prefix);
  id += buf;
  id += RandomHex(6);
  return id;
}

bool IsWellFormedId(std::string_view id, std::string_view prefix) {
  if (id.size() > 36 || id.size() <= prefix.size() || id.substr(0, prefix.size()) != prefix) {
    return false;
  }
  for (char ch : id) {
    const bool ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || ch == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace overseer
