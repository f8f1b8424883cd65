// overseer-bench-fanout: the two programs of bench/fanout.
//
//   overseer-bench-fanout children N CMD...   run as the root job's command: creates N sub-jobs
//                                             of CMD under its own job, one after the other on
//                                             one keep-alive connection, with the worker's
//                                             OVERSEER_URL, OVERSEER_TOKEN and OVERSEER_JOB_ID;
//                                             prints {"submitted":N,"seconds":…}
//   overseer-bench-fanout bare N CONC CMD...  the machine's bare cost of the same work: N plain
//                                             posix_spawnp of CMD, at most CONC alive at once
//                                             (the daemon's quota), each reaped with waitpid;
//                                             prints {"seconds":…,"spawns":N}
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench_http.h"

extern char** environ;  // NOLINT(readability-identifier-naming): POSIX's name

namespace {

using Clock = std::chrono::steady_clock;
using overseer::bench::Connection;
using overseer::bench::Die;
using overseer::bench::ErrnoText;
using overseer::bench::ParseUrl;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// `s` as a JSON string literal (the command's arguments are plain ASCII in the bench, but a
// quote or a backslash must not break the body).
std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): one thread
  if (v == nullptr || *v == '\0') Die(std::string(name) + " is not set (run as a worker)");
  return v;
}

int Children(int n, const std::vector<std::string>& cmd) {
  Connection c(ParseUrl(Env("OVERSEER_URL")));
  const std::string token = Env("OVERSEER_TOKEN");
  const std::string parent = Env("OVERSEER_JOB_ID");
  std::string argv = "[";
  for (const std::string& a : cmd) argv += (argv.size() > 1 ? "," : "") + JsonString(a);
  argv += "]";
  const auto t0 = Clock::now();
  std::string body;
  for (int i = 0; i < n; ++i) {
    const std::string job = R"({"name":"fanout-)" + std::to_string(i) + R"(","parent_job_id":)" +
                            JsonString(parent) + R"(,"task":{"runtime":"command","command":)" +
                            argv + "}}";
    const int status = c.RoundTrip(c.Request("POST", "/api/jobs", token, job), body);
    if (status != 201) {
      Die("sub-job " + std::to_string(i) + " answered " + std::to_string(status) + ": " +
          body.substr(0, 300));
    }
  }
  std::printf("{\"submitted\": %d, \"seconds\": %.3f}\n", n, Seconds(Clock::now() - t0));
  return 0;
}

int Bare(int n, int conc, const std::vector<std::string>& cmd) {
  std::vector<char*> argv;
  argv.reserve(cmd.size() + 1);
  for (const std::string& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int alive = 0;
  const auto reap_one = [&alive] {
    int st = 0;
    if (waitpid(-1, &st, 0) < 0) Die("waitpid: " + ErrnoText(errno));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) Die("the command failed: " + std::to_string(st));
    --alive;
  };
  const auto t0 = Clock::now();
  for (int i = 0; i < n; ++i) {
    if (alive == conc) reap_one();
    pid_t pid = 0;
    const int err = posix_spawnp(&pid, argv[0], nullptr, nullptr, argv.data(), environ);
    if (err != 0) Die("posix_spawnp " + cmd[0] + ": " + ErrnoText(err));
    ++alive;
  }
  while (alive > 0) reap_one();
  std::printf("{\"seconds\": %.4f, \"spawns\": %d}\n", Seconds(Clock::now() - t0), n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() >= 3 && args[0] == "children") {
    return Children(std::atoi(args[1].c_str()), {args.begin() + 2, args.end()});
  }
  if (args.size() >= 4 && args[0] == "bare") {
    return Bare(std::atoi(args[1].c_str()), std::atoi(args[2].c_str()),
                {args.begin() + 3, args.end()});
  }
  std::fprintf(stderr,
               "usage: overseer-bench-fanout children N CMD...\n"
               "       overseer-bench-fanout bare N CONCURRENCY CMD...\n");
  return 2;
}
