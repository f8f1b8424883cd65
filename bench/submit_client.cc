// overseer-bench-submit: the submit client of bench/api, in C++ so that the client's own cost
// (a Python client added 0.15-0.3 ms per submit and a third of a 1,000-job burst) does not hide the
// daemon's. Plain blocking sockets, HTTP/1.1 keep-alive, one thread per connection.
//
//   overseer-bench-submit latency URL TOKEN N        N sequential submits of `true` on one
//                                                    connection: {"p50_ms":…,"p99_ms":…}
//   overseer-bench-submit burst URL TOKEN N CONC     N submits over CONC connections, started
//                                                    together: {"seconds":…,"per_second":…}
//
// Every POST /api/jobs answers once its worker is RUNNING (or later), so the time of a
// request is "submit -> process running" as a client sees it. URL: http://HOST:PORT.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "overseer-bench-submit: %s\n", what.c_str());
  std::exit(1);
}

struct Target {
  std::string host;
  int port = 0;
};

Target ParseUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  if (url.substr(0, kScheme.size()) != kScheme) Die("URL must start with http://");
  url.remove_prefix(kScheme.size());
  if (const size_t slash = url.find('/'); slash != std::string_view::npos)
    url = url.substr(0, slash);
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
  explicit Connection(const Target& t) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) Die("socket: " + std::string(std::strerror(errno)));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(t.port));
    if (inet_pton(AF_INET, t.host.c_str(), &addr.sin_addr) != 1) Die("bad host " + t.host);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Die("connect: " + std::string(std::strerror(errno)));
    }
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~Connection() { close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends `request` and reads one response; returns its status code, the body in `body`.
  int RoundTrip(const std::string& request, std::string& body) {
    for (size_t sent = 0; sent < request.size();) {
      const ssize_t n = send(fd_, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) Die("send: " + std::string(std::strerror(errno)));
      sent += static_cast<size_t>(n);
    }
    size_t header_end;
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
      if (line.rfind("content-length:", 0) == 0)
        length = std::strtoul(line.c_str() + 15, nullptr, 10);
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
    if (n <= 0) Die(n == 0 ? "connection closed by the daemon" : std::strerror(errno));
    buf_.append(chunk, static_cast<size_t>(n));
  }

  int fd_ = -1;
  std::string buf_;
};

std::string SubmitRequest(const Target& t, const std::string& token) {
  const std::string body = R"({"name":"bench","task":{"runtime":"command","command":["true"]}})";
  return "POST /api/jobs HTTP/1.1\r\nHost: " + t.host + ":" + std::to_string(t.port) +
         "\r\nAuthorization: Bearer " + token +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// One submit; exits with the daemon's answer if it is not 201 RUNNING-or-later.
void Submit(Connection& c, const std::string& request) {
  std::string body;
  const int status = c.RoundTrip(request, body);
  if (status != 201) Die("submit answered " + std::to_string(status) + ": " + body.substr(0, 300));
  const size_t at = body.find("\"status\":\"");
  const std::string_view state =
      at == std::string::npos ? std::string_view() : std::string_view(body).substr(at + 10, 7);
  if (state != "RUNNING" && state != "COMPLET" && state != "FAILED\"") {
    Die("job not started: " + body.substr(0, 300));
  }
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

int Latency(const Target& t, const std::string& token, int n, int gap_ms) {
  Connection c(t);
  const std::string request = SubmitRequest(t, token);
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto t0 = Clock::now();
    Submit(c, request);
    samples.push_back(Ms(Clock::now() - t0));
    if (gap_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
  }
  std::sort(samples.begin(), samples.end());
  const auto at = [&](double q) {
    return samples[std::min(samples.size() - 1,
                            static_cast<size_t>(static_cast<double>(samples.size()) * q))];
  };
  std::printf("{\"p50_ms\": %.3f, \"p99_ms\": %.3f}\n", at(0.5), at(0.99));
  return 0;
}

int Burst(const Target& t, const std::string& token, int n, int conc) {
  const std::string request = SubmitRequest(t, token);
  std::vector<std::unique_ptr<Connection>> conns;
  for (int i = 0; i < conc; ++i)
    conns.push_back(std::make_unique<Connection>(t));  // before the clock
  std::barrier start(conc + 1);
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < conc; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      while (next.fetch_add(1) < n) Submit(*conns[static_cast<size_t>(i)], request);
    });
  }
  start.arrive_and_wait();
  const auto t0 = Clock::now();
  for (std::thread& th : threads) th.join();
  const double seconds = Ms(Clock::now() - t0) / 1000.0;
  std::printf("{\"seconds\": %.3f, \"jobs\": %d, \"per_second\": %.1f}\n", seconds, n, n / seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if ((args.size() == 4 || args.size() == 5) && args[0] == "latency") {
    const int gap_ms = args.size() == 5 ? std::atoi(args[4].c_str()) : 0;
    return Latency(ParseUrl(args[1]), args[2], std::atoi(args[3].c_str()), gap_ms);
  }
  if (args.size() == 5 && args[0] == "burst") {
    return Burst(ParseUrl(args[1]), args[2], std::atoi(args[3].c_str()),
                 std::atoi(args[4].c_str()));
  }
  std::fprintf(stderr,
               "usage: overseer-bench-submit latency URL TOKEN N\n"
               "       overseer-bench-submit burst URL TOKEN N CONCURRENCY\n");
  return 2;
}
