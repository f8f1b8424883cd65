// CheckDescriptorsLeft: whether this process can open a few more descriptors, tried for real.
#include "common/fd_errors.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace overseer {

Status CheckDescriptorsLeft(int n, std::string_view what) {
  std::array<int, 16> fds{};
  const int want = std::clamp(n, 0, static_cast<int>(fds.size()));
  int got = 0;
  int err = 0;
  while (got < want) {
    const int fd = got == 0 ? ::eventfd(0, EFD_CLOEXEC) : ::fcntl(fds[0], F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      err = errno;
      break;
    }
    fds[static_cast<size_t>(got++)] = fd;
  }
  for (int i = 0; i < got; ++i) ::close(fds[static_cast<size_t>(i)]);
  if (got == want) return OkStatus();
  if (IsOutOfFds(err)) return OutOfFdsError(err, what);
  return MakeError(ErrorCode::kInternal, std::string(what) + ": " + std::strerror(err));
}

}  // namespace overseer
