// overseer-bench-submit: the submit client of bench/api, in C++ so that the client's own cost
// (a Python client added 0.15-0.3 ms per submit and a third of a 1,000-job burst) does not hide the
// daemon's. Plain blocking sockets, HTTP/1.1 keep-alive, one thread per connection.
//
//   overseer-bench-submit latency URL TOKEN N        N sequential submits of `true` on one
//                                                    connection: {"p50_ms":…,"p99_ms":…}
//   overseer-bench-submit burst URL TOKEN N CONC     N submits over CONC connections, started
//                                                    together: {"seconds":…,"per_second":…}
//   overseer-bench-submit sustain URL TOKEN SECS CONC  submits back to back over CONC connections
//                                                    for SECS seconds: {"jobs":…,"per_second":…,
//                                                    "p50_ms":…,"p99_ms":…,"max_ms":…,"over_1s":…}
//
// Every POST /api/jobs answers once its worker is RUNNING (or later), so the time of a
// request is "submit -> process running" as a client sees it. URL: http://HOST:PORT.
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_http.h"

namespace {

using Clock = std::chrono::steady_clock;
using overseer::bench::Connection;
using overseer::bench::Die;
using overseer::bench::ParseUrl;
using overseer::bench::Target;

std::string SubmitRequest(const Connection& c, const std::string& token) {
  return c.Request("POST", "/api/jobs", token,
                   R"({"name":"bench","task":{"runtime":"command","command":["true"]}})");
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
  const std::string request = SubmitRequest(c, token);
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
  std::vector<std::unique_ptr<Connection>> conns;
  conns.reserve(static_cast<size_t>(conc));
  for (int i = 0; i < conc; ++i)
    conns.push_back(std::make_unique<Connection>(t));  // before the clock
  const std::string request = SubmitRequest(*conns[0], token);
  std::barrier start(conc + 1);
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(conc));
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

int Sustain(const Target& t, const std::string& token, int seconds, int conc) {
  std::vector<std::unique_ptr<Connection>> conns;
  conns.reserve(static_cast<size_t>(conc));
  for (int i = 0; i < conc; ++i) conns.push_back(std::make_unique<Connection>(t));
  const std::string request = SubmitRequest(*conns[0], token);
  std::barrier start(conc + 1);
  std::vector<std::vector<double>> samples(static_cast<size_t>(conc));
  Clock::time_point end;
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(conc));
  for (int i = 0; i < conc; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      std::vector<double>& mine = samples[static_cast<size_t>(i)];
      while (Clock::now() < end) {
        const auto t0 = Clock::now();
        Submit(*conns[static_cast<size_t>(i)], request);
        mine.push_back(Ms(Clock::now() - t0));
      }
    });
  }
  const auto t0 = Clock::now();
  end = t0 + std::chrono::seconds(seconds);
  start.arrive_and_wait();
  for (std::thread& th : threads) th.join();
  const double took = Ms(Clock::now() - t0) / 1000.0;
  std::vector<double> all;
  for (const auto& v : samples) all.insert(all.end(), v.begin(), v.end());
  if (all.empty()) Die("no submit finished");
  std::sort(all.begin(), all.end());
  const auto at = [&](double q) {
    return all[std::min(all.size() - 1, static_cast<size_t>(static_cast<double>(all.size()) * q))];
  };
  const auto over = std::count_if(all.begin(), all.end(), [](double ms) { return ms > 1000.0; });
  std::printf(
      "{\"jobs\": %zu, \"per_second\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
      "\"max_ms\": %.3f, \"over_1s\": %td}\n",
      all.size(), static_cast<double>(all.size()) / took, at(0.5), at(0.99), all.back(), over);
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
  if (args.size() == 5 && args[0] == "sustain") {
    return Sustain(ParseUrl(args[1]), args[2], std::atoi(args[3].c_str()),
                   std::atoi(args[4].c_str()));
  }
  std::fprintf(stderr,
               "usage: overseer-bench-submit latency URL TOKEN N [GAP_MS]\n"
               "       overseer-bench-submit burst URL TOKEN N CONCURRENCY\n"
               "       overseer-bench-submit sustain URL TOKEN SECONDS CONCURRENCY\n");
  return 2;
}
