#include "app/open_store.h"

#include <string_view>

#include "store/postgres/pg_connection.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_store.h"

namespace overseer::app {
namespace {

constexpr std::string_view kAcceptedForms =
    "a file path, sqlite:///absolute/path, sqlite:relative/path, :memory:, or "
    "postgresql://user@host:port/database";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// "scheme:" at the start of `url` (RFC 3986: a letter, then letters, digits, + - .), so that a
// plain path with a colon further on ("./a:b") is still a path.
bool HasScheme(std::string_view url) {
  const size_t colon = url.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!is_alpha(url[0])) return false;
  for (char c : url.substr(1, colon - 1)) {
    if (!is_alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

Error Invalid(std::string message) {
  return MakeError(ErrorCode::kInvalidRequest, std::move(message));
}

}  // namespace

Result<std::unique_ptr<store::Store>> OpenStore(const std::string& url) {
  if (store::pg::IsPgUrl(url)) {
    // One connection per BlockingPool thread (StoreThreads), and one spare.
    store::PostgresOptions options;
    options.pool_size = StoreThreads(url) + 1;
    return store::OpenPostgresStore(url, options);
  }
  std::string_view path = url;
  if (StartsWith(path, "sqlite:")) {
    path.remove_prefix(7);
    // sqlite:///abs keeps its leading "/"; sqlite://rel (an older spelling) is relative.
    if (StartsWith(path, "//")) path.remove_prefix(2);
  } else if (url != ":memory:" && HasScheme(url)) {
    return Invalid("--db: unknown database URL scheme; use " + std::string(kAcceptedForms));
  }
  if (path.empty()) return Invalid("--db: no database path; use " + std::string(kAcceptedForms));
  return store::OpenSqliteStore(std::string(path));
}

int StoreThreads(const std::string& url) { return store::pg::IsPgUrl(url) ? 4 : 1; }

std::string DisplayUrl(const std::string& url) {
  return store::pg::IsPgUrl(url) ? store::pg::MaskPgUrl(url) : url;
}

}  // namespace overseer::app
