// Server tests over real sockets on 127.0.0.1: the server's io_context runs on its own
// thread; the test thread is a small Beast/Asio client with a timeout on every read.
#include "http/server.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <optional>
#include <thread>

namespace overseer::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A stand-in for the api layer's renderer: SPEC §4 body plus the status table.
Response RenderError(const Error& e, const Request& /*req*/) {
  Response r;
  switch (e.code) {
    case ErrorCode::kInvalidRequest:
      r.status = 400;
      break;
    case ErrorCode::kNotFound:
      r.status = 404;
      break;
    case ErrorCode::kMethodNotAllowed:
      r.status = 405;
      break;
    case ErrorCode::kPayloadTooLarge:
      r.status = 413;
      break;
    case ErrorCode::kUnsupportedMediaType:
      r.status = 415;
      break;
    default:
      r.status = 500;
      break;
  }
  json::object details;
  for (const auto& [k, v] : e.details) {
    if (std::holds_alternative<std::string>(v)) {
      details[k] = std::get<std::string>(v);
    } else {
      details[k] = std::get<int64_t>(v);
    }
  }
  json::object err{
      {"code", std::string(ErrorCodeName(e.code))}, {"message", e.message}, {"details", details}};
  r.body = json::serialize(json::object{{"error", err}});
  return r;
}

Response Json(const json::value& v) {
  Response r;
  r.body = json::serialize(v);
  return r;
}

// Synchronous client with a deadline on every operation (run_for on its own context).
class Client {
 public:
  explicit Client(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  void Send(std::string_view raw) { asio::write(socket_, asio::buffer(raw.data(), raw.size())); }

  // Reads one response; nullopt on error or timeout (error in last_error()).
  // `head`: the response to a HEAD request (no body follows its headers).
  std::optional<bhttp::response<bhttp::string_body>> Read(std::chrono::milliseconds timeout = 5s,
                                                          bool head = false) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(boost::none);
    parser.skip(head);
    bool done = false;
    bhttp::async_read(socket_, buffer_, parser, [&](boost::system::error_code ec, size_t) {
      last_error_ = ec;
      done = true;
    });
    Run(done, timeout);
    if (last_error_) return std::nullopt;
    return parser.release();
  }

  // True if the server closes the connection (EOF or reset) within `timeout`, reading
  // and discarding anything before that.
  bool ClosedWithin(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return false;
      char buf[4096];
      bool done = false;
      socket_.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, size_t) {
        last_error_ = ec;
        done = true;
      });
      Run(done, left);
      if (last_error_ == asio::error::operation_aborted) return false;  // timed out
      if (last_error_) return true;
    }
  }

  // Everything the server sends until it closes the connection (EOF or reset), with
  // what an earlier Read buffered beyond its response; nullopt if it is still open after
  // `timeout`.
  std::optional<std::string> RestUntilClosed(std::chrono::milliseconds timeout = 5s) {
    std::string rest = beast::buffers_to_string(buffer_.data());
    buffer_.clear();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= 0ms) return std::nullopt;
      char buf[4096];
      size_t got = 0;
      bool done = false;
      socket_.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, size_t n) {
        last_error_ = ec;
        got = n;
        done = true;
      });
      Run(done, left);
      rest.append(buf, got);
      if (last_error_ == asio::error::operation_aborted) return std::nullopt;  // timed out
      if (last_error_) return rest;
    }
  }

  std::optional<bhttp::response<bhttp::string_body>> Roundtrip(std::string_view raw) {
    Send(raw);
    return Read();
  }

  boost::system::error_code last_error() const { return last_error_; }

 private:
  void Run(bool& done, std::chrono::milliseconds timeout) {
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!done) {
      socket_.cancel();
      ioc_.restart();
      ioc_.run();
    }
  }

  asio::io_context ioc_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  boost::system::error_code last_error_;
};

json::value Body(const bhttp::response<bhttp::string_body>& res) { return json::parse(res.body()); }

std::string ErrorCodeOf(const bhttp::response<bhttp::string_body>& res) {
  return json::value_to<std::string>(Body(res).at("error").at("code"));
}

// NOLINTNEXTLINE(bugprone-easily-swappable-parameters)
std::string Get(std::string_view target, std::string_view extra_headers = "") {
  std::string s = "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
  s += extra_headers;
  s += "\r\n";
  return s;
}

// NOLINTNEXTLINE(bugprone-easily-swappable-parameters)
std::string Post(std::string_view target, std::string_view content_type, std::string_view body) {
  std::string s = "POST " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n";
  if (!content_type.empty()) s += "Content-Type: " + std::string(content_type) + "\r\n";
  s += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  s += body;
  return s;
}

template <typename Pred>
bool PollUntil(Pred pred, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() : release_(io_) { release_.expires_at(asio::steady_timer::time_point::max()); }

  Router DefaultRouter() {
    Router router;
    router.Add("GET", "/api/ping", [](Request&) -> asio::awaitable<Response> {
      co_return Json({{"pong", true}});
    });
    router.Add("GET", "/healthz", [](Request&) -> asio::awaitable<Response> {
      Response r;
      r.content_type = "text/plain";
      r.body = "ok";
      co_return r;
    });
    router.Add("GET", "/api/echo/{a}/x/{b}", [](Request& req) -> asio::awaitable<Response> {
      json::array q;
      for (const auto& [k, v] : req.query)
        q.push_back(json::array{json::string(k), json::string(v)});
      co_return Json({{"a", req.Param("a")},
                      {"b", req.Param("b")},
                      {"path", req.path},
                      {"target", req.target},
                      {"query", q},
                      {"tail", req.Query("tail").value_or("-")},
                      {"request_id", req.request_id},
                      {"remote", req.remote},
                      {"auth", req.Header("authorization")}});
    });
    router.Add("POST", "/api/echo", [](Request& req) -> asio::awaitable<Response> {
      Response r;
      r.status = 201;
      r.body = req.body;
      r.headers.emplace_back("X-Extra", "1");
      co_return r;
    });
    router.Add("GET", "/api/echo", [](Request&) -> asio::awaitable<Response> {
      co_return Json({{"get", true}});
    });
    router.Add(
        "POST", "/api/raw",
        [](Request& req) -> asio::awaitable<Response> {
          co_return Json({{"bytes", req.body.size()}});
        },
        RouteOptions{.require_json_body = false});
    router.Add("GET", "/api/hidden", [this](Request&) -> asio::awaitable<Response> {
      ++hidden_hits_;
      co_return Json({{"hidden", true}});
    });
    router.Add("GET", "/api/throw", [](Request&) -> asio::awaitable<Response> {
      throw std::runtime_error("secret database password is hunter2");
      co_return Response{};
    });
    router.Add("GET", "/api/slow", [this](Request&) -> asio::awaitable<Response> {
      slow_started_ = true;
      co_await release_.async_wait(asio::as_tuple(asio::use_awaitable));
      co_return Json({{"slow", "done"}});
    });
    return router;
  }

  void Start(ServerOptions options = {}) { Start(DefaultRouter(), options); }

  void Start(Router router, ServerOptions options) {
    server_ = std::make_unique<Server>(io_, std::move(router), RenderError, options);
    Result<tcp::endpoint> ep = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(ep.ok()) << ep.error().message;
    port_ = ep->port();
    ASSERT_NE(port_, 0);
    thread_ = std::thread([this] { io_.run(); });
  }

  // Stops the server and waits for `done`; true if it came within the timeout.
  bool StopServer(std::chrono::milliseconds timeout = 10s) {
    if (!thread_.joinable()) return true;
    auto stopped = std::make_shared<std::promise<void>>();
    std::future<void> f = stopped->get_future();
    asio::post(io_, [this, stopped] { server_->Stop([stopped] { stopped->set_value(); }); });
    const bool ok = f.wait_for(timeout) == std::future_status::ready;
    if (!ok) io_.stop();
    thread_.join();
    return ok;
  }

  size_t ActiveConnections() {
    std::promise<size_t> p;
    asio::post(io_, [&] { p.set_value(server_->active_connections()); });
    return p.get_future().get();
  }

  void TearDown() override { EXPECT_TRUE(StopServer()); }

  asio::io_context io_;
  asio::steady_timer release_;  // the slow handler waits for its cancellation
  std::atomic<bool> slow_started_{false};
  std::atomic<int> hidden_hits_{0};  // GET /api/hidden: a request smuggled in a body
  std::unique_ptr<Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

TEST_F(ServerTest, ServesJsonWithStandardHeaders) {
  Start();
  Client c(port_);
  auto res = c.Roundtrip(Get("/api/ping"));
  ASSERT_TRUE(res) << c.last_error().message();
  EXPECT_EQ(res->result_int(), 200u);
  EXPECT_EQ(res->body(), R"({"pong":true})");
  EXPECT_EQ((*res)[bhttp::field::content_type], "application/json");
  EXPECT_EQ((*res)[bhttp::field::content_length], "13");
  EXPECT_EQ((*res)[bhttp::field::server], "overseer");
  EXPECT_EQ((*res)[bhttp::field::cache_control], "no-store");
  EXPECT_FALSE((*res)["X-Request-ID"].empty());
}

TEST_F(ServerTest, NonApiPathHasNoCacheControl) {
  Start();
  Client c(port_);
  auto res = c.Roundtrip(Get("/healthz"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->body(), "ok");
  EXPECT_EQ((*res)[bhttp::field::content_type], "text/plain");
  EXPECT_EQ(res->count(bhttp::field::cache_control), 0u);
  EXPECT_FALSE((*res)["X-Request-ID"].empty());
}

TEST_F(ServerTest, PathParamsQueryAndHeadersReachHandler) {
  Start();
  Client c(port_);
  auto res = c.Roundtrip(
      Get("/api/echo/w_1/x/a%20b?tail=5&q=x+y%21&tail=6", "Authorization: Bearer tok\r\n"));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->result_int(), 200u) << res->body();
  json::value b = Body(*res);
  EXPECT_EQ(b.at("a"), "w_1");
  EXPECT_EQ(b.at("b"), "a b");
  EXPECT_EQ(b.at("path"), "/api/echo/w_1/x/a b");
  EXPECT_EQ(b.at("target"), "/api/echo/w_1/x/a%20b?tail=5&q=x+y%21&tail=6");
  EXPECT_EQ(json::serialize(b.at("query")), R"([["tail","5"],["q","x y!"],["tail","6"]])");
  EXPECT_EQ(b.at("tail"), "5");  // Query() gives the first value
  EXPECT_EQ(b.at("auth"), "Bearer tok");
  EXPECT_EQ(json::value_to<std::string>(b.at("remote")).rfind("127.0.0.1:", 0), 0u);
}

TEST_F(ServerTest, UnknownPathIs404) {
  Start();
  Client c(port_);
  auto res = c.Roundtrip(Get("/api/nope"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 404u);
  EXPECT_EQ(ErrorCodeOf(*res), "NOT_FOUND");
  EXPECT_FALSE((*res)["X-Request-ID"].empty());
  // The connection stays usable.
  auto again = c.Roundtrip(Get("/api/ping"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->result_int(), 200u);
}

TEST_F(ServerTest, WrongMethodIs405WithAllow) {
  Start();
  Client c(port_);
  auto res = c.Roundtrip("DELETE /api/echo HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 405u);
  EXPECT_EQ(ErrorCodeOf(*res), "METHOD_NOT_ALLOWED");
  EXPECT_EQ((*res)[bhttp::field::allow], "POST, GET");
}

TEST_F(ServerTest, BodyOverLimitIs413AndCloses) {
  ServerOptions opt;
  opt.body_limit = 1024;
  Start(opt);
  Client c(port_);
  auto res = c.Roundtrip(Post("/api/echo", "application/json", std::string(4096, 'x')));
  ASSERT_TRUE(res) << c.last_error().message();
  EXPECT_EQ(res->result_int(), 413u);
  EXPECT_EQ(ErrorCodeOf(*res), "PAYLOAD_TOO_LARGE");
  EXPECT_EQ(Body(*res).at("error").at("details").at("limit_bytes"), 1024);
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(c.ClosedWithin(5s));
}

TEST_F(ServerTest, BodyAtLimitIsAccepted) {
  ServerOptions opt;
  opt.body_limit = 1024;
  Start(opt);
  Client c(port_);
  const std::string body = "\"" + std::string(1022, 'x') + "\"";
  auto res = c.Roundtrip(Post("/api/echo", "application/json", body));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 201u);
  EXPECT_EQ(res->body(), body);
  EXPECT_EQ((*res)["X-Extra"], "1");
}

TEST_F(ServerTest, HeadersOverLimitAre413AndClose) {
  ServerOptions opt;
  opt.header_limit = 1024;
  Start(opt);
  Client c(port_);
  auto res = c.Roundtrip(Get("/api/ping", "X-Big: " + std::string(4000, 'y') + "\r\n"));
  ASSERT_TRUE(res) << c.last_error().message();
  EXPECT_EQ(res->result_int(), 413u);
  EXPECT_EQ(ErrorCodeOf(*res), "PAYLOAD_TOO_LARGE");
  EXPECT_EQ(Body(*res).at("error").at("details").at("what"), "headers");
  EXPECT_TRUE(c.ClosedWithin(5s));
}

TEST_F(ServerTest, NonJsonBodyIs415UnlessRouteOptsOut) {
  Start();
  Client c(port_);
  auto res = c.Roundtrip(Post("/api/echo", "text/plain", "hello"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 415u);
  EXPECT_EQ(ErrorCodeOf(*res), "UNSUPPORTED_MEDIA_TYPE");

  auto missing = c.Roundtrip(Post("/api/echo", "", "{}"));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->result_int(), 415u);

  auto ok = c.Roundtrip(Post("/api/echo", "Application/JSON; charset=utf-8", "{}"));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->result_int(), 201u);

  auto empty = c.Roundtrip(Post("/api/echo", "", ""));
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->result_int(), 201u);

  auto raw = c.Roundtrip(Post("/api/raw", "text/plain", "hello"));
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->result_int(), 200u);
  EXPECT_EQ(raw->body(), R"({"bytes":5})");
}

TEST_F(ServerTest, MalformedRequestIs400AndCloses) {
  Start();
  Client c(port_);
  auto res = c.Roundtrip("GARBAGE\r\n\r\n");
  ASSERT_TRUE(res) << c.last_error().message();
  EXPECT_EQ(res->result_int(), 400u);
  EXPECT_EQ(ErrorCodeOf(*res), "INVALID_REQUEST");
  EXPECT_FALSE((*res)["X-Request-ID"].empty());
  EXPECT_TRUE(c.ClosedWithin(5s));

  Client c2(port_);
  auto bad_len = c2.Roundtrip("POST /api/echo HTTP/1.1\r\nContent-Length: abc\r\n\r\n");
  ASSERT_TRUE(bad_len);
  EXPECT_EQ(bad_len->result_int(), 400u);
}

// A request hidden in the body of another: answered only if the server misframes it.
constexpr std::string_view kHidden = "GET /api/hidden HTTP/1.1\r\nHost: t\r\n\r\n";

// Sends `raw` on a new connection and expects a 400 INVALID_REQUEST with Connection: close,
// then EOF with nothing more sent, and the hidden request never answered. `header`: the
// header details.header names ("" for none).
void ExpectRefusedAndClosed(uint16_t port, const std::atomic<int>& hidden_hits,
                            const std::string& raw, std::string_view header,
                            std::string_view message_part) {
  SCOPED_TRACE(raw);
  Client c(port);
  c.Send(raw);
  auto res = c.Read();
  ASSERT_TRUE(res) << c.last_error().message();
  EXPECT_EQ(res->result_int(), 400u);
  EXPECT_EQ(ErrorCodeOf(*res), "INVALID_REQUEST");
  EXPECT_FALSE(res->keep_alive());
  if (res->version() == 11) {
    EXPECT_EQ((*res)[bhttp::field::connection], "close");
  }
  const json::value body = Body(*res);
  const std::string message = json::value_to<std::string>(body.at("error").at("message"));
  EXPECT_NE(message.find(message_part), std::string::npos) << message;
  if (!header.empty()) {
    EXPECT_EQ(body.at("error").at("details").at("header"), json::string(header)) << body;
  }
  std::optional<std::string> rest = c.RestUntilClosed();
  ASSERT_TRUE(rest) << "the connection stayed open after a framing error";
  EXPECT_EQ(*rest, "") << "more was sent after the 400";
  EXPECT_EQ(hidden_hits.load(), 0) << "the request hidden in the body was answered";
}

std::string PostWith(std::string_view framing_headers, std::string_view body,
                     std::string_view version = "HTTP/1.1") {
  return "POST /api/echo " + std::string(version) +
         "\r\nHost: t\r\nContent-Type: application/json\r\n" + std::string(framing_headers) +
         "\r\n" + std::string(body);
}

std::string Chunked(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx", data.size());
  return std::string(size) + "\r\n" + std::string(data) + "\r\n0\r\n\r\n";
}

TEST_F(ServerTest, TransferEncodingOtherThanChunkedIs400AndCloses) {
  Start();
  const std::string hidden(kHidden);
  for (const char* te : {"identity", "gzip", "chunked, identity", "xchunked", "chunked;x=1"}) {
    ExpectRefusedAndClosed(port_, hidden_hits_,
                           PostWith("Transfer-Encoding: " + std::string(te) + "\r\n", hidden),
                           "Transfer-Encoding", "only 'chunked'");
  }
  // A coding list ending in chunked is refused too: no other coding is supported.
  ExpectRefusedAndClosed(port_, hidden_hits_,
                         PostWith("Transfer-Encoding: gzip, chunked\r\n", Chunked(hidden)),
                         "Transfer-Encoding", "only 'chunked'");
  ExpectRefusedAndClosed(
      port_, hidden_hits_,
      PostWith("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", Chunked(hidden)),
      "Transfer-Encoding", "more than one Transfer-Encoding");
  ExpectRefusedAndClosed(
      port_, hidden_hits_,
      PostWith("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", Chunked(hidden)),
      "Transfer-Encoding", "Transfer-Encoding");
  // HTTP/1.0 has no transfer codings (RFC 9112 §6.1).
  ExpectRefusedAndClosed(port_, hidden_hits_,
                         PostWith("Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n",
                                  Chunked("{}") + hidden, "HTTP/1.0"),
                         "Transfer-Encoding", "HTTP/1.0");
}

TEST_F(ServerTest, TransferEncodingWithContentLengthIs400AndCloses) {
  Start();
  const std::string hidden(kHidden);
  const std::string len = "Content-Length: " + std::to_string(hidden.size()) + "\r\n";
  // Framed by Content-Length this was a 201 (the issue's xchunked case).
  ExpectRefusedAndClosed(port_, hidden_hits_,
                         PostWith("Transfer-Encoding: xchunked\r\n" + len, hidden),
                         "Transfer-Encoding", "Content-Length");
  ExpectRefusedAndClosed(port_, hidden_hits_,
                         PostWith("Transfer-Encoding: chunked\r\n" + len, hidden), "Content-Length",
                         "Content-Length");
  ExpectRefusedAndClosed(port_, hidden_hits_,
                         PostWith(len + "Transfer-Encoding: chunked\r\n", hidden),
                         "Transfer-Encoding", "Content-Length");
  ExpectRefusedAndClosed(port_, hidden_hits_,
                         PostWith(len + "Transfer-Encoding: identity\r\n", hidden),
                         "Transfer-Encoding", "Content-Length");
}

TEST_F(ServerTest, BadContentLengthIs400AndCloses) {
  Start();
  const std::string hidden(kHidden);
  const std::string n = std::to_string(hidden.size());
  for (const std::string& cl : std::vector<std::string>{
           "Content-Length: +" + n + "\r\n", "Content-Length: -1\r\n", "Content-Length: 0x10\r\n",
           "Content-Length: 1 2\r\n", "Content-Length: \r\n", "Content-Length: " + n + "abc\r\n",
           // Repeated, even with the same value, and as a list (RFC 9110 §8.6 allows refusing).
           "Content-Length: " + n + ", " + n + "\r\n",
           "Content-Length: " + n + "\r\nContent-Length: " + n + "\r\n",
           // Conflicting.
           "Content-Length: 0\r\nContent-Length: " + n + "\r\n", "Content-Length: " + n + ", 0\r\n",
           "Content-Length: 99999999999999999999999\r\n"}) {
    ExpectRefusedAndClosed(port_, hidden_hits_, PostWith(cl, hidden), "Content-Length",
                           "Content-Length");
  }
}

TEST_F(ServerTest, ObsFoldAndBareLineEndingsAre400AndClose) {
  Start();
  const std::string hidden(kHidden);
  const std::string len = "Content-Length: " + std::to_string(hidden.size()) + "\r\n";
  // A folded Transfer-Encoding an intermediary might not see, and a folded other header.
  ExpectRefusedAndClosed(port_, hidden_hits_,
                         PostWith("Transfer-Encoding:\r\n chunked\r\n", Chunked(hidden)), "",
                         "line folding");
  ExpectRefusedAndClosed(port_, hidden_hits_, PostWith("X-A: b\r\n\tc\r\n" + len, hidden), "",
                         "line folding");
  // Whitespace before the first header field (RFC 9112 §2.2).
  ExpectRefusedAndClosed(port_, hidden_hits_,
                         "POST /api/echo HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: t\r\n" +
                             len + "\r\n" + hidden,
                         "", "line folding");
  // Bare LF and bare CR line endings: refused at once, not left waiting for a CRLFCRLF.
  ExpectRefusedAndClosed(port_, hidden_hits_, "POST /api/echo HTTP/1.1\nHost: t\n\n" + hidden, "",
                         "bare CR or LF");
  ExpectRefusedAndClosed(
      port_, hidden_hits_,
      "POST /api/echo HTTP/1.1\r\nHost: t\nTransfer-Encoding: chunked\r\n" + len + "\r\n" + hidden,
      "", "bare CR or LF");
  ExpectRefusedAndClosed(port_, hidden_hits_,
                         "POST /api/echo HTTP/1.1\r\nHost: t\rX: y\r\n" + len + "\r\n" + hidden, "",
                         "bare CR or LF");
}

TEST_F(ServerTest, MalformedChunkedBodyIs400AndCloses) {
  Start();
  const std::string hidden(kHidden);
  ExpectRefusedAndClosed(
      port_, hidden_hits_,
      PostWith("Transfer-Encoding: chunked\r\n", "zz\r\n{}\r\n0\r\n\r\n" + hidden), "", "chunked");
  ExpectRefusedAndClosed(port_, hidden_hits_,
                         PostWith("Transfer-Encoding: chunked\r\n", "2\r\n{}XX0\r\n\r\n" + hidden),
                         "", "chunked");
}

TEST_F(ServerTest, ChunkedBodyIsAcceptedAndTheConnectionKeptAlive) {
  Start();
  Client c(port_);
  for (const char* te : {"chunked", "Chunked", "CHUNKED  "}) {
    auto res = c.Roundtrip(
        PostWith("Transfer-Encoding: " + std::string(te) + "\r\n", Chunked(R"({"a":1})")));
    ASSERT_TRUE(res) << te << " " << c.last_error().message();
    EXPECT_EQ(res->result_int(), 201u) << te;
    EXPECT_EQ(res->body(), R"({"a":1})") << te;
    EXPECT_TRUE(res->keep_alive()) << te;
  }
  // What follows a well-framed chunked body is the next request, answered in turn.
  c.Send(PostWith("Transfer-Encoding: chunked\r\n", Chunked("[1]")) + std::string(kHidden));
  auto first = c.Read();
  auto second = c.Read();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->result_int(), 201u);
  EXPECT_EQ(second->result_int(), 200u);
  EXPECT_EQ(hidden_hits_.load(), 1);
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Start();
  Client c(port_);
  for (int i = 0; i < 3; ++i) {
    auto res = c.Roundtrip(Get("/api/ping"));
    ASSERT_TRUE(res) << i;
    EXPECT_EQ(res->result_int(), 200u);
    EXPECT_TRUE(res->keep_alive());
  }
  EXPECT_EQ(ActiveConnections(), 1u);
}

TEST_F(ServerTest, PipelinedRequestsAnsweredInOrder) {
  Start();
  Client c(port_);
  c.Send(Get("/api/ping") + Get("/api/nope") + Post("/api/echo", "application/json", "[1]"));
  auto a = c.Read();
  auto b = c.Read();
  auto d = c.Read();
  ASSERT_TRUE(a && b && d);
  EXPECT_EQ(a->result_int(), 200u);
  EXPECT_EQ(b->result_int(), 404u);
  EXPECT_EQ(d->result_int(), 201u);
  EXPECT_EQ(d->body(), "[1]");
}

TEST_F(ServerTest, Http10ClosesUnlessKeepAliveAsked) {
  Start();
  {
    Client c(port_);
    auto res = c.Roundtrip("GET /api/ping HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->result_int(), 200u);
    EXPECT_EQ(res->version(), 10u);
    EXPECT_TRUE(c.ClosedWithin(5s));
  }
  Client c(port_);
  auto res = c.Roundtrip("GET /api/ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(res);
  EXPECT_TRUE(res->keep_alive());
  auto again = c.Roundtrip("GET /api/ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->result_int(), 200u);
}

TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  Start();
  Client c(port_);
  auto res = c.Roundtrip(Get("/api/ping", "Connection: close\r\n"));
  ASSERT_TRUE(res);
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(c.ClosedWithin(5s));
}

TEST_F(ServerTest, RequestIdEchoedOrGenerated) {
  Start();
  Client c(port_);
  auto echoed = c.Roundtrip(Get("/api/echo/a/x/b", "X-Request-ID: my-id 42\r\n"));
  ASSERT_TRUE(echoed);
  EXPECT_EQ((*echoed)["X-Request-ID"], "my-id 42");
  EXPECT_EQ(Body(*echoed).at("request_id"), "my-id 42");

  auto too_long = c.Roundtrip(Get("/api/ping", "X-Request-ID: " + std::string(129, 'z') + "\r\n"));
  ASSERT_TRUE(too_long);
  const std::string generated((*too_long)["X-Request-ID"]);
  EXPECT_FALSE(generated.empty());
  EXPECT_NE(generated, std::string(129, 'z'));
  EXPECT_LE(generated.size(), 128u);

  auto other = c.Roundtrip(Get("/api/ping"));
  ASSERT_TRUE(other);
  EXPECT_FALSE((*other)["X-Request-ID"].empty());
  EXPECT_NE((*other)["X-Request-ID"], generated);

  auto error = c.Roundtrip(Get("/api/nope", "X-Request-ID: err-1\r\n"));
  ASSERT_TRUE(error);
  EXPECT_EQ((*error)["X-Request-ID"], "err-1");
}

TEST_F(ServerTest, HandlerExceptionIs500WithoutInternals) {
  Start();
  Client c(port_);
  auto res = c.Roundtrip(Get("/api/throw", "X-Request-ID: boom-1\r\n"));
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 500u);
  EXPECT_EQ(ErrorCodeOf(*res), "INTERNAL");
  EXPECT_EQ(Body(*res).at("error").at("message"), "internal error; request id boom-1");
  EXPECT_EQ(res->body().find("hunter2"), std::string::npos);
  EXPECT_EQ((*res)["X-Request-ID"], "boom-1");
  auto again = c.Roundtrip(Get("/api/ping"));  // the session survives
  ASSERT_TRUE(again);
  EXPECT_EQ(again->result_int(), 200u);
}

TEST_F(ServerTest, BadPercentEncodingIs400) {
  Start();
  Client c(port_);
  for (const char* target : {"/api/echo/a%2Fb/x/c", "/api/echo/a%zz/x/c", "/api/echo/a/x/c%4",
                             "/api/echo/a/x/c?q=%g0"}) {
    auto res = c.Roundtrip(Get(target));
    ASSERT_TRUE(res) << target;
    EXPECT_EQ(res->result_int(), 400u) << target;
    EXPECT_EQ(ErrorCodeOf(*res), "INVALID_REQUEST") << target;
  }
}

TEST_F(ServerTest, NonOriginFormTargetIs400) {
  Start();
  Client c(port_);
  auto res = c.Roundtrip("GET http://example.com/api/ping HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 400u);
}

TEST_F(ServerTest, ExpectContinueGetsInterimResponse) {
  Start();
  Client c(port_);
  c.Send(
      "POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  auto interim = c.Read();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->result_int(), 100u);
  c.Send("{}");
  auto res = c.Read();
  ASSERT_TRUE(res);
  EXPECT_EQ(res->result_int(), 201u);
  EXPECT_EQ(res->body(), "{}");
}

TEST_F(ServerTest, HeadUsesGetRouteWithoutBody) {
  Start();
  Client c(port_);
  c.Send("HEAD /api/ping HTTP/1.1\r\nHost: t\r\n\r\n");
  auto head = c.Read(5s, /*head=*/true);
  ASSERT_TRUE(head) << c.last_error().message();
  EXPECT_EQ(head->result_int(), 200u);
  EXPECT_EQ((*head)[bhttp::field::content_length], "13");
  EXPECT_TRUE(head->body().empty());
  // Nothing but headers was sent: the next response parses cleanly.
  auto next = c.Roundtrip(Get("/api/ping"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body(), R"({"pong":true})");
}

TEST_F(ServerTest, StopFinishesInFlightRequestClosesIdleAndRefusesNew) {
  Start();
  Client idle(port_);
  ASSERT_TRUE(idle.Roundtrip(Get("/api/ping")));  // now an idle keep-alive connection

  Client busy(port_);
  busy.Send(Get("/api/slow"));
  ASSERT_TRUE(PollUntil([&] { return slow_started_.load(); }));

  auto stopped = std::make_shared<std::promise<void>>();
  std::future<void> stop_future = stopped->get_future();
  asio::post(io_, [this, stopped] { server_->Stop([stopped] { stopped->set_value(); }); });

  // The idle connection is closed; new connections are refused.
  EXPECT_TRUE(idle.ClosedWithin(5s));
  EXPECT_TRUE(PollUntil([&] {
    try {
      Client fresh(port_);
      return false;
    } catch (const boost::system::system_error& e) {
      return e.code() == asio::error::connection_refused;
    }
  }));
  // Stop waits for the in-flight request.
  EXPECT_EQ(stop_future.wait_for(50ms), std::future_status::timeout);

  asio::post(io_, [this] { release_.cancel(); });
  auto res = busy.Read();
  ASSERT_TRUE(res) << busy.last_error().message();
  EXPECT_EQ(res->result_int(), 200u);
  EXPECT_EQ(res->body(), R"({"slow":"done"})");
  EXPECT_FALSE(res->keep_alive());
  EXPECT_TRUE(busy.ClosedWithin(5s));
  ASSERT_EQ(stop_future.wait_for(5s), std::future_status::ready);
  thread_.join();  // the loop ran out of work: every session ended
  EXPECT_EQ(server_->active_connections(), 0u);
}

TEST_F(ServerTest, StopWithoutConnectionsCompletes) {
  Start();
  EXPECT_TRUE(StopServer());
}

TEST_F(ServerTest, ReadTimeoutClosesSilentAndSlowConnections) {
  ServerOptions opt;
  opt.read_timeout = 1s;
  opt.idle_timeout = 1s;
  Start(opt);
  Client silent(port_);
  Client partial(port_);
  partial.Send("GET /api/ping HTTP/1.1\r\nHost: t\r\n");  // headers never finish
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.ClosedWithin(5s));
  EXPECT_TRUE(partial.ClosedWithin(5s));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 900ms);
  EXPECT_TRUE(PollUntil([&] { return ActiveConnections() == 0; }));
}

TEST_F(ServerTest, IdleKeepAliveConnectionClosedAfterIdleTimeout) {
  ServerOptions opt;
  opt.idle_timeout = 1s;
  Start(opt);
  Client c(port_);
  ASSERT_TRUE(c.Roundtrip(Get("/api/ping")));
  EXPECT_TRUE(c.ClosedWithin(5s));
}

TEST_F(ServerTest, MaxConnectionsClosesExtraConnections) {
  ServerOptions opt;
  opt.max_connections = 1;
  Start(opt);
  Client first(port_);
  ASSERT_TRUE(first.Roundtrip(Get("/api/ping")));
  Client second(port_);
  EXPECT_TRUE(second.ClosedWithin(5s));
  auto still = first.Roundtrip(Get("/api/ping"));
  ASSERT_TRUE(still);
  EXPECT_EQ(still->result_int(), 200u);
}

TEST_F(ServerTest, ListenOnUsedPortIsUnavailable) {
  Start();
  asio::io_context other_io;
  Server other(other_io, Router{}, RenderError, {});
  Result<tcp::endpoint> ep = other.Listen("127.0.0.1", port_);
  ASSERT_FALSE(ep.ok());
  EXPECT_EQ(ep.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(ep.error().message.find("in use"), std::string::npos) << ep.error().message;
}

TEST_F(ServerTest, AccessLogHasOneLinePerRequestWithoutQueryOrHeaders) {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
  auto logger = std::make_shared<spdlog::logger>("access", sink);
  logger->set_pattern("%v");
  spdlog::register_logger(logger);
  Start();
  Client c(port_);
  auto res = c.Roundtrip(Get("/api/echo/a/x/b?token=supersecret",
                             "Authorization: Bearer abc.def\r\nX-Request-ID: log-1\r\n"));
  ASSERT_TRUE(res);
  ASSERT_TRUE(PollUntil([&] { return !sink->last_formatted().empty(); }));
  spdlog::drop("access");
  std::vector<std::string> lines = sink->last_formatted();
  ASSERT_EQ(lines.size(), 1u);
  const std::string& line = lines[0];
  EXPECT_NE(line.find("GET /api/echo/a/x/b 200 "), std::string::npos) << line;
  EXPECT_NE(line.find("id=log-1"), std::string::npos) << line;
  EXPECT_NE(line.find("remote=127.0.0.1:"), std::string::npos) << line;
  EXPECT_NE(line.find("us "), std::string::npos) << line;
  EXPECT_EQ(line.find("supersecret"), std::string::npos) << line;
  EXPECT_EQ(line.find("abc.def"), std::string::npos) << line;
}

TEST_F(ServerTest, RecordsRequestsByStatusClassAndLatency) {
  MetricsRegistry metrics;
  ServerOptions options;
  options.metrics = &metrics;
  Start(options);
  Client c(port_);
  ASSERT_TRUE(c.Roundtrip(Get("/api/ping")));
  ASSERT_TRUE(c.Roundtrip(Get("/api/ping")));
  ASSERT_TRUE(c.Roundtrip(Get("/api/nothing-here")));
  const MetricLabels ok{{"class", "2xx"}};
  const MetricLabels client_error{{"class", "4xx"}};
  const MetricLabels server_error{{"class", "5xx"}};
  // Recorded once the response is written, so just after the client read it.
  ASSERT_TRUE(
      PollUntil([&] { return metrics.Value("overseer_http_requests_total", client_error) == 1; }));
  EXPECT_EQ(metrics.Value("overseer_http_requests_total", ok), 2);
  EXPECT_EQ(metrics.Value("overseer_http_requests_total", server_error), 0);
  const std::string text = metrics.RenderText();
  EXPECT_NE(text.find("overseer_http_request_duration_seconds_count 3\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("overseer_http_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_TRUE(StopServer());  // before `metrics` goes out of scope
}

}  // namespace
}  // namespace overseer::http
