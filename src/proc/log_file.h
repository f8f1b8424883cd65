// Size-capped append-only log file with one backup (`<path>.1`), and reading its tail.
// A LogFile is used from one thread at a time (the loop); TailLog runs on any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace overseer::proc {

class LogFile {
 public:
  // Opens (creates, 0644) `path` for appending. When a write would take the file past
  // `max_bytes`, the file is renamed to `path + ".1"` (replacing the old backup) and a fresh
  // file is begun, so neither file ever exceeds `max_bytes` (values < 1 count as 1).
  // kInternal if the file cannot be opened.
  static Result<std::unique_ptr<LogFile>> Open(const std::string& path, int64_t max_bytes);
  // Like Open, but the file is created (or opened for appending) by the first Write: a
  // process that never prints costs no file. Checks now that the directory is writable
  // (kInternal otherwise).
  static Result<std::unique_ptr<LogFile>> OpenLazily(const std::string& path, int64_t max_bytes);
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;

  // Appends `data`, rotating as needed. kInternal on a write or rotation failure (the rest of
  // `data` is dropped).
  Status Write(std::string_view data);

  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  LogFile(std::string path, int64_t max_bytes, int fd, int64_t size)
      : path_(std::move(path)), max_bytes_(max_bytes), fd_(fd), size_(size) {}
  Status Rotate();
  Status OpenNow();

  std::string path_;
  int64_t max_bytes_;
  int fd_;
  int64_t size_;
  bool open_pending_ = false;  // OpenLazily: not opened yet
};

// The last `lines` lines (a final newline does not start a new line) of `log_path.1` followed
// by `log_path`, at most the last `max_bytes` bytes (so the first line may be cut).
// kNotFound if neither file exists; kInternal on a read error. Any thread.
Result<std::string> TailLogFiles(const std::string& log_path, int lines, int64_t max_bytes);

// Calls `fn(line, cut)` for each line, in order, of `log_path.1` followed by `log_path` (read
// as one stream: a rotation may split a line between them), without its "\n"; a last line
// without one is given too. Only the last `max_bytes` bytes are read: when that starts inside
// the stream, the first (maybe partial) line is skipped. A line longer than `max_line_bytes`
// is given as its first max_line_bytes bytes with cut = true. kNotFound if neither file
// exists; kInternal on a read error. Any thread (blocking reads).
Status ForEachLogLine(const std::string& log_path, int64_t max_bytes, size_t max_line_bytes,
                      const std::function<void(std::string_view line, bool cut)>& fn);

}  // namespace overseer::proc
