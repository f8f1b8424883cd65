// Streaming routes over real sockets on 127.0.0.1: the server's io_context runs on its
// own thread; the test thread is a raw client (chunked decoding by hand, so what is on
// the wire is what is checked) or a Beast WebSocket client, with a deadline on every read.
#include "http/stream.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include "http/server.h"

namespace overseer::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

Response RenderError(const Error& e, const Request& /*req*/) {
  Response r;
  r.status = e.code == ErrorCode::kUnavailable ? 503 : 500;
  r.body = std::string(ErrorCodeName(e.code));
  return r;
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

// A raw HTTP/1.1 client: sends bytes, reads the head, then decodes the chunked body as it
// arrives. Every read has a deadline.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : socket_(ioc_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  void Send(std::string_view raw) { asio::write(socket_, asio::buffer(raw.data(), raw.size())); }

  // The response head (through the blank line); nullopt if it does not come in time.
  std::optional<std::string> Head(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (raw_.find("\r\n\r\n") == std::string::npos) {
      if (!ReadSome(deadline)) return std::nullopt;
    }
    const size_t end = raw_.find("\r\n\r\n") + 4;
    std::string head = raw_.substr(0, end);
    raw_.erase(0, end);
    return head;
  }

  // Reads until the decoded body holds `needle`; false on timeout or close first.
  bool BodyUntil(std::string_view needle, std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      Dechunk();
      if (body_.find(needle) != std::string::npos) return true;
      if (!ReadSome(deadline)) return false;
    }
  }

  // Reads until the last chunk arrived and the server closed the connection.
  bool EndsAndCloses(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (ReadSome(deadline)) {
    }
    Dechunk();
    return ended_ && closed_;
  }

  // Everything up to the server's close, undecoded; nullopt if it stays open.
  std::optional<std::string> RawUntilClosed(std::chrono::milliseconds timeout = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (ReadSome(deadline)) {
    }
    if (!closed_) return std::nullopt;
    return raw_;
  }

  const std::string& body() const { return body_; }
  bool closed() const { return closed_; }
  void Close() {
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  // Appends what arrives before `deadline` to raw_; false on timeout or close.
  bool ReadSome(std::chrono::steady_clock::time_point deadline) {
    if (closed_) return false;
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= 0ms) return false;
    char buf[4096];
    size_t got = 0;
    boost::system::error_code error;
    bool done = false;
    socket_.async_read_some(asio::buffer(buf), [&](boost::system::error_code ec, size_t n) {
      error = ec;
      got = n;
      done = true;
    });
    ioc_.restart();
    ioc_.run_for(std::chrono::duration_cast<std::chrono::milliseconds>(left));
    if (!done) {
      socket_.cancel();
      ioc_.restart();
      ioc_.run();
      return false;
    }
    raw_.append(buf, got);
    if (error) closed_ = true;
    return !error;
  }

  // Moves the complete chunks of raw_ into body_.
  void Dechunk() {
    for (;;) {
      if (ended_) return;
      const size_t eol = raw_.find("\r\n");
      if (eol == std::string::npos) return;
      const size_t size = std::stoul(raw_.substr(0, eol), nullptr, 16);
      if (size == 0) {
        if (raw_.size() < eol + 4) return;
        ended_ = true;
        raw_.erase(0, eol + 4);
        return;
      }
      if (raw_.size() < eol + 2 + size + 2) return;
      body_ += raw_.substr(eol + 2, size);
      raw_.erase(0, eol + 2 + size + 2);
    }
  }

  asio::io_context ioc_;
  tcp::socket socket_;
  std::string raw_;   // received, not yet decoded
  std::string body_;  // decoded chunks
  bool ended_ = false;
  bool closed_ = false;
};

std::string Get(std::string_view target, std::string_view extra = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: t\r\n" + std::string(extra) + "\r\n";
}

class StreamTest : public ::testing::Test {
 protected:
  StreamTest() : gate_(io_) { gate_.expires_at(asio::steady_timer::time_point::max()); }

  // Waits until the test released step `n` (Release), or the stream closed.
  asio::awaitable<void> Gate(int n, ResponseStream& out) {
    while (released_ < n && out.open()) {
      (void)co_await gate_.async_wait(kTuple);
    }
  }

  Router MakeRouter() {
    Router router;
    // Three events; each after the test read the one before.
    router.AddStream("GET", "/api/three",
                     [this](Request&, ResponseStream& out) { return Three(out); });
    // Open until the client leaves or the server stops; heartbeats meanwhile.
    router.AddStream("GET", "/api/forever",
                     [this](Request&, ResponseStream& out) { return Forever(out); });
    router.AddStream("GET", "/api/denied",
                     [](Request&, ResponseStream& out) { return Denied(out); });
    router.AddStream("GET", "/api/silent",
                     [](Request&, ResponseStream&) -> asio::awaitable<void> { co_return; });
    // An event, a pause longer than the read and idle timeouts, another event.
    router.AddStream("GET", "/api/slow", [](Request&, ResponseStream& out) { return Slow(out); });
    return router;
  }

  asio::awaitable<void> Three(ResponseStream& out) {
    const Status started = co_await out.StartEvents();
    if (!started) co_return;
    for (int i = 1; i <= 3; ++i) {
      co_await Gate(i - 1, out);
      const SseEvent event{std::to_string(i), "tick", "{\"n\":" + std::to_string(i) + "}"};
      const Status sent = co_await out.Send(event);
      if (!sent) co_return;
    }
    handler_ended_ = true;
  }

  asio::awaitable<void> Forever(ResponseStream& out) {
    const Status started = co_await out.StartEvents();
    if (!started) co_return;
    forever_started_ = true;
    for (;;) {
      const bool open = co_await out.Wait(50ms);
      if (!open) break;
      const Status sent = co_await out.Heartbeat();
      if (!sent) break;
    }
    handler_ended_ = true;
  }

  static asio::awaitable<void> Denied(ResponseStream& out) {
    Response r;
    r.status = 401;
    r.body = "{\"error\":{}}";
    const Status answered = co_await out.Respond(std::move(r));
    if (!answered) co_return;
    // Once answered, streaming is refused.
    const Status s = co_await out.StartEvents();
    if (s.ok() || s.error().code != ErrorCode::kInternal) throw std::logic_error("started twice");
  }

  static asio::awaitable<void> Slow(ResponseStream& out) {
    const Status started = co_await out.StartEvents();
    if (!started) co_return;
    const SseEvent before{"1", "", "before"};
    const SseEvent after{"2", "", "after"};
    (void)co_await out.Send(before);
    (void)co_await out.Wait(2500ms);
    (void)co_await out.Send(after);
  }

  void Start(ServerOptions options = {}) {
    server_ = std::make_unique<Server>(io_, MakeRouter(), RenderError, options);
    Result<tcp::endpoint> ep = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(ep.ok()) << ep.error().message;
    port_ = ep->port();
    thread_ = std::thread([this] { io_.run(); });
  }

  // Lets the handler past step `n`.
  void Release(int n) {
    asio::post(io_, [this, n] {
      released_ = n;
      gate_.cancel();
    });
  }

  size_t ActiveConnections() {
    std::promise<size_t> p;
    asio::post(io_, [&] { p.set_value(server_->active_connections()); });
    return p.get_future().get();
  }

  // Stops the server (from the loop) without waiting; `stopped_` is set by its `done`.
  void BeginStop() {
    asio::post(io_, [this] { server_->Stop([this] { stopped_ = true; }); });
  }

  void TearDown() override {
    if (!thread_.joinable()) return;
    BeginStop();
    EXPECT_TRUE(PollUntil([this] { return stopped_.load(); }, 10s));
    io_.stop();
    thread_.join();
  }

  asio::io_context io_;
  asio::steady_timer gate_;
  int released_ = 0;  // loop thread
  std::atomic<bool> handler_ended_{false};
  std::atomic<bool> forever_started_{false};
  std::atomic<bool> stopped_{false};
  std::unique_ptr<Server> server_;
  std::thread thread_;
  uint16_t port_ = 0;
};

TEST(SseFormatTest, IdEventAndOneDataLinePerLine) {
  EXPECT_EQ(FormatSseEvent(SseEvent{"7", "job.transition", "{\"a\":1}"}),
            "id: 7\nevent: job.transition\ndata: {\"a\":1}\n\n");
  EXPECT_EQ(FormatSseEvent(SseEvent{"", "", "a\nb\r\nc\rd"}),
            "data: a\ndata: b\ndata: c\ndata: d\n\n");
  EXPECT_EQ(FormatSseEvent(SseEvent{}), "data: \n\n");
}

TEST(SseFormatTest, LineBreaksCannotEndTheIdOrEventField) {
  EXPECT_EQ(FormatSseEvent(SseEvent{"1\n\ndata: x", "a\r\nb", "d"}),
            "id: 1data: x\nevent: ab\ndata: d\n\n");
}

TEST_F(StreamTest, SseEventsArriveOneByOneAsTheyAreSent) {
  Start();
  RawClient c(port_);
  c.Send(Get("/api/three", "Accept: text/event-stream\r\n"));
  std::optional<std::string> head = c.Head();
  ASSERT_TRUE(head) << "no response head";
  EXPECT_EQ(head->rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << *head;
  EXPECT_NE(head->find("Content-Type: text/event-stream\r\n"), std::string::npos) << *head;
  EXPECT_NE(head->find("Transfer-Encoding: chunked\r\n"), std::string::npos) << *head;
  EXPECT_NE(head->find("Cache-Control: no-store\r\n"), std::string::npos) << *head;
  EXPECT_EQ(head->find("Content-Length"), std::string::npos) << *head;

  // Each event is read while the handler still waits to send the next one.
  ASSERT_TRUE(c.BodyUntil("id: 1\nevent: tick\ndata: {\"n\":1}\n\n")) << c.body();
  EXPECT_EQ(c.body().find("id: 2"), std::string::npos);
  Release(1);
  ASSERT_TRUE(c.BodyUntil("id: 2\nevent: tick\ndata: {\"n\":2}\n\n")) << c.body();
  EXPECT_EQ(c.body().find("id: 3"), std::string::npos);
  Release(2);
  ASSERT_TRUE(c.EndsAndCloses()) << "the stream did not end with its last chunk and a close";
  EXPECT_EQ(c.body(),
            "id: 1\nevent: tick\ndata: {\"n\":1}\n\n"
            "id: 2\nevent: tick\ndata: {\"n\":2}\n\n"
            "id: 3\nevent: tick\ndata: {\"n\":3}\n\n");
  EXPECT_TRUE(handler_ended_);
  EXPECT_TRUE(PollUntil([this] { return ActiveConnections() == 0; }));
}

TEST_F(StreamTest, ClientLeavingEndsTheHandler) {
  Start();
  RawClient c(port_);
  c.Send(Get("/api/forever"));
  ASSERT_TRUE(c.Head());
  ASSERT_TRUE(c.BodyUntil(kSseHeartbeat)) << c.body();
  c.Close();
  EXPECT_TRUE(PollUntil([this] { return handler_ended_.load(); }));
  EXPECT_TRUE(PollUntil([this] { return ActiveConnections() == 0; }));
}

TEST_F(StreamTest, ServerStopEndsOpenStreams) {
  Start();
  RawClient c(port_);
  c.Send(Get("/api/forever"));
  ASSERT_TRUE(c.Head());
  ASSERT_TRUE(PollUntil([this] { return forever_started_.load(); }));
  BeginStop();
  EXPECT_TRUE(c.EndsAndCloses()) << "the stream did not end cleanly on Stop";
  EXPECT_TRUE(handler_ended_);
  EXPECT_TRUE(PollUntil([this] { return stopped_.load(); }));
}

// Neither the read timeout nor the keep-alive idle timeout cuts a live stream.
TEST_F(StreamTest, SessionTimeoutsDoNotCutAStream) {
  ServerOptions options;
  options.read_timeout = 1s;
  options.idle_timeout = 1s;
  Start(options);
  RawClient c(port_);
  c.Send(Get("/api/slow"));
  ASSERT_TRUE(c.Head());
  ASSERT_TRUE(c.BodyUntil("data: before\n\n"));
  ASSERT_TRUE(c.BodyUntil("data: after\n\n", 10s)) << c.body();
  EXPECT_TRUE(c.EndsAndCloses());
}

TEST_F(StreamTest, HandlerMayAnswerWithOneBufferedResponse) {
  Start();
  RawClient c(port_);
  c.Send(Get("/api/denied"));
  std::optional<std::string> head = c.Head();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->rfind("HTTP/1.1 401 Unauthorized\r\n", 0), 0u) << *head;
  EXPECT_NE(head->find("Content-Length: 12\r\n"), std::string::npos) << *head;
  EXPECT_NE(head->find("Connection: close\r\n"), std::string::npos) << *head;
  std::optional<std::string> body = c.RawUntilClosed();
  ASSERT_TRUE(body) << "the connection stayed open";
  EXPECT_EQ(*body, "{\"error\":{}}");
}

TEST_F(StreamTest, HandlerThatSendsNothingGets500) {
  Start();
  RawClient c(port_);
  c.Send(Get("/api/silent"));
  std::optional<std::string> head = c.Head();
  ASSERT_TRUE(head);
  EXPECT_EQ(head->rfind("HTTP/1.1 500 ", 0), 0u) << *head;
}

// A WebSocket upgrade on the same route: one text frame per event, then a normal close.
TEST_F(StreamTest, WebSocketGetsOneTextFramePerEvent) {
  Start();
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws(ioc);
  beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  beast::get_lowest_layer(ws).expires_after(5s);
  websocket::response_type upgrade;
  ws.handshake(upgrade, "127.0.0.1", "/api/three");
  EXPECT_EQ(upgrade.result_int(), 101u);
  EXPECT_FALSE(upgrade["X-Request-ID"].empty());
  for (int i = 1; i <= 3; ++i) {
    beast::flat_buffer buffer;
    beast::get_lowest_layer(ws).expires_after(5s);
    ws.read(buffer);
    EXPECT_TRUE(ws.got_text());
    EXPECT_EQ(beast::buffers_to_string(buffer.data()), "{\"n\":" + std::to_string(i) + "}");
    Release(i);
  }
  beast::flat_buffer buffer;
  boost::system::error_code ec;
  beast::get_lowest_layer(ws).expires_after(5s);
  ws.read(buffer, ec);
  EXPECT_EQ(ec, websocket::error::closed) << ec.message();
  EXPECT_EQ(ws.reason().code, websocket::close_code::normal);
  EXPECT_TRUE(handler_ended_);
  EXPECT_TRUE(PollUntil([this] { return ActiveConnections() == 0; }));
}

TEST_F(StreamTest, WebSocketClientLeavingEndsTheHandler) {
  Start();
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws(ioc);
  beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  beast::get_lowest_layer(ws).expires_after(5s);
  ws.handshake("127.0.0.1", "/api/forever");
  ASSERT_TRUE(PollUntil([this] { return forever_started_.load(); }));
  beast::get_lowest_layer(ws).close();
  EXPECT_TRUE(PollUntil([this] { return handler_ended_.load(); }));
  EXPECT_TRUE(PollUntil([this] { return ActiveConnections() == 0; }));
}

TEST(RouterStreamTest, HeadDoesNotFallBackToAStreamingGet) {
  Router router;
  router.AddStream("GET", "/api/events",
                   [](Request&, ResponseStream&) -> asio::awaitable<void> { co_return; });
  Request get;
  get.method = "GET";
  get.path = "/api/events";
  Result<RouteMatch> m = router.MatchRoute(get);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->handler, nullptr);
  EXPECT_NE(m->stream_handler, nullptr);
  Request head;
  head.method = "HEAD";
  head.path = "/api/events";
  Result<RouteMatch> h = router.MatchRoute(head);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code, ErrorCode::kMethodNotAllowed);
}

}  // namespace
}  // namespace overseer::http
