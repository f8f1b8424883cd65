// Running out of file descriptors (EMFILE: this process's RLIMIT_NOFILE is reached;
// ENFILE: the system's file table is full) is transient: descriptors come back as
// connections and files close. Such failures are reported as kUnavailable (503 with
// Retry-After) with a message that says so, wherever they surface (accept, the database's
// files, a worker's pipe or log file).
#pragma once

#include <cerrno>
#include <string>
#include <string_view>

#include "common/result.h"

namespace overseer {

inline bool IsOutOfFds(int err) { return err == EMFILE || err == ENFILE; }

// "out of file descriptors (EMFILE): <what>; retry later".
inline std::string OutOfFdsMessage(int err, std::string_view what) {
  std::string msg = err == ENFILE ? "the system is out of file descriptors (ENFILE): "
                                  : "out of file descriptors (EMFILE): ";
  msg += what;
  msg += "; retry later";
  return msg;
}

inline Error OutOfFdsError(int err, std::string_view what) {
  return MakeError(ErrorCode::kUnavailable, OutOfFdsMessage(err, what));
}

// The descriptors a worker's start takes at its peak (output pipe, log file, pidfd, the cgroup
// file it is moved in with) and one to spare: what a submit checks is left before anything is
// written.
inline constexpr int kDescriptorsPerSpawn = 6;

// OK when this process can open `n` more descriptors right now (at most 16 are tried: opened,
// then closed at once); OutOfFdsError(`what`) otherwise. A few syscalls; any thread.
Status CheckDescriptorsLeft(int n, std::string_view what);

}  // namespace overseer
