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

namespace {

// Splits a byte stream into lines for ForEachLogLine.
class LineSplitter {
 public:
  LineSplitter(size_t max_line_bytes, bool skip_first,
               const std::function<void(std::string_view, bool)>& fn)
      : max_(max_line_bytes), skipping_(skip_first), fn_(fn) {}

  void Push(std::string_view data) {
    while (!data.empty()) {
      const size_t nl = data.find('\n');
      const std::string_view part = data.substr(0, nl);
      if (!skipping_) Append(part);
      if (nl == std::string_view::npos) return;
      if (skipping_) {
        skipping_ = false;
      } else {
        fn_(line_, cut_);
        line_.clear();
        cut_ = false;
      }
      data.remove_prefix(nl + 1);
    }
  }

  void Finish() {
    if (!skipping_ && (!line_.empty() || cut_)) fn_(line_, cut_);
    line_.clear();
    cut_ = false;
  }

 private:
  void Append(std::string_view part) {
    const size_t room = max_ - std::min(max_, line_.size());
    if (part.size() > room) cut_ = true;
    line_.append(part.substr(0, room));
  }

  size_t max_;
  bool skipping_;
  const std::function<void(std::string_view, bool)>& fn_;
  std::string line_;
  bool cut_ = false;
};

}  // namespace

Status ForEachLogLine(const std::string& log_path, int64_t max_bytes, size_t max_line_bytes,
                      const std::function<void(std::string_view line, bool cut)>& fn) {
  // The backup first: a rotation between the two opens then loses the middle part rather
  // than reading it twice.
  const std::string paths[2] = {log_path + ".1", log_path};
  int fds[2] = {-1, -1};
  int64_t sizes[2] = {0, 0};
  auto close_all = [&fds] {
    for (int& fd : fds) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
  };
  for (int i = 0; i < 2; ++i) {
    fds[i] = open(paths[i].c_str(), O_RDONLY | O_CLOEXEC);
    if (fds[i] < 0) {
      if (errno == ENOENT) continue;
      const int err = errno;
      close_all();
      return MakeError(ErrorCode::kInternal, Errno("cannot open log " + paths[i], err));
    }
    struct stat st {};
    if (fstat(fds[i], &st) != 0) {
      const int err = errno;
      close_all();
      return MakeError(ErrorCode::kInternal, Errno("cannot stat log " + paths[i], err));
    }
    sizes[i] = st.st_size;
  }
  if (fds[0] < 0 && fds[1] < 0) return MakeError(ErrorCode::kNotFound, "no log at " + log_path);
  int64_t skip = std::max<int64_t>(0, sizes[0] + sizes[1] - std::max<int64_t>(0, max_bytes));
  LineSplitter lines(std::max<size_t>(1, max_line_bytes), skip > 0, fn);
  std::string buf(64 * 1024, '\0');
  for (int i = 0; i < 2; ++i) {
    if (fds[i] < 0) continue;
    int64_t at = std::min(skip, sizes[i]);
    skip -= at;
    while (at < sizes[i]) {
      const size_t want =
          static_cast<size_t>(std::min<int64_t>(static_cast<int64_t>(buf.size()), sizes[i] - at));
      ssize_t n = pread(fds[i], buf.data(), want, static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        close_all();
        return MakeError(ErrorCode::kInternal, Errno("cannot read log " + paths[i], err));
      }
      if (n == 0) break;  // truncated meanwhile
      lines.Push(std::string_view(buf.data(), static_cast<size_t>(n)));
      at += n;
    }
  }
  close_all();
  lines.Finish();
  return OkStatus();
}

}  // namespace overseer::proc
