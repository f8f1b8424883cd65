// overseer-exec: the first program of every worker process (proc/spawn.cc starts it with
// posix_spawn). It joins the worker's cgroup by writing its own pid to the given cgroup.procs
// file, so nothing the agent starts can be outside the cgroup, then execs the agent with
// execvp semantics; a command that cannot be run exits 127 (not found) or 126 (not
// executable) with a message on stderr, which is the worker's log, as a shell would.
//
// Usage: overseer-exec [--cgroup-procs FILE] -- COMMAND [ARG...]
//
// Linked statically and using libc only: it replaces a `/bin/sh -c` trampoline, and an exec of
// a static binary skips the dynamic loader, which was most of the shell's cost per spawn.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace {

constexpr int kSetupFailed = 125;  // as env(1) and `sh -c` use it for their own failures

void Say(const char* a, const char* b, const char* c) {
  std::fprintf(stderr, "overseer: %s%s%s\n", a, b, c);
}

bool JoinCgroup(const char* procs_file) {
  const int fd = open(procs_file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char pid[24];
  const int n = std::snprintf(pid, sizeof(pid), "%d\n", static_cast<int>(getpid()));
  const bool ok = n > 0 && write(fd, pid, static_cast<size_t>(n)) == n;
  close(fd);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  int i = 1;
  if (i + 1 < argc && std::strcmp(argv[i], "--cgroup-procs") == 0) {
    if (!JoinCgroup(argv[i + 1])) {
      const int err = errno;
      std::fprintf(stderr, "overseer: cannot join cgroup through %s: %s\n", argv[i + 1],
                   std::strerror(err));
      return kSetupFailed;
    }
    i += 2;
  }
  if (i < argc && std::strcmp(argv[i], "--") == 0) ++i;
  if (i >= argc) {
    Say("overseer-exec: no command", "", "");
    return kSetupFailed;
  }
  execvp(argv[i], argv + i);
  const int err = errno;
  Say(argv[i], ": ", err == ENOENT ? "not found" : std::strerror(err));
  return err == ENOENT ? 127 : 126;
}
