#include "integration/api.h"

#include <fcntl.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "common/utf8.h"

namespace overseer::it {
namespace json = boost::json;

namespace {

constexpr std::string_view kRoutes[] = {
    "/healthz",
    "/readyz",
    "/openapi.json",
    "/docs",
    "/metrics",
    "/api/events",
    "/api/supervisor/workers",
    "/api/supervisor/workers/{id}",
    "/api/supervisor/workers/{id}/pause",
    "/api/supervisor/workers/{id}/resume",
    "/api/supervisor/workers/{id}/terminate",
    "/api/supervisor/workers/{id}/logs",
    "/api/supervisor/workers/{id}/transcript",
    "/api/supervisor/metrics",
    "/api/jobs",
    "/api/jobs/{id}",
    "/api/jobs/{id}/tree",
    "/api/jobs/{id}/wait",
    "/api/jobs/{id}/cancel",
    "/api/jobs/{id}/halt",
    "/api/jobs/{id}/unhalt",
    "/api/halt",
    "/api/unhalt",
    "/api/resources/quotas",
    "/api/resources/allocate",
    "/api/resources/release",
    "/api/resources/usage",
};

void Capture(const std::string& method, const std::string& target, const Reply& r) {
  const char* file = std::getenv("OVERSEER_CONTRACT_CAPTURE");  // NOLINT(concurrency-mt-unsafe)
  if (file == nullptr || *file == '\0' || r.status == 0) return;
  const std::string path = target.substr(0, target.find('?'));
  json::value body;
  // A text body (a log) that happens to be one JSON line is still text: only a JSON answer is
  // recorded parsed.
  const bool json_answer = r.Header("Content-Type").find("json") != std::string::npos;
  if (json_answer && (!r.json.is_null() || r.body == "null")) {
    body = r.json;
  } else {
    body = json::string(ValidUtf8(r.body));  // the line itself stays UTF-8
  }
  const json::object line{{"method", method},
                          {"path", ValidUtf8(path)},
                          {"route", RouteTemplate(path)},
                          {"status", r.status},
                          {"content_type", r.Header("Content-Type")},
                          {"body", std::move(body)},
                          {"body_valid_utf8", IsValidUtf8(r.body)}};
  const std::string text = json::serialize(line) + "\n";
  const int fd = ::open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  // One write per line: O_APPEND keeps lines of parallel test processes whole.
  (void)!::write(fd, text.data(), text.size());
  ::close(fd);
}

}  // namespace

std::string Reply::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

const json::value& Reply::At(std::initializer_list<std::string_view> path) const {
  static const json::value kNull;
  const json::value* cur = &json;
  for (std::string_view key : path) {
    if (!cur->is_object()) return kNull;
    cur = cur->as_object().if_contains(key);
    if (cur == nullptr) return kNull;
  }
  return *cur;
}

std::string Reply::Str(std::initializer_list<std::string_view> path) const {
  const json::value& v = At(path);
  return v.is_string() ? std::string(v.as_string()) : std::string();
}

int64_t Reply::Int(std::initializer_list<std::string_view> path) const {
  const json::value& v = At(path);
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64()) return static_cast<int64_t>(v.as_uint64());
  if (v.is_double()) return static_cast<int64_t>(v.as_double());
  return -1;
}

json::value RouteTemplate(const std::string& path) {
  std::vector<std::string> segs;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    segs.push_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  std::string out;
  for (size_t i = 0; i < segs.size(); ++i) {
    const bool is_id = i > 0 && path.rfind("/api/", 0) == 0 &&
                       (segs[i - 1] == "workers" || segs[i - 1] == "jobs") && !segs[i].empty();
    out += "/" + (is_id ? std::string("{id}") : segs[i]);
  }
  if (std::find(std::begin(kRoutes), std::end(kRoutes), out) == std::end(kRoutes)) return nullptr;
  return json::string(out);
}

Api::Api(std::string base_url, std::string token)
    : base_url_(std::move(base_url)),
      token_(std::move(token)),
      client_(std::make_unique<cli::HttpClient>(base_url_)) {
  client_->SetTimeout(std::chrono::seconds(60));
}

Reply Api::Send(const std::string& method, const std::string& target, const std::string& body,
                const Headers& headers) {
  client_->SetToken(token_);
  Reply r;
  Result<cli::HttpResult> res = client_->Send(method, target, body, headers);
  if (!res) {
    r.body = "transport error: " + res.error().message;
    return r;
  }
  r.status = res->status;
  r.body = std::move(res->body);
  r.headers = std::move(res->headers);
  if (!r.body.empty()) {
    boost::system::error_code ec;
    json::value v = json::parse(r.body, ec);
    if (!ec) r.json = std::move(v);
  }
  Capture(method, target, r);
  return r;
}

std::string Describe(const Reply& r) {
  std::string b = r.body.size() > 2000 ? r.body.substr(0, 2000) + "..." : r.body;
  return "status " + std::to_string(r.status) + ", body " + b;
}

::testing::AssertionResult IsError(const Reply& r, unsigned status, const std::string& code) {
  if (r.status != status) {
    return ::testing::AssertionFailure()
           << "expected status " << status << " " << code << ", got " << Describe(r);
  }
  if (r.Header("Content-Type").rfind("application/json", 0) != 0) {
    return ::testing::AssertionFailure()
           << "error without a JSON content type: " << r.Header("Content-Type");
  }
  const json::value& err = r.At({"error"});
  if (!err.is_object() || r.json.as_object().size() != 1) {
    return ::testing::AssertionFailure() << "not a {\"error\":{...}} body: " << r.body;
  }
  if (r.Str({"error", "code"}) != code) {
    return ::testing::AssertionFailure() << "expected code " << code << ", got " << Describe(r);
  }
  if (r.Str({"error", "message"}).empty()) {
    return ::testing::AssertionFailure() << "empty error.message: " << r.body;
  }
  if (!r.At({"error", "details"}).is_object()) {
    return ::testing::AssertionFailure() << "error.details is not an object: " << r.body;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace overseer::it
