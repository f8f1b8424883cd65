// Running out of file descriptors (RLIMIT_NOFILE reached): the daemon says so (503
// UNAVAILABLE, "out of file descriptors (EMFILE)", Retry-After), logs it once rather than
// per failed accept, and serves again by itself once descriptors free up.
#include <dirent.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "integration/fixture.h"
#include "integration/raw_socket.h"

namespace overseer::it {
namespace {

// Open descriptors of process `pid` (-1 if /proc cannot say).
int CountFds(pid_t pid) {
  DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (dir == nullptr) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n;
}

size_t CountLines(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class FdLimitTest : public OwnDaemonTest {
 protected:
  // In a sanitizer build, UBSan's vptr check probes memory through a pipe() it cannot
  // create when the process is out of descriptors, and then reports a valid object as
  // having an invalid vptr (and aborts). That check is suppressed for this daemon only;
  // the suppression is inert in a build without UBSan.
  DaemonOptions Options() override {
    const std::string supp = ::testing::TempDir() + "overseer-fd-limit-ubsan.supp";
    std::ofstream(supp) << "vptr:*\nvptr_check:*\n";
    const char* inherited = std::getenv("UBSAN_OPTIONS");  // NOLINT(concurrency-mt-unsafe)
    std::string ubsan =
        inherited != nullptr && *inherited != '\0' ? std::string(inherited) + ":" : "";
    DaemonOptions options;
    options.extra_env.push_back("UBSAN_OPTIONS=" + ubsan + "suppressions=" + supp);
    return options;
  }
};

TEST_F(FdLimitTest, OutOfDescriptorsIs503WithATrueMessageAndServingResumes) {
  // A keep-alive connection opened before the limit is reached: its requests reach the
  // handlers, so a submit on it shows what a submit does without descriptors.
  Reply warm = api().Post("/api/jobs", CommandJob({"true"}));
  ASSERT_EQ(warm.status, 201u) << Describe(warm);
  ASSERT_EQ(WaitJob(api(), warm.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");

  const pid_t pid = d().pid();
  const int open_now = CountFds(pid);
  ASSERT_GT(open_now, 0);
  constexpr int kHeadroom = 12;
  rlimit old_limit{};
  ASSERT_EQ(::prlimit(pid, RLIMIT_NOFILE, nullptr, &old_limit), 0);
  const rlimit low{static_cast<rlim_t>(open_now + kHeadroom), old_limit.rlim_max};
  ASSERT_EQ(::prlimit(pid, RLIMIT_NOFILE, &low, nullptr), 0) << std::strerror(errno);

  // More connections than descriptors left: the daemon takes what it can, then none.
  std::vector<std::unique_ptr<RawConnection>> extra;
  for (int i = 0; i < kHeadroom + 3; ++i) {
    extra.push_back(std::make_unique<RawConnection>(d().url()));
    ASSERT_TRUE(extra.back()->connected());
  }
  ASSERT_TRUE(WaitFor([&] { return CountFds(pid) >= open_now + kHeadroom; }))
      << CountFds(pid) << " descriptors open, limit " << open_now + kHeadroom;

  // A submit needs descriptors it cannot get: 503 saying so, with Retry-After, and nothing
  // written — on SQLite and on PostgreSQL alike (there the pool's connections are already
  // open: the daemon checks before it writes the job, which would otherwise fail to start).
  Reply refused = api().Post("/api/jobs", CommandJob({"true"}));
  EXPECT_TRUE(IsError(refused, 503, "UNAVAILABLE")) << Describe(refused);
  EXPECT_NE(refused.Str({"error", "message"}).find("out of file descriptors (EMFILE)"),
            std::string::npos)
      << Describe(refused);
  EXPECT_FALSE(refused.Header("Retry-After").empty()) << Describe(refused);

  // A new connection is not left hanging: it is answered 503 and closed.
  RawConnection probe(d().url());
  ASSERT_TRUE(probe.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::optional<std::string> answer = probe.ReadUntilClosed(20s);
  ASSERT_TRUE(answer) << "a new connection hung while out of descriptors";
  EXPECT_EQ(answer->rfind("HTTP/1.1 503 ", 0), 0u) << *answer;
  EXPECT_NE(answer->find("\"code\":\"UNAVAILABLE\""), std::string::npos) << *answer;
  EXPECT_NE(answer->find("out of file descriptors (EMFILE)"), std::string::npos) << *answer;
  EXPECT_NE(answer->find("Retry-After: "), std::string::npos) << *answer;

  // Descriptors free up: new connections and submits succeed again, with the limit still
  // in place.
  extra.clear();
  Api fresh(d().url(), d().Token(ws()));
  ASSERT_TRUE(WaitFor([&] { return fresh.Get("/healthz").status == 200u; }, 20s))
      << Describe(fresh.Get("/healthz"));
  Reply again = fresh.Post("/api/jobs", CommandJob({"true"}));
  ASSERT_EQ(again.status, 201u) << Describe(again);
  EXPECT_EQ(WaitJob(fresh, again.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
  Reply on_warm = api().Post("/api/jobs", CommandJob({"true"}));
  EXPECT_EQ(on_warm.status, 201u) << Describe(on_warm);
  // The refused submit left no job behind: the workspace holds the three accepted ones.
  Reply listed = api().Get("/api/jobs?limit=100");
  ASSERT_EQ(listed.status, 200u) << Describe(listed);
  EXPECT_EQ(listed.At({"jobs"}).as_array().size(), 3u) << listed.body;

  // Logged, not once per failed accept: the first failure, then at most every 10 s.
  const std::string log = d().Stderr();
  const size_t accept_lines = CountLines(log, "http: accept failed");
  EXPECT_GE(accept_lines, 1u) << log;
  EXPECT_LE(accept_lines, 3u) << log;
  EXPECT_NE(log.find("http: accept failed: out of file descriptors (EMFILE)"), std::string::npos)
      << log;
  EXPECT_NE(log.find("http: accepting connections again"), std::string::npos) << log;

  ASSERT_EQ(::prlimit(pid, RLIMIT_NOFILE, &old_limit, nullptr), 0);
}

}  // namespace
}  // namespace overseer::it
