// QuotaBook: worker slots per workspace and depth (SPEC §1 Allocation, §3 Resources) — the
// limits (the daemon's defaults, overridden per workspace) and the slots in use. Memory
// only: the Supervisor keeps it in step with the allocations it commits and rebuilds it from
// the store at start. Loop thread only.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

namespace overseer::service {

class QuotaBook {
 public:
  // defaults[d] is the limit at depth d for every workspace; depths 0..max_depth exist.
  // Missing defaults repeat the last one (1 if none is given).
  QuotaBook(std::vector<int> defaults, int max_depth);

  int max_depth() const { return max_depth_; }
  int Limit(const std::string& ws, int depth) const;
  int Used(const std::string& ws, int depth) const;
  int Available(const std::string& ws, int depth) const;
  // True if `n` more slots fit under the limit at `depth` (false for a depth out of range).
  bool Fits(const std::string& ws, int depth, int n) const;
  // Take may go over the limit (slots held by processes found running at start); Give
  // never goes below zero.
  void Take(const std::string& ws, int depth, int n);
  void Give(const std::string& ws, int depth, int n);
  void SetLimit(const std::string& ws, int depth, int max_workers);

 private:
  std::vector<int>& Row(std::unordered_map<std::string, std::vector<int>>& m, const std::string& ws,
                        int fill);

  int max_depth_;
  std::vector<int> defaults_;
  std::unordered_map<std::string, std::vector<int>> limits_;  // per workspace, -1: default
  std::unordered_map<std::string, std::vector<int>> used_;
};

}  // namespace overseer::service
