// What every client command shares (see client_util.h).
#include "cli/client_util.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "cli/format.h"

namespace overseer::cli {
namespace json = boost::json;

std::string Env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): main thread, at start
  return v == nullptr ? std::string() : std::string(v);
}

std::string Escape(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

void PrintOut(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fflush(stdout);
}

int PrintError(const std::string& line) {
  std::fprintf(stderr, "%s\n", line.c_str());
  return 1;
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "overseer: %s (see --help)\n", message.c_str());
  return 2;
}

TimeMs Now() { return SystemClock::Instance().NowMs(); }

std::optional<HttpResult> Call(HttpClient& client, const std::string& method,
                               const std::string& target, const std::string& body,
                               const std::vector<std::pair<std::string, std::string>>& headers) {
  Result<HttpResult> r = client.Send(method, target, body, headers);
  if (!r) {
    PrintError(ErrorLine(r.error()));
    return std::nullopt;
  }
  if (r->status < 200 || r->status >= 300) {
    PrintError(ErrorLine(r->status, r->body));
    return std::nullopt;
  }
  return std::move(*r);
}

std::optional<json::object> ParseBody(const HttpResult& r) {
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);
  if (ec || !v.is_object()) {
    PrintError("overseer: the daemon answered something that is not a JSON object (HTTP " +
               std::to_string(r.status) + ")");
    return std::nullopt;
  }
  return std::move(v.as_object());
}

std::string StatusOf(const json::object& o) {
  const json::value* v = o.if_contains("status");
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::string Summary(const json::object& o) {
  const std::string status = Cell(o, "status");
  std::string line = Cell(o, "id") + " " + status;
  const json::value* reason = o.if_contains("status_reason");
  const bool unhappy = status == "FAILED" || status == "CANCELED" || status == "TERMINATED";
  if (unhappy && reason != nullptr && reason->is_string() && !reason->as_string().empty()) {
    line += " (" + std::string(reason->as_string()) + ")";
  }
  return line + "\n";
}

}  // namespace overseer::cli
