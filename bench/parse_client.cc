// overseer-bench-parse: what parsing one line of a claude stream costs when the line arrives
// alone, as the daemon sees it at 1,000 lines/s (a millisecond of other work and sleep between
// lines, so the parser's code and data are no longer in the CPU caches). Used by bench/parse.
//
//   overseer-bench-parse time FIXTURE [RUNS] [GAP_US]
//     Replays the fixture's lines between its first (init) and last (result) RUNS times through a
//     fresh ClaudeStream, sleeping GAP_US (1000) before each, the line's bytes touched (the daemon
//     has just read and logged them), and times Feed + TakeDelta (what the daemon calls per line).
//     Prints nanoseconds per line by kind (skipped, read, parsed in full), and the same for a
//     parser that only counts lines (the floor: a call and one counter, cold).
//   overseer-bench-parse trace FIXTURE KIND [RUNS] [FLUSH_MB]
//     For callgrind's cache simulator: before each line of KIND (skip, read, parse, count) it
//     writes FLUSH_MB (4) of memory and runs FLUSH_MB of code, so the caches hold none of the
//     parser, then finds the line's end and copies it as the daemon does (so the line, libc's
//     string functions and the stack's top are warm); the line then goes through ParseOneLine
//     (collect only that function); lines of other kinds are fed directly, uncounted. The misses
//     per line are the cache lines of code and data one such line costs when it arrives alone.
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "service/runtimes/claude_stream.h"

namespace {

using overseer::service::ClaudeStream;
using overseer::service::UsageDelta;
using LineClass = ClaudeStream::LineClass;

// The floor: what any per-line parser pays at least (a call through a pointer, one counter).
class Counter {
 public:
  virtual ~Counter() = default;
  virtual void Feed(std::string_view line);
  int64_t lines = 0;
  int64_t bytes = 0;
};
[[gnu::noinline]] void Counter::Feed(std::string_view line) {
  ++lines;
  bytes += static_cast<int64_t>(line.size());
}

volatile int64_t g_sink = 0;

[[gnu::noinline]] void ParseOneLine(ClaudeStream& s, std::string_view line) {
  s.Feed(line);
  g_sink = g_sink + s.TakeDelta().total_tokens();
}

[[gnu::noinline]] void CountOneLine(Counter& c, std::string_view line) { c.Feed(line); }

// What the daemon has just done with the line before the parser sees it: found its end
// (memchr), copied it to the log's buffer (memcpy), so those bytes, the library's string
// functions and the top of the stack are warm, as they are in the daemon.
char g_log[1 << 16];
void Touch(std::string_view line) {
  const void* nl = std::memchr(line.data(), '\n', line.size());
  const size_t n = std::min(line.size(), sizeof g_log);
  std::memcpy(g_log, line.data(), n);
  g_sink = g_sink + (nl == nullptr ? 1 : 0) + std::memcmp(g_log, line.data(), n);
}

const char* KindName(LineClass k) {
  switch (k) {
    case LineClass::kSkip:
      return "skip";
    case LineClass::kRead:
      return "read";
    case LineClass::kParse:
      return "parse";
  }
  return "?";
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return v.empty() ? 0 : sum / static_cast<double>(v.size());
}

int Time(const std::vector<std::string>& lines, int runs, int gap_us) {
  std::vector<double> by_kind[3];
  std::vector<double> all;
  std::vector<double> floor;
  auto Clock = [] { return std::chrono::steady_clock::now(); };
  auto Ns = [](auto a, auto b) { return std::chrono::duration<double, std::nano>(b - a).count(); };
  auto counter = std::make_unique<Counter>();
  for (int r = 0; r < runs; ++r) {
    ClaudeStream s;
    s.Feed(lines.front());
    for (size_t i = 1; i + 1 < lines.size(); ++i) {
      usleep(static_cast<useconds_t>(gap_us));
      Touch(lines[i]);
      const auto t0 = Clock();
      ParseOneLine(s, lines[i]);
      const double ns = Ns(t0, Clock());
      by_kind[static_cast<int>(ClaudeStream::Classify(lines[i]))].push_back(ns);
      all.push_back(ns);
      usleep(static_cast<useconds_t>(gap_us));
      Touch(lines[i]);
      const auto t1 = Clock();
      CountOneLine(*counter, lines[i]);
      floor.push_back(Ns(t1, Clock()));
    }
  }
  for (LineClass k : {LineClass::kSkip, LineClass::kRead, LineClass::kParse}) {
    const std::vector<double>& v = by_kind[static_cast<int>(k)];
    if (v.empty()) continue;
    std::printf("%s %zu %.0f %.0f\n", KindName(k), v.size(), Median(v), Mean(v));
  }
  std::printf("all %zu %.0f %.0f\n", all.size(), Median(all), Mean(all));
  std::printf("floor %zu %.0f %.0f\n", floor.size(), Median(floor), Mean(floor));
  return 0;
}

int Trace(const std::vector<std::string>& lines, std::string_view kind, int runs, int flush_mb) {
  const size_t bytes = static_cast<size_t>(flush_mb) << 20;
  std::vector<char> junk(bytes);
  // FLUSH_MB of code: a jump to the next cache line every 64 bytes, then a return.
  auto* code =
      static_cast<unsigned char*>(mmap(nullptr, bytes + 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (code == MAP_FAILED) {
    std::perror("mmap");
    return 1;
  }
  for (size_t k = 0; k < bytes; k += 64) {
    code[k] = 0xeb;  // jmp rel8
    code[k + 1] = 62;
  }
  code[bytes] = 0xc3;  // ret
  auto run_code = reinterpret_cast<void (*)()>(code);
  auto flush = [&] {
    for (size_t k = 0; k < bytes; k += 64) junk[k] = static_cast<char>(junk[k] + 1);
    run_code();
  };
  auto counter = std::make_unique<Counter>();
  int64_t traced = 0;
  for (int r = 0; r < runs; ++r) {
    ClaudeStream s;
    s.Feed(lines.front());
    for (size_t i = 1; i + 1 < lines.size(); ++i) {
      const std::string_view mine = KindName(ClaudeStream::Classify(lines[i]));
      if (kind == "count") {
        flush();
        Touch(lines[i]);
        CountOneLine(*counter, lines[i]);
        ++traced;
      } else if (mine == kind) {
        flush();
        Touch(lines[i]);
        ParseOneLine(s, lines[i]);
        ++traced;
      } else {
        s.Feed(lines[i]);
        s.TakeDelta();
      }
    }
  }
  std::printf("traced %lld\n", static_cast<long long>(traced));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: %s time FIXTURE [RUNS] [GAP_US] | trace FIXTURE KIND [RUNS] [FLUSH_MB]\n",
                 argv[0]);
    return 2;
  }
  std::ifstream in(argv[2]);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  if (lines.size() < 3) {
    std::fprintf(stderr, "%s: fewer than 3 lines\n", argv[2]);
    return 2;
  }
  const std::string_view mode = argv[1];
  if (mode == "time") {
    return Time(lines, argc > 3 ? std::atoi(argv[3]) : 100, argc > 4 ? std::atoi(argv[4]) : 1000);
  }
  if (mode == "trace" && argc > 3) {
    return Trace(lines, argv[3], argc > 4 ? std::atoi(argv[4]) : 10,
                 argc > 5 ? std::atoi(argv[5]) : 4);
  }
  std::fprintf(stderr, "%s: unknown mode\n", argv[0]);
  return 2;
}
