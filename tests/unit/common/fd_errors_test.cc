// CheckDescriptorsLeft: tried for real against this test process's RLIMIT_NOFILE.
#include "common/fd_errors.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <set>

namespace overseer {
namespace {

// The numbers of this process's open descriptors.
std::set<int> OpenFds() {
  std::set<int> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return fds;
  const int own = ::dirfd(dir);
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    if (fd != own) fds.insert(fd);
  }
  ::closedir(dir);
  return fds;
}

TEST(FdErrorsTest, DescriptorsLeftAreTriedAndAShortageIsUnavailableSayingSo) {
  EXPECT_TRUE(CheckDescriptorsLeft(kDescriptorsPerSpawn, "accepting a job").ok());
  const std::set<int> before = OpenFds();
  ASSERT_FALSE(before.empty());
  // RLIMIT_NOFILE bounds descriptor numbers: the limit that leaves exactly three numbers free
  // below it.
  constexpr int kLeft = 3;
  int limit = 0;
  for (int free = 0; free < kLeft; ++limit) {
    if (before.count(limit) == 0) ++free;
  }
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old_limit), 0);
  const rlimit low{static_cast<rlim_t>(limit), old_limit.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const Status all_left = CheckDescriptorsLeft(kLeft, "x");
  const Status one_more = CheckDescriptorsLeft(kLeft + 1, "accepting a job");
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old_limit), 0);
  EXPECT_TRUE(all_left.ok()) << all_left.error().message;
  ASSERT_FALSE(one_more.ok());
  EXPECT_EQ(one_more.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(one_more.error().message,
            "out of file descriptors (EMFILE): accepting a job; retry later");
  // What was tried is closed again.
  EXPECT_EQ(OpenFds(), before);
}

}  // namespace
}  // namespace overseer
