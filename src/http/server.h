// Server: the HTTP/1.x listener. A coroutine per connection with keep-alive, one
// request at a time per connection (pipelining-safe), size limits and read/idle
// timeouts, request ids, an access log line per request (spdlog logger "access", or
// the default logger), and graceful Stop.
//
// Running out of file descriptors (EMFILE/ENFILE) on accept: the connection waiting is
// accepted with a descriptor held in reserve and answered 503 UNAVAILABLE ("out of file
// descriptors ...", Retry-After from the renderer), one at a time; the failure is logged
// once and then at most every 10 s; accepting resumes by itself once descriptors free up.
//
// A streaming route (Router::AddStream) gets a ResponseStream instead of returning a
// Response: read and idle timeouts stop applying once its handler runs, the connection is
// watched for the client leaving, and it is closed after the handler returns.
//
// Thread rule: everything runs on the one thread that runs `io`. Construct, Listen,
// Stop and active_connections from that thread (or before it runs). The Server must
// outlive its sessions: destroy it only after Stop's `done` ran or `io` stopped running.
#pragma once

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <utility>

#include "common/metrics.h"
#include "common/result.h"
#include "http/request.h"
#include "http/router.h"
#include "http/stream.h"

namespace spdlog {
class logger;
}

namespace overseer::http {

// Turns an Error into the SPEC §4 response; provided by the api layer (which owns the
// error -> status table). The server uses it for 400, 404, 405, 413, 415 and 500.
using ErrorRenderer = std::function<Response(const Error&, const Request&)>;

struct ServerOptions {
  size_t body_limit = 1 << 20;            // larger -> 413 PAYLOAD_TOO_LARGE {limit_bytes}
  size_t header_limit = 16 * 1024;        // larger -> 413 {what: "headers", limit_bytes}
  std::chrono::seconds read_timeout{30};  // a started request must arrive within this
  std::chrono::seconds idle_timeout{60};  // keep-alive idle close; also the write timeout
  size_t max_connections = 10000;         // more are accepted and closed at once
  // Optional (outlives the server): overseer_http_requests_total{class="2xx"} by status
  // class, and overseer_http_request_duration_seconds (buffered responses: from the
  // request read to the response written; streams are counted, not timed).
  MetricsRegistry* metrics = nullptr;
};

class Server {
 public:
  Server(boost::asio::io_context& io, Router router, ErrorRenderer render_error,
         ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (port 0 picks a free port) and starts accepting. Returns the bound
  // endpoint. Errors: kInvalidRequest for an unparsable host, kUnavailable
  // ("address in use", "permission denied", ...) when binding fails, kInternal if
  // already listening or stopped.
  Result<boost::asio::ip::tcp::endpoint> Listen(const std::string& host, uint16_t port);

  // Stops accepting (new connections are refused), lets in-flight requests finish
  // (their responses carry "Connection: close"), closes idle keep-alive connections,
  // closes open streams (ResponseStream::Close: their handlers see it and return; a stream
  // not started yet is answered 503), and calls `done` on the loop once every session has ended. A
  // partially received request still gets up to read_timeout to arrive. Stopping is final.
  void Stop(std::function<void()> done);

  size_t active_connections() const { return sessions_.size(); }

 private:
  struct SessionState;
  struct SessionGuard;
  boost::asio::awaitable<void> AcceptLoop();
  boost::asio::awaitable<void> RunSession(boost::asio::ip::tcp::socket socket,
                                          std::list<SessionState>::iterator self);
  // Answers a connection taken with the spare descriptor 503 `error` at once, then
  // closes it (after draining what the client sends, briefly).
  // Runs a streaming route's handler with its writer, beside the writer's watch of the
  // connection; logs the request. The connection is closed afterwards.
  boost::asio::awaitable<void> RunStream(boost::beast::tcp_stream& stream,
                                         std::list<SessionState>::iterator self, Request& req,
                                         const StreamHandler& handler);
  boost::asio::awaitable<void> RunStreamHandler(const StreamHandler& handler, Request& req,
                                                ResponseStream& out);
  boost::asio::awaitable<void> RefuseSession(boost::asio::ip::tcp::socket socket,
                                             std::list<SessionState>::iterator self, Error error);
  // Out of descriptors: gives up the spare one to take a connection from the backlog and
  // answer it 503. False if there was no spare or nothing to take.
  bool RefuseOneWithSpare(int err);
  void ReserveSpareFd();
  void ReleaseSpareFd();
  void LogAcceptFailure(const boost::system::error_code& ec);
  void MaybeFinishStop();
  std::string NextRequestId();
  // Counts a response in the metrics (if any); `seconds` < 0: not timed.
  void RecordRequest(unsigned status, double seconds);

  boost::asio::io_context& io_;
  Router router_;
  ErrorRenderer render_error_;
  ServerOptions options_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<spdlog::logger> access_log_;
  std::list<SessionState> sessions_;
  std::shared_ptr<bool> alive_;  // false once destroyed; checked by session frames
  bool accepting_ = false;       // the accept loop is running
  bool stopping_ = false;
  std::function<void()> stop_done_;
  std::string id_prefix_;  // "req_" + random hex, per server
  uint64_t id_counter_ = 0;
  std::array<Counter*, 5> requests_by_class_{};  // 1xx..5xx; set if options_.metrics
  Histogram* request_seconds_ = nullptr;
  // A descriptor (/dev/null) held in reserve: when accept fails for want of descriptors,
  // it is closed so that one waiting connection can be accepted and told 503 (rather
  // than left hanging), then reopened once that connection is closed.
  int spare_fd_ = -1;
  // Accept failures: logged once, then at most every kAcceptLogInterval with a count.
  uint64_t accept_failures_ = 0;  // since the last successful accept
  uint64_t accept_unlogged_ = 0;  // failures not yet reported in the log
  std::chrono::steady_clock::time_point accept_logged_at_{};
};

}  // namespace overseer::http
