#include "store/migrations.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace overseer::store {
namespace {

struct ParsedName {
  int version = 0;
  std::string name;
  bool up = false;
};

Error BadFile(std::string_view file, std::string_view why) {
  return MakeError(ErrorCode::kInternal,
                   "migration file " + std::string(file) + ": " + std::string(why));
}

Result<ParsedName> ParseFileName(std::string_view file) {
  ParsedName out;
  std::string_view rest = file;
  constexpr std::string_view kUp = ".up.sql";
  constexpr std::string_view kDown = ".down.sql";
  if (rest.size() > kUp.size() && rest.substr(rest.size() - kUp.size()) == kUp) {
    out.up = true;
    rest.remove_suffix(kUp.size());
  } else if (rest.size() > kDown.size() && rest.substr(rest.size() - kDown.size()) == kDown) {
    rest.remove_suffix(kDown.size());
  } else {
    return BadFile(file, "name must end in .up.sql or .down.sql");
  }
  const size_t underscore = rest.find('_');
  if (underscore == std::string_view::npos || underscore == 0) {
    return BadFile(file, "name must be NNNN_name");
  }
  const std::string_view digits = rest.substr(0, underscore);
  const std::string_view name = rest.substr(underscore + 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return BadFile(file, "version must be decimal digits");
  }
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out.version);
  if (ec != std::errc() || ptr != digits.data() + digits.size() || out.version <= 0) {
    return BadFile(file, "version must be a positive integer");
  }
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
      })) {
    return BadFile(file, "name must be [a-z0-9_]+");
  }
  out.name = std::string(name);
  return out;
}

}  // namespace

Result<std::vector<Migration>> ParseMigrations(std::span<const embedded::File> files) {
  struct Pending {
    Migration m;
    bool has_up = false;
    bool has_down = false;
  };
  std::map<int, Pending> by_version;
  for (const embedded::File& f : files) {
    Result<ParsedName> parsed = ParseFileName(f.name);
    if (!parsed) return std::move(parsed).error();
    Pending& p = by_version[parsed->version];
    if (p.has_up || p.has_down) {
      if (p.m.name != parsed->name) return BadFile(f.name, "version already used by another name");
    }
    p.m.version = parsed->version;
    p.m.name = parsed->name;
    bool& seen = parsed->up ? p.has_up : p.has_down;
    if (seen) return BadFile(f.name, "repeated");
    seen = true;
    (parsed->up ? p.m.up_sql : p.m.down_sql) = std::string(f.data);
  }
  std::vector<Migration> out;
  out.reserve(by_version.size());
  for (auto& [version, p] : by_version) {
    if (!p.has_up || !p.has_down) {
      return MakeError(ErrorCode::kInternal, "migration " + std::to_string(version) +
                                                 " lacks its " + (p.has_up ? "down" : "up") +
                                                 " file");
    }
    out.push_back(std::move(p.m));
  }
  return out;
}

std::vector<const Migration*> PlanUp(const std::vector<Migration>& known,
                                     const AppliedMap& applied) {
  std::vector<const Migration*> out;
  for (const Migration& m : known) {
    if (applied.count(m.version) == 0) out.push_back(&m);
  }
  std::sort(out.begin(), out.end(),
            [](const Migration* a, const Migration* b) { return a->version < b->version; });
  return out;
}

Result<std::vector<const Migration*>> PlanDown(const std::vector<Migration>& known,
                                               const AppliedMap& applied, int steps) {
  if (steps < 0) return MakeError(ErrorCode::kInvalidRequest, "steps must be >= 0");
  std::vector<const Migration*> out;
  for (auto it = applied.rbegin(); it != applied.rend() && std::ssize(out) < steps; ++it) {
    const int version = it->first;
    auto m = std::find_if(known.begin(), known.end(),
                          [version](const Migration& k) { return k.version == version; });
    if (m == known.end()) {
      return MakeError(ErrorCode::kInternal, "applied migration " + std::to_string(version) +
                                                 " is unknown to this binary");
    }
    out.push_back(&*m);
  }
  return out;
}

std::vector<MigrationInfo> DescribeMigrations(const std::vector<Migration>& known,
                                              const AppliedMap& applied) {
  std::map<int, MigrationInfo> all;
  for (const Migration& m : known) {
    all[m.version] = MigrationInfo{m.version, m.name, false, 0};
  }
  for (const auto& [version, a] : applied) {
    MigrationInfo& info = all[version];
    info.version = version;
    if (info.name.empty()) info.name = a.name;
    info.applied = true;
    info.applied_at = a.applied_at;
  }
  std::vector<MigrationInfo> out;
  out.reserve(all.size());
  for (auto& [version, info] : all) out.push_back(std::move(info));
  return out;
}

}  // namespace overseer::store
