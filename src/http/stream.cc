#include "http/stream.h"

// GCC 12 at -O1+ reports a false -Wmismatched-new-delete on Asio's awaitable frame
// allocator (its class-specific operator new/delete pair); see GCC PR 109224.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <array>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/beast/websocket.hpp>
#include <optional>
#include <utility>

#include "common/check.h"
#include "http/wire.h"

namespace overseer::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace websocket = boost::beast::websocket;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// The longest message a WebSocket client may send us (they are read and dropped).
constexpr size_t kWebSocketReadMax = 64 * 1024;
// How long the WebSocket closing handshake may take before the socket is just closed.
constexpr std::chrono::seconds kWebSocketCloseTimeout{2};

// `s` without CR, LF and NUL.
std::string FieldText(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '\r' && c != '\n' && c != '\0') out += c;
  }
  return out;
}

Error Gone() { return MakeError(ErrorCode::kUnavailable, "the stream is closed"); }

Error Misuse(std::string what) { return MakeError(ErrorCode::kInternal, std::move(what)); }

}  // namespace

std::string FormatSseEvent(const SseEvent& event) {
  std::string out;
  out.reserve(event.data.size() + event.id.size() + event.event.size() + 32);
  if (!event.id.empty()) out += "id: " + FieldText(event.id) + "\n";
  if (!event.event.empty()) out += "event: " + FieldText(event.event) + "\n";
  std::string_view rest = event.data;
  for (;;) {
    const size_t eol = rest.find_first_of("\r\n");
    out += "data: ";
    out += rest.substr(0, eol);
    out += '\n';
    if (eol == std::string_view::npos) break;
    const bool crlf = rest[eol] == '\r' && eol + 1 < rest.size() && rest[eol + 1] == '\n';
    rest.remove_prefix(eol + (crlf ? 2 : 1));
  }
  out += '\n';
  return out;
}

struct ResponseStream::WebSocketState {
  explicit WebSocketState(beast::tcp_stream& stream) : ws(stream) {}
  websocket::stream<beast::tcp_stream&> ws;
  beast::flat_buffer read_buffer;
};

ResponseStream::ResponseStream(beast::tcp_stream& stream, const Request& request,
                               std::chrono::steady_clock::duration write_timeout)
    : stream_(stream),
      req_(request),
      write_timeout_(write_timeout),
      started_signal_(stream.get_executor()) {
  started_signal_.expires_at(asio::steady_timer::time_point::max());
}

ResponseStream::~ResponseStream() = default;

bool ResponseStream::websocket_requested() const {
  if (req_.method != "GET") return false;
  auto has_token = [](std::string_view list, std::string_view token) {
    while (!list.empty()) {
      const size_t comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (beast::iequals(item, token)) return true;
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
    return false;
  };
  return has_token(req_.Header("Connection"), "upgrade") &&
         has_token(req_.Header("Upgrade"), "websocket");
}

bool ResponseStream::websocket() const { return ws_ != nullptr; }

Status ResponseStream::Closed() const { return Gone(); }

void ResponseStream::MarkClosed() {
  closed_ = true;
  for (asio::steady_timer* t : waiters_) t->cancel();
}

void ResponseStream::Close() { MarkClosed(); }

asio::awaitable<Status> ResponseStream::WriteRaw(std::string_view a, std::string_view b,
                                                 std::string_view c) {
  OVERSEER_CHECK(!writing_);  // one write at a time (see the header)
  if (client_gone_) co_return Gone();
  writing_ = true;
  stream_.expires_after(write_timeout_);
  const std::array<asio::const_buffer, 3> buffers{asio::buffer(a.data(), a.size()),
                                                  asio::buffer(b.data(), b.size()),
                                                  asio::buffer(c.data(), c.size())};
  auto [ec, n] = co_await asio::async_write(stream_, buffers, kTuple);
  writing_ = false;
  if (ec) {
    client_gone_ = true;
    MarkClosed();
    co_return Gone();
  }
  co_return OkStatus();
}

asio::awaitable<Status> ResponseStream::Respond(Response response) {
  if (started()) co_return Misuse("a response was already sent");
  responded_ = true;
  status_ = response.status;
  SerializeHead(req_, response, /*keep_alive=*/false, IsApiPath(req_.path), response.body.size(),
                scratch_);
  const std::string head = std::move(scratch_);
  Status s = co_await WriteRaw(head, req_.method == "HEAD" ? std::string_view() : response.body);
  if (s) body_bytes_ += response.body.size();
  co_return s;
}

asio::awaitable<Status> ResponseStream::Start(Response head) {
  if (started()) co_return Misuse("a response was already sent");
  if (closed_) co_return Gone();
  started_ = true;
  status_ = head.status;
  chunked_ = req_.version != 10;
  SerializeHead(req_, head, /*keep_alive=*/false, IsApiPath(req_.path), std::nullopt, scratch_);
  const std::string wire_head = std::move(scratch_);
  watching_ = true;
  started_signal_.cancel();  // Watch starts reading
  Status s = co_await WriteRaw(wire_head);
  if (!s) co_return s;
  co_return co_await Write(head.body);
}

asio::awaitable<Status> ResponseStream::Write(std::string_view data) {
  if (!started_ || ws_ != nullptr) co_return Misuse("Write needs a started, non-WebSocket stream");
  if (closed_) co_return Gone();
  if (data.empty()) co_return OkStatus();
  Status s = OkStatus();
  if (chunked_) {
    static constexpr char kHex[] = "0123456789abcdef";
    char size_line[20];
    size_t i = sizeof(size_line);
    size_line[--i] = '\n';
    size_line[--i] = '\r';
    for (size_t n = data.size(); n != 0; n >>= 4) size_line[--i] = kHex[n & 0xf];
    s = co_await WriteRaw(std::string_view(size_line + i, sizeof(size_line) - i), data, "\r\n");
  } else {
    s = co_await WriteRaw(data);
  }
  if (s) body_bytes_ += data.size();
  co_return s;
}

asio::awaitable<Status> ResponseStream::StartEvents(
    std::vector<std::pair<std::string, std::string>> extra_headers) {
  if (started()) co_return Misuse("a response was already sent");
  if (closed_) co_return Gone();
  if (!websocket_requested()) {
    Response head;
    head.status = 200;
    head.content_type = "text/event-stream";
    head.headers = std::move(extra_headers);
    head.headers.emplace_back("X-Accel-Buffering", "no");  // no proxy buffering
    co_return co_await Start(std::move(head));
  }
  // The upgrade request, rebuilt for Beast from what the session parsed.
  bhttp::request<bhttp::empty_body> upgrade;
  upgrade.method_string(req_.method);
  upgrade.target(req_.target);
  upgrade.version(req_.version);
  for (const auto& field : req_.headers) upgrade.insert(field.name_string(), field.value());
  started_ = true;
  status_ = 101;
  ws_ = std::make_unique<WebSocketState>(stream_);
  websocket::stream<beast::tcp_stream&>& ws = ws_->ws;
  stream_.expires_never();  // the WebSocket has its own timeouts
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = write_timeout_;
  timeouts.idle_timeout = write_timeout_;  // pinged at half of it; closed if nothing comes back
  timeouts.keep_alive_pings = true;
  ws.set_option(timeouts);
  ws.read_message_max(kWebSocketReadMax);
  ws.set_option(websocket::stream_base::decorator(
      [request_id = req_.request_id,
       extra = std::move(extra_headers)](websocket::response_type& r) {
        r.set(bhttp::field::server, "overseer");
        r.set("X-Request-ID", request_id);
        for (const auto& [k, v] : extra) {
          if (SafeHeaderText(k) && SafeHeaderText(v)) r.set(k, v);
        }
      }));
  writing_ = true;
  auto [ec] = co_await ws.async_accept(upgrade, kTuple);
  writing_ = false;
  if (ec) {
    client_gone_ = true;
    MarkClosed();
    co_return Gone();
  }
  ws.text(true);
  watching_ = true;
  started_signal_.cancel();  // Watch starts reading frames
  co_return OkStatus();
}

asio::awaitable<Status> ResponseStream::Send(const SseEvent& event) {
  if (ws_ == nullptr) {
    // A named local: GCC 12 mishandles temporaries with destructors in co_await expressions.
    const std::string text = FormatSseEvent(event);
    co_return co_await Write(text);
  }
  if (closed_) co_return Gone();
  OVERSEER_CHECK(!writing_);
  writing_ = true;
  auto [ec, n] = co_await ws_->ws.async_write(asio::buffer(event.data), kTuple);
  writing_ = false;
  if (ec) {
    client_gone_ = true;
    MarkClosed();
    co_return Gone();
  }
  body_bytes_ += event.data.size();
  co_return OkStatus();
}

asio::awaitable<Status> ResponseStream::Heartbeat() {
  if (ws_ == nullptr) co_return co_await Write(kSseHeartbeat);
  if (closed_) co_return Gone();
  OVERSEER_CHECK(!writing_);
  writing_ = true;
  auto [ec] = co_await ws_->ws.async_ping({}, kTuple);
  writing_ = false;
  if (ec) {
    client_gone_ = true;
    MarkClosed();
    co_return Gone();
  }
  co_return OkStatus();
}

asio::awaitable<bool> ResponseStream::Wait(std::chrono::steady_clock::duration duration) {
  if (closed_) co_return false;
  asio::steady_timer timer(stream_.get_executor(), duration);
  waiters_.push_back(&timer);
  struct Unregister {
    std::vector<asio::steady_timer*>& list;
    asio::steady_timer* timer;
    ~Unregister() { std::erase(list, timer); }
  } unregister{waiters_, &timer};
  (void)co_await timer.async_wait(kTuple);
  co_return open();
}

asio::awaitable<void> ResponseStream::Watch() {
  // Nothing to watch until streaming starts: before that the handler computes its answer
  // like a buffered one.
  while (!watching_ && !finished_) (void)co_await started_signal_.async_wait(kTuple);
  if (finished_) co_return;
  if (ws_ != nullptr) {
    // Frames from the client are read (pings and the close handshake are answered inside)
    // and dropped.
    for (;;) {
      ws_->read_buffer.clear();
      auto [ec, n] = co_await ws_->ws.async_read(ws_->read_buffer, kTuple);
      if (ec) break;
    }
  } else {
    // Whatever the client sends now is dropped (the connection closes after the stream):
    // only its leaving matters. The raw socket, so no session timeout applies.
    std::array<char, 4096> sink;
    for (;;) {
      auto [ec, n] = co_await stream_.socket().async_read_some(asio::buffer(sink), kTuple);
      if (ec) break;
    }
  }
  if (!finished_) client_gone_ = true;
  MarkClosed();
}

asio::awaitable<void> ResponseStream::Finish() {
  finished_ = true;
  started_signal_.cancel();
  if (!watching_) co_return;  // nothing streamed (Respond, or a failed start)
  if (!client_gone_) {
    if (ws_ != nullptr) {
      websocket::stream_base::timeout timeouts{};
      timeouts.handshake_timeout = kWebSocketCloseTimeout;
      timeouts.idle_timeout = websocket::stream_base::none();
      timeouts.keep_alive_pings = false;
      ws_->ws.set_option(timeouts);
      auto [ec] = co_await ws_->ws.async_close(websocket::close_code::normal, kTuple);
      (void)ec;
    } else if (chunked_) {
      (void)co_await WriteRaw("0\r\n\r\n");
    }
  }
  MarkClosed();
  boost::system::error_code ec;
  stream_.socket().cancel(ec);  // ends Watch's read, if still pending
}

}  // namespace overseer::http
