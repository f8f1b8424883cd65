#include "http/server.h"

// GCC 12 at -O1+ reports a false -Wmismatched-new-delete on Asio's awaitable frame
// allocator (its class-specific operator new/delete pair); see GCC PR 109224.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>

#include "common/fd_errors.h"
#include "common/ids.h"
#include "http/wire.h"

namespace overseer::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;  // NOLINT(readability-identifier-naming): Asio's name, as in its docs
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// How long a connection we are closing because of a bad request is drained, so the
// client reads our error response instead of a reset.
constexpr std::chrono::seconds kDrainTime{1};
// After a failed accept (out of descriptors, ...), the next try waits this long.
constexpr std::chrono::milliseconds kAcceptBackoff{100};
// A run of accept failures is logged once, then at most this often.
constexpr std::chrono::seconds kAcceptLogInterval{10};

// Logs an exception that escaped a spawned coroutine.
void LogEscaped(const std::exception_ptr& e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("http: {} ended with an exception: {}", what, ex.what());
  } catch (...) {
    spdlog::error("http: {} ended with an unknown exception", what);
  }
}

std::string_view ToStd(beast::string_view v) { return std::string_view(v.data(), v.size()); }

// The raw path of a target (before '?'), for the access log: never the query string.
std::string_view RawPath(std::string_view target) { return target.substr(0, target.find('?')); }

// True if the header section `header` (through its final CRLFCRLF) has an obs-fold: a
// line after the start line that begins with SP or HTAB (RFC 9112 §5.2). Beast would
// unfold it; we refuse it, as an intermediary might read such a header differently.
bool HasObsFold(std::string_view header) {
  for (size_t i = header.find("\r\n"); i != std::string_view::npos && i + 2 < header.size();
       i = header.find("\r\n", i + 2)) {
    if (header[i + 2] == ' ' || header[i + 2] == '\t') return true;
  }
  return false;
}

// True if `header` (a header section or the start of one) holds a CR not followed by LF
// or an LF not preceded by CR at or after `from` (a trailing CR may await its LF).
bool HasBareCrOrLf(std::string_view header, size_t from) {
  for (size_t i = header.find_first_of("\r\n", from); i != std::string_view::npos;
       i = header.find_first_of("\r\n", i + 1)) {
    if (header[i] == '\r') {
      if (i + 1 < header.size() && header[i + 1] != '\n') return true;
    } else if (i == 0 || header[i - 1] != '\r') {
      return true;
    }
  }
  return false;
}

Error FramingError(std::string message) {
  return MakeError(ErrorCode::kInvalidRequest, std::move(message));
}

// The error for a request Beast could not parse (an error of Beast's http category).
Error ParseError(const boost::system::error_code& ec, const ServerOptions& options) {
  Error err;
  if (ec == bhttp::error::body_limit) {
    err = MakeError(ErrorCode::kPayloadTooLarge, "request body too large");
    err.With("limit_bytes", static_cast<int64_t>(options.body_limit));
  } else if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
    err = MakeError(ErrorCode::kPayloadTooLarge, "request headers too large");
    err.With("what", "headers");
    err.With("limit_bytes", static_cast<int64_t>(options.header_limit));
  } else if (ec == bhttp::error::bad_transfer_encoding) {
    err = FramingError(
        "invalid Transfer-Encoding: it may appear once, only as 'chunked', and never with "
        "Content-Length");
    err.With("header", "Transfer-Encoding");
  } else if (ec == bhttp::error::bad_content_length) {
    err = FramingError(
        "invalid Content-Length: it must be one decimal number, and never come with "
        "Transfer-Encoding");
    err.With("header", "Content-Length");
  } else if (ec == bhttp::error::multiple_content_length) {
    err = FramingError("conflicting Content-Length values");
    err.With("header", "Content-Length");
  } else if (ec == bhttp::error::bad_chunk || ec == bhttp::error::bad_chunk_extension) {
    err = FramingError("malformed chunked request body");
  } else {
    err = FramingError("malformed HTTP request: " + ec.message());
  }
  return err;
}

}  // namespace

struct Server::SessionState {
  beast::tcp_stream* stream = nullptr;  // set once the session coroutine runs
  bool idle = false;                    // waiting for the first byte of a request
  ResponseStream* out = nullptr;        // while a streaming handler runs
};

// Unregisters a session on every exit path, also when the io_context destroys the frame
// after the Server is gone (then `alive` is false and the server is not touched). A
// refused connection held the spare descriptor: it is reserved again.
struct Server::SessionGuard {
  Server* server;
  std::list<SessionState>::iterator it;
  std::shared_ptr<bool> alive;
  bool took_spare = false;
  ~SessionGuard() {
    if (!*alive) return;
    server->sessions_.erase(it);
    try {
      if (took_spare) server->ReserveSpareFd();
      server->MaybeFinishStop();
    } catch (...) {  // posting `done` failed (out of memory): nothing sensible to do
      spdlog::error("http: could not finish Stop");
    }
  }
};

Server::Server(asio::io_context& io, Router router, ErrorRenderer render_error,
               ServerOptions options)
    : io_(io),
      router_(std::move(router)),
      render_error_(std::move(render_error)),
      options_(options),
      acceptor_(io),
      alive_(std::make_shared<bool>(true)),
      id_prefix_("req_" + RandomHex(4)) {
  access_log_ = spdlog::get("access");
  if (!access_log_) access_log_ = spdlog::default_logger();
  if (options_.metrics != nullptr) {
    static constexpr const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    for (size_t i = 0; i < requests_by_class_.size(); ++i) {
      requests_by_class_[i] = &options_.metrics->GetCounter("overseer_http_requests_total",
                                                            "HTTP responses sent, by status class.",
                                                            {{"class", kClasses[i]}});
    }
    request_seconds_ = &options_.metrics->GetHistogram(
        "overseer_http_request_duration_seconds",
        "Time from a request read to its response written (streams excluded).",
        {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
  }
}

void Server::RecordRequest(unsigned status, double seconds) {
  if (request_seconds_ == nullptr) return;
  const unsigned cls = status / 100;
  if (cls >= 1 && cls <= 5) requests_by_class_[cls - 1]->Add();
  if (seconds >= 0) request_seconds_->Observe(seconds);
}

Server::~Server() {
  *alive_ = false;
  boost::system::error_code ec;
  acceptor_.close(ec);
  ReleaseSpareFd();
}

void Server::ReserveSpareFd() {
  if (spare_fd_ >= 0 || stopping_ || !acceptor_.is_open()) return;
  spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // -1: tried again later
}

void Server::ReleaseSpareFd() {
  if (spare_fd_ < 0) return;
  ::close(spare_fd_);
  spare_fd_ = -1;
}

Result<tcp::endpoint> Server::Listen(const std::string& host, uint16_t port) {
  if (accepting_ || stopping_) return MakeError(ErrorCode::kInternal, "server already listening");
  // Loggers are usually configured by now; pick up the current ones.
  if (auto log = spdlog::get("access")) {
    access_log_ = std::move(log);
  } else {
    access_log_ = spdlog::default_logger();
  }
  boost::system::error_code ec;
  tcp::endpoint endpoint;
  const asio::ip::address addr = asio::ip::make_address(host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(addr, port);
  } else {
    tcp::resolver resolver(io_);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) {
      return MakeError(ErrorCode::kInvalidRequest,
                       "cannot resolve listen address '" + host + "': " + ec.message());
    }
    endpoint = results.begin()->endpoint();
  }
  const std::string where = host + ":" + std::to_string(port);
  auto fail = [&](const char* step) -> Error {
    std::string msg = "cannot listen on " + where + " (" + step + "): " + ec.message();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return MakeError(ErrorCode::kUnavailable, std::move(msg));
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("setsockopt");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  tcp::endpoint bound = acceptor_.local_endpoint(ec);
  if (ec) return fail("getsockname");
  // Non-blocking, so that the synchronous accept in RefuseOneWithSpare never waits.
  acceptor_.non_blocking(true, ec);
  if (ec) return fail("non-blocking");
  accepting_ = true;
  ReserveSpareFd();
  asio::co_spawn(io_, AcceptLoop(),
                 [](const std::exception_ptr& e) { LogEscaped(e, "accept loop"); });
  return bound;
}

void Server::Stop(std::function<void()> done) {
  stopping_ = true;
  if (stop_done_ && done) {  // a second Stop before the first finished: call both
    stop_done_ = [first = std::move(stop_done_), second = std::move(done)] {
      first();
      second();
    };
  } else if (done) {
    stop_done_ = std::move(done);
  }
  boost::system::error_code ec;
  acceptor_.close(ec);  // the accept loop ends with operation_aborted; connects are refused
  ReleaseSpareFd();
  for (SessionState& s : sessions_) {
    if (s.idle && s.stream != nullptr) s.stream->cancel();
    if (s.out != nullptr) s.out->Close();
  }
  MaybeFinishStop();
}

void Server::MaybeFinishStop() {
  if (!stopping_ || accepting_ || !sessions_.empty() || !stop_done_) return;
  asio::post(io_, std::exchange(stop_done_, nullptr));
}

std::string Server::NextRequestId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  id.reserve(id_prefix_.size() + 12);
  id += id_prefix_;
  const uint64_t n = ++id_counter_;
  for (int shift = 44; shift >= 0; shift -= 4) id += kHex[(n >> shift) & 0xf];
  return id;
}

void Server::LogAcceptFailure(const boost::system::error_code& ec) {
  ++accept_failures_;
  ++accept_unlogged_;
  const auto now = std::chrono::steady_clock::now();
  if (accept_failures_ != 1 && now - accept_logged_at_ < kAcceptLogInterval) return;
  const bool out_of_fds =
      ec.category() == boost::system::system_category() && IsOutOfFds(ec.value());
  const std::string what = out_of_fds ? OutOfFdsMessage(ec.value(),
                                                        "cannot accept connections; new ones are "
                                                        "answered 503 until descriptors free up")
                                      : ec.message();
  if (accept_failures_ == 1) {
    spdlog::warn("http: accept failed: {}", what);
  } else {
    spdlog::warn("http: accept failed: {} ({} failures in the last {} s)", what, accept_unlogged_,
                 std::chrono::duration_cast<std::chrono::seconds>(now - accept_logged_at_).count());
  }
  accept_logged_at_ = now;
  accept_unlogged_ = 0;
}

bool Server::RefuseOneWithSpare(int err) {
  if (spare_fd_ < 0 || stopping_) return false;
  ReleaseSpareFd();
  boost::system::error_code ec;
  tcp::socket socket(io_);
  acceptor_.accept(socket, ec);
  if (ec) {  // nothing waiting after all (or still no descriptor): keep the spare
    ReserveSpareFd();
    return false;
  }
  sessions_.emplace_back();
  auto self = std::prev(sessions_.end());
  Error error = OutOfFdsError(err, "the server cannot take more connections now");
  asio::co_spawn(io_, RefuseSession(std::move(socket), self, std::move(error)),
                 [](const std::exception_ptr& e) { LogEscaped(e, "http session"); });
  return true;
}

asio::awaitable<void> Server::AcceptLoop() {
  while (acceptor_.is_open()) {
    ReserveSpareFd();
    auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor_.is_open()) break;
      LogAcceptFailure(ec);
      const bool out_of_fds =
          ec.category() == boost::system::system_category() && IsOutOfFds(ec.value());
      // Out of descriptors, the connection stays in the backlog: tell it why (with the
      // spare descriptor) rather than leave it hanging. Either way, back off briefly
      // instead of spinning on a failure that repeats at once.
      if (out_of_fds) RefuseOneWithSpare(ec.value());
      asio::steady_timer backoff(io_, kAcceptBackoff);
      co_await backoff.async_wait(kTuple);
      continue;
    }
    if (accept_failures_ != 0) {
      spdlog::info("http: accepting connections again (after {} failed accepts)", accept_failures_);
      accept_failures_ = 0;
      accept_unlogged_ = 0;
    }
    if (stopping_ || sessions_.size() >= options_.max_connections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    // Registered before the coroutine starts so Stop never misses it.
    sessions_.emplace_back();
    auto self = std::prev(sessions_.end());
    asio::co_spawn(io_, RunSession(std::move(socket), self),
                   [](const std::exception_ptr& e) { LogEscaped(e, "http session"); });
  }
  accepting_ = false;
  MaybeFinishStop();
}

asio::awaitable<void> Server::RefuseSession(tcp::socket socket,
                                            std::list<SessionState>::iterator self, Error error) {
  SessionGuard guard{this, self, alive_, /*took_spare=*/true};
  beast::tcp_stream stream(std::move(socket));
  self->stream = &stream;
  boost::system::error_code ec;
  std::string remote;
  {
    const tcp::endpoint ep = stream.socket().remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  Request req;
  req.remote = remote;
  req.request_id = NextRequestId();
  const Response res = render_error_(error, req);
  std::string head;
  SerializeHead(req, res, /*keep_alive=*/false, /*api=*/true, res.body.size(), head);
  // The request is not read: the answer does not depend on it. Written at once, then the
  // connection is half-closed and drained briefly so the client reads it, not a reset.
  stream.expires_after(kDrainTime);
  const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(res.body)};
  auto [wec, wn] = co_await asio::async_write(stream, buffers, kTuple);
  access_log_->info("- - {} {}B 0us id={} remote={} (refused: {})", res.status, res.body.size(),
                    req.request_id, remote, error.message);
  RecordRequest(res.status, -1);
  if (!wec) {
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    beast::flat_buffer buffer;
    for (;;) {
      buffer.clear();
      auto [dec, dn] = co_await stream.async_read_some(buffer.prepare(size_t{16} * 1024), kTuple);
      if (dec) break;
    }
  }
  stream.close();
}

asio::awaitable<void> Server::RunStreamHandler(const StreamHandler& handler, Request& req,
                                               ResponseStream& out) {
  const std::string_view log_path = RawPath(req.target);
  try {
    co_await handler(req, out);
  } catch (const std::exception& e) {
    spdlog::error("http: streaming handler for {} {} threw (request id {}): {}", req.method,
                  log_path, req.request_id, e.what());
  } catch (...) {
    spdlog::error("http: streaming handler for {} {} threw a non-exception (request id {})",
                  req.method, log_path, req.request_id);
  }
  if (!out.started()) {
    // Nothing was sent: the server stopped before the stream began, or a handler bug.
    Error err =
        out.open() ? MakeError(ErrorCode::kInternal, "internal error; request id " + req.request_id)
                   : MakeError(ErrorCode::kUnavailable, "the server is stopping");
    Response res = render_error_(err, req);
    (void)co_await out.Respond(std::move(res));
  }
  co_await out.Finish();
}

asio::awaitable<void> Server::RunStream(beast::tcp_stream& stream,
                                        std::list<SessionState>::iterator self, Request& req,
                                        const StreamHandler& handler) {
  using boost::asio::experimental::awaitable_operators::operator&&;
  const auto start = std::chrono::steady_clock::now();
  ResponseStream out(stream, req, options_.idle_timeout);
  self->out = &out;
  if (stopping_) out.Close();
  // The handler, and beside it the watch for the client leaving; both end once the
  // handler returned (Finish stops the watch).
  co_await (RunStreamHandler(handler, req, out) && out.Watch());
  self->out = nullptr;
  RecordRequest(out.status(), -1);
  if (access_log_->should_log(spdlog::level::info)) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    access_log_->info("{} {} {} {}B {}us id={} remote={} (stream)", req.method, RawPath(req.target),
                      out.status(), out.body_bytes(), us, req.request_id, req.remote);
  }
}

asio::awaitable<void> Server::RunSession(tcp::socket socket,
                                         std::list<SessionState>::iterator self) {
  SessionGuard guard{this, self, alive_};

  beast::tcp_stream stream(std::move(socket));
  self->stream = &stream;
  boost::system::error_code ec;
  stream.socket().set_option(tcp::no_delay(true), ec);
  std::string remote;
  {
    const tcp::endpoint ep = stream.socket().remote_endpoint(ec);
    if (!ec) remote = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  beast::flat_buffer buffer;
  buffer.reserve(4096);
  std::string head;  // the serialized response head, reused
  head.reserve(512);
  bool first = true;
  const auto header_limit = static_cast<std::uint32_t>(
      std::min<size_t>(options_.header_limit, std::numeric_limits<std::uint32_t>::max()));

  for (;;) {
    // Phase 1: wait for the first byte of the next request (idle, closable by Stop).
    if (buffer.size() == 0) {
      if (stopping_) break;
      self->idle = true;
      stream.expires_after(first ? options_.read_timeout : options_.idle_timeout);
      auto [rec, n] = co_await stream.async_read_some(buffer.prepare(4096), kTuple);
      self->idle = false;
      if (rec) break;  // peer closed, idle timeout, or Stop
      buffer.commit(n);
    }
    first = false;

    // Phase 2: the whole request within read_timeout. The header section is read whole
    // before Beast parses it, so it can be checked for obs-fold first; then its framing
    // headers are checked (CheckFraming) before any body byte is read.
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(header_limit);
    parser.body_limit(static_cast<std::uint64_t>(options_.body_limit));
    stream.expires_after(options_.read_timeout);
    boost::system::error_code pec;
    std::optional<Error> refused;  // answered, then the connection is closed
    for (size_t scanned = 0;;) {
      const std::string_view data(static_cast<const char*>(buffer.data().data()), buffer.size());
      const size_t eom = data.find("\r\n\r\n", scanned);
      // Beast refuses a bare CR or LF anywhere in a header section; refuse it now rather
      // than wait for a CRLFCRLF that may never come.
      if (HasBareCrOrLf(data.substr(0, eom == std::string_view::npos ? data.size() : eom + 4),
                        scanned)) {
        refused = FramingError("bare CR or LF in the request header (lines must end in CRLF)");
        break;
      }
      if (eom != std::string_view::npos) {
        if (HasObsFold(data.substr(0, eom + 4))) {
          refused = FramingError(
              "obsolete line folding (a header line starting with a space or "
              "tab) is not accepted");
          break;
        }
        buffer.consume(parser.put(buffer.data(), pec));
        if (!pec && !parser.is_header_done()) pec = bhttp::error::need_more;  // cannot happen
        break;
      }
      if (data.size() >= header_limit) {
        pec = bhttp::error::header_limit;
        break;
      }
      scanned = data.size() < 3 ? 0 : data.size() - 3;
      auto [rec, n] = co_await stream.async_read_some(buffer.prepare(8192), kTuple);
      if (rec == asio::error::eof) {
        pec = bhttp::error::partial_message;
        break;
      }
      if (rec) {
        pec = rec;
        break;
      }
      buffer.commit(n);
    }
    if (!refused && !pec) {
      auto& msg = parser.get();
      if (Status framing = CheckFraming(msg, msg.version()); !framing) {
        refused = std::move(framing).error();
      } else if (msg.count(bhttp::field::transfer_encoding) != 0 && !parser.chunked()) {
        refused = FramingError("unsupported Transfer-Encoding");  // CheckFraming covers it
      }
    }
    if (!refused && !pec && !parser.is_done()) {
      const auto expect = parser.get()[bhttp::field::expect];
      if (beast::iequals(expect, "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        auto [cec, cn] = co_await asio::async_write(
            stream, asio::buffer(kContinue.data(), kContinue.size()), kTuple);
        if (cec) break;
      }
      auto [bec, bn] = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      pec = bec;
    }
    const auto start = std::chrono::steady_clock::now();

    Request req;
    req.remote = remote;
    Response res;
    bool keep_alive = false;
    bool drain = false;  // we answer before reading all the client sent
    std::string_view log_path = "-";

    if (pec && !refused) {
      // Timeouts, resets and a peer closing mid-request end the connection silently.
      if (pec.category() != bhttp::make_error_code(bhttp::error::bad_method).category() ||
          pec == bhttp::error::end_of_stream || pec == bhttp::error::partial_message ||
          pec == bhttp::error::short_read) {
        break;
      }
      refused = ParseError(pec, options_);
    }
    if (refused) {
      if (parser.is_header_done()) {
        auto& msg = parser.get();
        req.method = std::string(ToStd(msg.method_string()));
        req.target = std::string(ToStd(msg.target()));
        req.version = msg.version();
        req.headers = std::move(static_cast<bhttp::fields&>(msg));
        log_path = RawPath(req.target);
      }
      const std::string_view rid = req.Header("X-Request-ID");
      req.request_id = IsValidRequestId(rid) ? std::string(rid) : NextRequestId();
      res = render_error_(*refused, req);
      drain = true;
    } else {
      auto& msg = parser.get();
      keep_alive = msg.keep_alive();
      req.method = std::string(ToStd(msg.method_string()));
      req.target = std::string(ToStd(msg.target()));
      req.version = msg.version();
      req.body = std::move(msg.body());
      req.headers = std::move(static_cast<bhttp::fields&>(msg));
      const std::string_view rid = req.Header("X-Request-ID");
      req.request_id = IsValidRequestId(rid) ? std::string(rid) : NextRequestId();
      log_path = RawPath(req.target);

      const std::string_view target = req.target;
      const size_t qmark = target.find('?');
      Status parsed = OkStatus();
      if (target.empty() || target.front() != '/') {
        parsed = MakeError(ErrorCode::kInvalidRequest, "request target must be an absolute path");
      } else if (Result<std::string> path = DecodePath(target.substr(0, qmark)); !path) {
        parsed = std::move(path).error();
      } else {
        req.path = std::move(*path);
        if (qmark != std::string_view::npos)
          parsed = ParseQuery(target.substr(qmark + 1), req.query);
      }

      bool threw = false;
      if (!parsed) {
        res = render_error_(parsed.error(), req);
      } else if (Result<RouteMatch> match = router_.MatchRoute(req); !match) {
        res = render_error_(match.error(), req);
        if (match.error().code == ErrorCode::kMethodNotAllowed) {
          for (const auto& [k, v] : match.error().details) {
            if (k == "allowed" && std::holds_alternative<std::string>(v)) {
              res.headers.emplace_back("Allow", std::get<std::string>(v));
            }
          }
        }
      } else if (match->options.require_json_body && !req.body.empty() &&
                 !IsJsonContentType(req.Header("Content-Type"))) {
        Error err =
            MakeError(ErrorCode::kUnsupportedMediaType, "Content-Type must be application/json");
        res = render_error_(err, req);
      } else if (match->stream_handler != nullptr) {
        co_await RunStream(stream, self, req, *match->stream_handler);
        break;  // a streamed response ends the connection
      } else {
        try {
          res = co_await (*match->handler)(req);
        } catch (const std::exception& e) {
          threw = true;
          spdlog::error("http: handler for {} {} threw (request id {}): {}", req.method, log_path,
                        req.request_id, e.what());
        } catch (...) {
          threw = true;
          spdlog::error("http: handler for {} {} threw a non-exception (request id {})", req.method,
                        log_path, req.request_id);
        }
      }
      if (threw) {
        res = render_error_(
            MakeError(ErrorCode::kInternal, "internal error; request id " + req.request_id), req);
      }
      if (res.status < 100 || res.status > 999) {
        spdlog::error("http: handler for {} {} returned status {} (request id {})", req.method,
                      log_path, res.status, req.request_id);
        res = render_error_(
            MakeError(ErrorCode::kInternal, "internal error; request id " + req.request_id), req);
      }
    }

    // Write the response: the head is serialized by hand into a reused string (cheaper
    // than Beast's serializer), the body goes out as a second buffer.
    const bool keep = keep_alive && !drain && !stopping_;
    const size_t body_bytes = res.body.size();
    SerializeHead(req, res, keep, IsApiPath(req.path), body_bytes, head);
    stream.expires_after(options_.idle_timeout);
    boost::system::error_code wec;
    if (req.method == "HEAD") {  // headers as for GET, no body
      auto [hwec, hwn] = co_await asio::async_write(stream, asio::buffer(head), kTuple);
      wec = hwec;
    } else {
      const std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(res.body)};
      auto [bwec, bwn] = co_await asio::async_write(stream, buffers, kTuple);
      wec = bwec;
    }

    if (request_seconds_ != nullptr || access_log_->should_log(spdlog::level::info)) {
      const auto elapsed = std::chrono::steady_clock::now() - start;
      RecordRequest(res.status, std::chrono::duration<double>(elapsed).count());
      const auto us = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
      access_log_->info("{} {} {} {}B {}us id={} remote={}", req.method.empty() ? "-" : req.method,
                        log_path, res.status, body_bytes, us, req.request_id, remote);
    }
    if (wec) break;
    if (drain) {
      // Half-close and discard what the client still sends, briefly, so it sees the
      // response rather than a connection reset.
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
      stream.expires_after(kDrainTime);
      for (;;) {
        buffer.clear();
        auto [dec, dn] = co_await stream.async_read_some(buffer.prepare(size_t{16} * 1024), kTuple);
        if (dec) break;
      }
      break;
    }
    if (!keep) break;
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.close();
}

}  // namespace overseer::http
