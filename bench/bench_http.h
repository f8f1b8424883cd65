// The HTTP side of the bench clients (bench/submit_client.cc, bench/fanout_client.cc): a blocking
// HTTP/1.1 keep-alive connection over plain sockets, enough for the daemon's JSON answers
// (Content-Length bodies). One Connection per thread. Any failure ends the program: a bench
// figure measured over a failed request would be wrong.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <system_error>

namespace overseer::bench {

// Prints `what` and ends the program at once (from any thread: no exit handlers run).
[[noreturn]] inline void Die(const std::string& what) {
  std::fprintf(stderr, "overseer-bench: %s\n", what.c_str());
  std::fflush(stdout);
  std::_Exit(1);
}

// strerror(err), thread-safe.
inline std::string ErrnoText(int err) { return std::generic_category().message(err); }

struct Target {
  std::string host;
  int port = 0;
};

// "http://HOST:PORT[/...]" (localhost means 127.0.0.1; IPv4 only).
inline Target ParseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) Die("URL must start with http://");
  url.remove_prefix(kScheme.size());
  if (const size_t slash = url.find('/'); slash != std::string_view::npos) {
    url = url.substr(0, slash);
  }
  const size_t colon = url.rfind(':');
  if (colon == std::string_view::npos) Die("URL needs a port");
  Target t;
  t.host = std::string(url.substr(0, colon));
  t.port = std::atoi(std::string(url.substr(colon + 1)).c_str());
  if (t.host == "localhost") t.host = "127.0.0.1";
  return t;
}

class Connection {
 public:
  explicit Connection(const Target& t) : target_(t) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) Die("socket: " + ErrnoText(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(t.port));
    if (inet_pton(AF_INET, t.host.c_str(), &addr.sin_addr) != 1) Die("bad host " + t.host);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Die("connect: " + ErrnoText(errno));
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Connection() { close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // "METHOD PATH" with a bearer token and, if `body` is not empty, a JSON body.
  std::string Request(std::string_view method, std::string_view path, const std::string& token,
                      const std::string& body = {}) const {
    std::string r;
    r.append(method).append(" ").append(path).append(" HTTP/1.1\r\nHost: ");
    r.append(target_.host).append(":").append(std::to_string(target_.port));
    r.append("\r\nAuthorization: Bearer ").append(token).append("\r\n");
    if (!body.empty()) {
      r.append("Content-Type: application/json\r\nContent-Length: ");
      r.append(std::to_string(body.size())).append("\r\n");
    }
    r.append("\r\n").append(body);
    return r;
  }

  // Sends `request` and reads one response; returns its status code, the body in `body`.
  int RoundTrip(const std::string& request, std::string& body) {
    for (size_t sent = 0; sent < request.size();) {
      const ssize_t n = send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) Die("send: " + ErrnoText(errno));
      sent += static_cast<size_t>(n);
    }
    size_t header_end = 0;
    while ((header_end = buf_.find("\r\n\r\n")) == std::string::npos) Fill();
    const std::string_view head(buf_.data(), header_end);
    const int status = std::atoi(std::string(head.substr(9, 3)).c_str());
    size_t length = 0;
    for (size_t pos = head.find("\r\n"); pos != std::string_view::npos;) {
      const size_t next = head.find("\r\n", pos + 2);
      std::string line(
          head.substr(pos + 2, next == std::string_view::npos ? head.npos : next - pos - 2));
      std::transform(line.begin(), line.end(), line.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (line.rfind("content-length:", 0) == 0) {
        length = std::strtoul(line.c_str() + 15, nullptr, 10);
      }
      pos = next;
    }
    const size_t total = header_end + 4 + length;
    while (buf_.size() < total) Fill();
    body.assign(buf_, header_end + 4, length);
    buf_.erase(0, total);
    return status;
  }

 private:
  void Fill() {
    char chunk[16384];
    const ssize_t n = recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) Die(n == 0 ? "connection closed by the daemon" : ErrnoText(errno));
    buf_.append(chunk, static_cast<size_t>(n));
  }

  Target target_;
  int fd_ = -1;
  std::string buf_;
};

}  // namespace overseer::bench
