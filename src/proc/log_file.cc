#include "proc/log_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/fd_errors.h"
#include "proc/proc_fs.h"

namespace overseer::proc {
namespace {

std::string Errno(const std::string& what, int err) {
  return what + ": " + internal::ErrnoMessage(err);
}

int OpenAppend(const std::string& path) {
  return open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

// Reads up to `want` bytes from the end of `path`. nullopt-like: sets `missing` if absent.
Result<std::string> ReadTail(const std::string& path, int64_t want, bool& missing) {
  missing = false;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      missing = true;
      return std::string();
    }
    return MakeError(ErrorCode::kInternal, Errno("cannot open log " + path, errno));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    return MakeError(ErrorCode::kInternal, Errno("cannot stat log " + path, err));
  }
  int64_t size = st.st_size;
  int64_t start = std::max<int64_t>(0, size - want);
  std::string out;
  out.resize(static_cast<size_t>(size - start));
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = pread(fd, out.data() + got, out.size() - got,
                      static_cast<off_t>(start) + static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      close(fd);
      return MakeError(ErrorCode::kInternal, Errno("cannot read log " + path, err));
    }
    if (n == 0) break;  // truncated meanwhile
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  close(fd);
  return out;
}

}  // namespace

Result<std::unique_ptr<LogFile>> LogFile::Open(const std::string& path, int64_t max_bytes) {
  std::unique_ptr<LogFile> log(new LogFile(path, std::max<int64_t>(1, max_bytes), -1, 0));
  if (Status s = log->OpenNow(); !s) return s.error();
  return log;
}

Result<std::unique_ptr<LogFile>> LogFile::OpenLazily(const std::string& path, int64_t max_bytes) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  if (access(dir.c_str(), W_OK | X_OK) != 0) {
    return MakeError(ErrorCode::kInternal, Errno("cannot open log file " + path, errno));
  }
  std::unique_ptr<LogFile> log(new LogFile(path, std::max<int64_t>(1, max_bytes), -1, 0));
  log->open_pending_ = true;
  return log;
}

Status LogFile::OpenNow() {
  open_pending_ = false;
  fd_ = OpenAppend(path_);
  if (fd_ < 0) {
    const int err = errno;
    if (IsOutOfFds(err)) return OutOfFdsError(err, "cannot open log file " + path_);
    return MakeError(ErrorCode::kInternal, Errno("cannot open log file " + path_, err));
  }
  struct stat st {};
  size_ = fstat(fd_, &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
  return OkStatus();
}

LogFile::~LogFile() {
  if (fd_ >= 0) close(fd_);
}

Status LogFile::Rotate() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  std::string backup = path_ + ".1";
  if (std::rename(path_.c_str(), backup.c_str()) != 0 && errno != ENOENT) {
    int err = errno;
    // Cannot keep a backup: start over in place rather than grow without bound.
    fd_ = open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_ = 0;
    if (fd_ < 0) return MakeError(ErrorCode::kInternal, Errno("cannot reopen log " + path_, errno));
    return MakeError(ErrorCode::kInternal, Errno("cannot rotate log " + path_, err));
  }
  fd_ = OpenAppend(path_);
  size_ = 0;
  if (fd_ < 0) return MakeError(ErrorCode::kInternal, Errno("cannot reopen log " + path_, errno));
  return OkStatus();
}

Status LogFile::Write(std::string_view data) {
  if (open_pending_ && !data.empty()) {
    if (Status s = OpenNow(); !s) return s;
  }
  Status result;
  while (!data.empty()) {
    if (size_ >= max_bytes_ || fd_ < 0) {
      Status s = Rotate();
      if (!s.ok()) {
        if (fd_ < 0) return s;
        result = s;  // rotated in place; keep writing
      }
    }
    size_t room = static_cast<size_t>(max_bytes_ - size_);
    size_t chunk = std::min(room, data.size());
    ssize_t n = write(fd_, data.data(), chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return MakeError(ErrorCode::kInternal, Errno("cannot write log " + path_, errno));
    }
    size_ += n;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return result;
}

Result<std::string> TailLogFiles(const std::string& log_path, int lines,  // NOLINT
                                 int64_t max_bytes) {
  bool missing_main = false;
  bool missing_backup = false;
  if (max_bytes < 0) max_bytes = 0;
  Result<std::string> main_tail = ReadTail(log_path, max_bytes, missing_main);
  if (!main_tail) return std::move(main_tail).error();
  std::string data = std::move(*main_tail);
  int64_t left = max_bytes - static_cast<int64_t>(data.size());
  if (left > 0) {
    Result<std::string> backup = ReadTail(log_path + ".1", left, missing_backup);
    if (!backup) return std::move(backup).error();
    data = std::move(*backup) + data;
  } else {
    struct stat st {};
    missing_backup = stat((log_path + ".1").c_str(), &st) != 0;
  }
  if (missing_main && missing_backup) {
    return MakeError(ErrorCode::kNotFound, "no log at " + log_path);
  }
  if (lines <= 0) return std::string();
  // Walk back over `lines` line ends; a trailing newline closes the last line.
  size_t end = data.size();
  if (end > 0 && data[end - 1] == '\n') --end;
  size_t pos = end;
  int seen = 0;
  while (pos > 0) {
    if (data[pos - 1] == '\n') {
      if (++seen == lines) break;
    }
    --pos;
  }
  return data.substr(pos);
}

}  // namespace overseer::proc
