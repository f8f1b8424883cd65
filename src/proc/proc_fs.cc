#include "proc/proc_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace overseer::proc::internal {
namespace {

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

bool IsCgroup2(const char* path) {
  struct statfs fs {};
  if (statfs(path, &fs) != 0) return false;
  return static_cast<unsigned long>(fs.f_type) == static_cast<unsigned long>(CGROUP2_SUPER_MAGIC);
}

std::vector<pid_t> ParsePidList(std::string_view text) {
  std::vector<pid_t> pids;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n')) ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ' && text[j] != '\n') ++j;
    if (j > i) {
      if (auto v = ParseInt(text.substr(i, j - i)); v && *v > 0) {
        pids.push_back(static_cast<pid_t>(*v));
      }
    }
    i = j;
  }
  return pids;
}

}  // namespace

std::optional<std::string> ReadSmallFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int saved = errno;
      close(fd);
      errno = saved;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (16u << 20)) break;  // never read an unbounded pseudo-file
  }
  close(fd);
  return out;
}

bool WriteSmallFile(const std::string& path, std::string_view data) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n;
  do {
    n = write(fd, data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  int saved = errno;
  close(fd);
  errno = saved;
  return n == static_cast<ssize_t>(data.size());
}

std::optional<ProcStat> ReadProcStat(pid_t pid) {
  auto text = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  // "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
  //  stime cutime cstime priority nice threads itrealvalue starttime vsize rss ..."
  // comm may hold spaces and parentheses: split after the LAST ')'.
  size_t close_paren = text->rfind(')');
  if (close_paren == std::string::npos) return std::nullopt;
  std::vector<std::string_view> f;  // f[0] = state (field 3)
  std::string_view rest(*text);
  rest.remove_prefix(close_paren + 1);
  size_t i = 0;
  while (i < rest.size() && f.size() < 49) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\n')) ++i;
    size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
    if (j > i) f.push_back(rest.substr(i, j - i));
    i = j;
  }
  if (f.size() < 22) return std::nullopt;
  ProcStat st;
  st.pid = pid;
  st.state = f[0].empty() ? '?' : f[0][0];
  auto get = [&](size_t field) -> int64_t {  // field numbers as in proc(5)
    auto v = ParseInt(f[field - 3]);
    return v ? *v : 0;
  };
  st.ppid = static_cast<pid_t>(get(4));
  st.pgrp = static_cast<pid_t>(get(5));
  st.session = static_cast<pid_t>(get(6));
  st.flags = static_cast<uint32_t>(get(9));
  st.utime_ticks = static_cast<uint64_t>(get(14));
  st.stime_ticks = static_cast<uint64_t>(get(15));
  st.cutime_ticks = static_cast<uint64_t>(get(16));
  st.cstime_ticks = static_cast<uint64_t>(get(17));
  st.start_ticks = static_cast<uint64_t>(get(22));
  st.rss_pages = get(24);
  if (f.size() >= 49) {  // since Linux 3.5
    st.env_start = static_cast<uint64_t>(get(50));
    st.env_end = static_cast<uint64_t>(get(51));
  }
  return st;
}

std::vector<pid_t> ListAllPids() {
  std::vector<pid_t> pids;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return pids;
  pid_t self = getpid();
  while (dirent* e = readdir(dir)) {  // NOLINT(concurrency-mt-unsafe): DIR not shared
    auto v = ParseInt(e->d_name);
    if (v && *v > 0 && *v != self) pids.push_back(static_cast<pid_t>(*v));
  }
  closedir(dir);
  return pids;
}

namespace {

bool HasEntry(std::string_view all, std::string_view entry, bool prefix) {
  size_t i = 0;
  while (i < all.size()) {
    size_t end = all.find('\0', i);
    if (end == std::string_view::npos) end = all.size();
    std::string_view e = all.substr(i, end - i);
    if (prefix ? e.substr(0, entry.size()) == entry : e == entry) return true;
    i = end + 1;
  }
  return false;
}

}  // namespace

bool EnvironHas(pid_t pid, std::string_view entry, bool prefix) {
  auto text = ReadSmallFile("/proc/" + std::to_string(pid) + "/environ");
  return text && HasEntry(*text, entry, prefix);
}

EnvMatch EnvironMatch(pid_t pid, std::string_view entry, bool prefix) {
  const std::string path = "/proc/" + std::to_string(pid) + "/environ";
  // An exec may complete between the reads below: then the environ is read again (bounded).
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto text = ReadSmallFile(path);
    if (!text) {
      // Gone (ENOENT, ESRCH) or not ours to read (EACCES, EPERM): not a process we spawned.
      return errno == ENOENT || errno == ESRCH || errno == EACCES || errno == EPERM
                 ? EnvMatch::kNo
                 : EnvMatch::kUnknown;
    }
    if (!text->empty()) return HasEntry(*text, entry, prefix) ? EnvMatch::kYes : EnvMatch::kNo;
    // Empty: a zombie, a kernel thread, an empty environment, or no image right now (execve in
    // progress; or the file was opened on the image that an exec then replaced).
    auto st = ReadProcStat(pid);
    if (!st || st->state == 'Z' || st->state == 'X') return EnvMatch::kNo;
    if ((st->flags & kPfKthread) != 0 || pid == 2 || st->ppid == 2) return EnvMatch::kNo;
    if (st->env_end == 0) return EnvMatch::kUnknown;         // no image (exec or exit)
    if (st->env_start == st->env_end) return EnvMatch::kNo;  // really empty
    // The current image has an environment: the read above saw an earlier one. Read again.
  }
  return EnvMatch::kUnknown;
}

std::optional<std::string> ReadCgroupV2Path(pid_t pid) {
  auto text = ReadSmallFile("/proc/" + std::to_string(pid) + "/cgroup");
  if (!text) return std::nullopt;
  std::string_view all(*text);
  size_t i = 0;
  while (i < all.size()) {
    size_t end = all.find('\n', i);
    if (end == std::string_view::npos) end = all.size();
    std::string_view line = all.substr(i, end - i);
    if (line.substr(0, 3) == "0::") return std::string(line.substr(3));
    i = end + 1;
  }
  return std::nullopt;
}

std::vector<pid_t> ReadCgroupProcs(const std::string& dir) {
  auto text = ReadSmallFile(dir + "/cgroup.procs");
  if (!text) return {};
  return ParsePidList(*text);
}

std::optional<std::string> DetectCgroupV2Root() {
  for (const char* candidate : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    if (IsCgroup2(candidate) && access(candidate, W_OK) == 0) return std::string(candidate);
  }
  return std::nullopt;
}

std::vector<pid_t> ListOwnChildren() {
  std::vector<pid_t> out;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {  // NOLINT(concurrency-mt-unsafe): DIR not shared
    if (!ParseInt(e->d_name)) continue;
    auto text = ReadSmallFile(std::string("/proc/self/task/") + e->d_name + "/children");
    if (!text) continue;
    for (pid_t p : ParsePidList(*text)) out.push_back(p);
  }
  closedir(dir);
  return out;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

int PidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

std::string ErrnoMessage(int err) {
  char buf[256];
  return strerror_r(err, buf, sizeof buf);  // GNU strerror_r returns the message
}

int64_t ClockTicksPerSecond() {
  static const int64_t kTicks = [] {
    long v = sysconf(_SC_CLK_TCK);
    return v > 0 ? static_cast<int64_t>(v) : int64_t{100};
  }();
  return kTicks;
}

int64_t PageSize() {
  static const int64_t kSize = [] {
    long v = sysconf(_SC_PAGESIZE);
    return v > 0 ? static_cast<int64_t>(v) : int64_t{4096};
  }();
  return kSize;
}

}  // namespace overseer::proc::internal
