// ResponseStream: what a streaming route's handler writes to, instead of returning one
// buffered Response. The handler sends a head, then chunks or server-sent events over time
// (or, on a WebSocket upgrade, one text frame per event), and ends the response by
// returning. The writer reports when the client has gone away or the server is stopping
// (open() turns false, Wait returns early) so that the handler stops.
//
// Shape of a handler (GET /api/events and logs?follow=true will look like this):
//
//   asio::awaitable<void> Events(Request& req, ResponseStream& out) {
//     if (!authorized) {
//       Status answered = co_await out.Respond(ErrorResponse(...));  // 401, 410 ...
//       co_return;
//     }
//     Status started = co_await out.StartEvents();  // SSE head, or the WebSocket handshake
//     if (!started) co_return;
//     for (;;) {
//       // next event, or a heartbeat after 15 s of silence (or the writer closing):
//       auto next = co_await (bus.Next() || out.Wait(15s));
//       if (!out.open()) break;
//       Status sent = next.index() == 0 ? co_await out.Send(ToEvent(...))
//                                       : co_await out.Heartbeat();
//       if (!sent) break;
//     }
//   }
//
// (Keep co_await results in named locals: GCC 12 mishandles temporaries with destructors
// inside co_await expressions, e.g. `if (!co_await out.Send(...))`.)
//
// The session's read and keep-alive timeouts do not apply while a stream runs: it reads
// only to notice the client leaving. Each write must complete within the server's
// idle_timeout (a client that stops reading is dropped). The connection is closed after a
// streaming route, whatever it answered. Server::Stop closes every open stream.
//
// Thread rule: loop thread only. One operation at a time: never two writes (Start, Write,
// Send, Heartbeat, Respond) in flight together; Wait may run beside a write.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "http/request.h"

namespace overseer::http {

// One server-sent event. On a WebSocket, `data` alone is sent, as one text frame.
struct SseEvent {
  std::string id;     // `id:` line if non-empty (the client's Last-Event-ID on reconnect)
  std::string event;  // `event:` line if non-empty (the event type)
  std::string data;   // one `data:` line per line of `data` (split on LF, CRLF or CR)
};

// The wire text of `event` (text/event-stream), ending with the blank line. CR and LF in
// `id` and `event` are dropped (they would end the field); NUL in `id` too (SSE ignores
// such an id).
std::string FormatSseEvent(const SseEvent& event);

// The heartbeat written by ResponseStream::Heartbeat on an SSE stream: a comment line.
inline constexpr std::string_view kSseHeartbeat = ": heartbeat\n\n";

class ResponseStream {
 public:
  // Writes to the session's `stream` (which outlives this) the response to `request`;
  // each write must complete within `write_timeout`.
  ResponseStream(boost::beast::tcp_stream& stream, const Request& request,
                 std::chrono::steady_clock::duration write_timeout);
  ~ResponseStream();
  ResponseStream(const ResponseStream&) = delete;
  ResponseStream& operator=(const ResponseStream&) = delete;

  // True until the client goes away, a write fails, or the server stops (Close).
  bool open() const { return !closed_; }
  // True once a head was sent (Start, StartEvents) or a whole response (Respond).
  bool started() const { return started_ || responded_; }
  // True if the request asks for a WebSocket upgrade (GET with Upgrade: websocket).
  bool websocket_requested() const;
  // True once StartEvents accepted a WebSocket upgrade.
  bool websocket() const;

  // Answers with one buffered response instead of a stream (an error before anything was
  // streamed: 401, 404, 410 ...). At most once, and only before Start/StartEvents;
  // kInternal otherwise. kUnavailable if the write fails.
  boost::asio::awaitable<Status> Respond(Response response);

  // Sends the head of a streamed response: status, content_type and extra headers of
  // `head` (Content-Length and Transfer-Encoding are the writer's: chunked on HTTP/1.1,
  // close-delimited on 1.0); a non-empty head.body goes out as the first chunk.
  // kInternal if already started; kUnavailable if closed or the write fails.
  boost::asio::awaitable<Status> Start(Response head);

  // One chunk of the body (an empty `data` sends nothing). kInternal before Start or on a
  // WebSocket; kUnavailable if closed or the write fails.
  boost::asio::awaitable<Status> Write(std::string_view data);

  // Starts an event stream: on a WebSocket upgrade request, the handshake (101); else
  // 200 text/event-stream with `extra_headers`. Errors as Start.
  boost::asio::awaitable<Status> StartEvents(
      std::vector<std::pair<std::string, std::string>> extra_headers = {});

  // One event: SSE text, or `event.data` as one WebSocket text frame. Errors as Write.
  boost::asio::awaitable<Status> Send(const SseEvent& event);

  // Keeps an idle stream alive: an SSE comment (kSseHeartbeat) or a WebSocket ping.
  boost::asio::awaitable<Status> Heartbeat();

  // Waits `duration`, or less if the stream closes meanwhile; then returns open(). Supports
  // cancellation (so it can race another wait with awaitable operators).
  boost::asio::awaitable<bool> Wait(std::chrono::steady_clock::duration duration);

  // Server side (the session that owns this writer).
  // Marks the stream closed (the server stops): Wait returns, writes fail; the session
  // still ends the response cleanly once the handler returns.
  void Close();
  // Reads the connection while the stream runs, to notice the client leaving (and, on a
  // WebSocket, to answer pings and the close handshake). Returns when the client goes away
  // or Finish runs. Run beside the handler.
  boost::asio::awaitable<void> Watch();
  // After the handler returned: ends the body (last chunk, or the WebSocket close
  // handshake) unless the client is gone, and stops Watch.
  boost::asio::awaitable<void> Finish();
  // For the access log: the status sent (0 if nothing was) and the bytes of body sent.
  unsigned status() const { return status_; }
  uint64_t body_bytes() const { return body_bytes_; }

 private:
  struct WebSocketState;
  void MarkClosed();
  boost::asio::awaitable<Status> WriteRaw(std::string_view a, std::string_view b = {},
                                          std::string_view c = {});
  Status Closed() const;

  boost::beast::tcp_stream& stream_;
  const Request& req_;
  std::chrono::steady_clock::duration write_timeout_;
  std::unique_ptr<WebSocketState> ws_;
  boost::asio::steady_timer started_signal_;         // cancelled when streaming starts or ends
  std::vector<boost::asio::steady_timer*> waiters_;  // Wait calls in progress
  bool closed_ = false;
  bool client_gone_ = false;  // the peer left or a write failed: nothing more is sent
  bool started_ = false;
  bool responded_ = false;
  bool finished_ = false;
  bool watching_ = false;  // the head went out: Watch reads the connection
  bool chunked_ = false;
  bool writing_ = false;
  unsigned status_ = 0;
  uint64_t body_bytes_ = 0;
  std::string scratch_;
};

}  // namespace overseer::http
