#include "service/quota_book.h"

#include <algorithm>

namespace overseer::service {

QuotaBook::QuotaBook(std::vector<int> defaults, int max_depth)
    : max_depth_(std::max(0, max_depth)), defaults_(std::move(defaults)) {
  const int last = defaults_.empty() ? 1 : defaults_.back();
  defaults_.resize(static_cast<size_t>(max_depth_) + 1, last);
}

std::vector<int>& QuotaBook::Row(std::unordered_map<std::string, std::vector<int>>& m,
                                 const std::string& ws, int fill) {
  auto [it, inserted] = m.try_emplace(ws);
  if (inserted) it->second.assign(defaults_.size(), fill);
  return it->second;
}

int QuotaBook::Limit(const std::string& ws, int depth) const {
  if (depth < 0 || depth > max_depth_) return 0;
  auto it = limits_.find(ws);
  if (it != limits_.end() && it->second[depth] >= 0) return it->second[depth];
  return defaults_[depth];
}

int QuotaBook::Used(const std::string& ws, int depth) const {
  if (depth < 0 || depth > max_depth_) return 0;
  auto it = used_.find(ws);
  return it == used_.end() ? 0 : it->second[depth];
}

int QuotaBook::Available(const std::string& ws, int depth) const {
  return std::max(0, Limit(ws, depth) - Used(ws, depth));
}

bool QuotaBook::Fits(const std::string& ws, int depth, int n) const {
  if (depth < 0 || depth > max_depth_) return false;
  return Used(ws, depth) + n <= Limit(ws, depth);
}

void QuotaBook::Take(const std::string& ws, int depth, int n) {
  if (depth < 0 || depth > max_depth_ || n <= 0) return;
  Row(used_, ws, 0)[depth] += n;
}

void QuotaBook::Give(const std::string& ws, int depth, int n) {
  if (depth < 0 || depth > max_depth_ || n <= 0) return;
  auto it = used_.find(ws);
  if (it == used_.end()) return;
  it->second[depth] = std::max(0, it->second[depth] - n);
}

void QuotaBook::SetLimit(const std::string& ws, int depth, int max_workers) {
  if (depth < 0 || depth > max_depth_) return;
  Row(limits_, ws, -1)[depth] = std::max(0, max_workers);
}

}  // namespace overseer::service
