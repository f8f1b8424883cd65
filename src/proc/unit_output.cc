// Unit: the read end of the unit's output pipe, pumped into its size-capped log file on the
// loop. Loop thread only.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <string_view>

#include "proc/unit.h"

namespace overseer::proc::internal {

void Unit::ReadOutput() {
  out_.async_wait(Descriptor::wait_read,
                  [self = shared_from_this()](const boost::system::error_code& ec) {
                    if (self->core_ == nullptr || ec == asio::error::operation_aborted) return;
                    self->PumpOutput();
                  });
}

void Unit::PumpOutput() {
  if (core_ == nullptr || !out_.is_open()) return;
  switch (DrainOutput(16)) {
    case Drained::kAgain:
      ReadOutput();
      break;
    case Drained::kMore:  // a fast writer: yield to other handlers, then go on
      asio::post(io_, [self = shared_from_this()] { self->PumpOutput(); });
      break;
    case Drained::kClosed:
      break;
  }
}

// All reads of the pipe happen here, in order: the read end is non-blocking.
Unit::Drained Unit::DrainOutput(int max_reads) {
  for (int i = 0; i < max_reads; ++i) {
    ssize_t n = read(out_.native_handle(), buf_.data(), buf_.size());
    if (n > 0) {
      if (log_) {
        Status s = log_->Write(std::string_view(buf_.data(), static_cast<size_t>(n)));
        if (!s.ok() && !log_error_reported_) {
          log_error_reported_ = true;
          spdlog::error("proc: unit {}: {}", proc_->unit_name_, s.error().message);
        }
      }
      if (callbacks_.on_output)
        SplitLines(std::string_view(buf_.data(), static_cast<size_t>(n)), false);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Drained::kAgain;
    if (n < 0) spdlog::warn("proc: unit {} output: {}", proc_->unit_name_, ErrnoText(errno));
    if (callbacks_.on_output) SplitLines({}, true);
    boost::system::error_code ignored;
    out_.close(ignored);  // EOF: every writer is gone
    log_.reset();
    return Drained::kClosed;
  }
  return Drained::kMore;
}

void Unit::SplitLines(std::string_view chunk, bool eof) {
  while (!chunk.empty()) {
    const size_t nl = chunk.find('\n');
    const size_t take = nl == std::string_view::npos ? chunk.size() : nl;
    const size_t room = kMaxOutputLine - line_buf_.size();
    if (take > room) {  // a line too long: hand over what fits, the rest follows as more
      line_buf_.append(chunk.substr(0, room));
      callbacks_.on_output(line_buf_);
      line_buf_.clear();
      chunk.remove_prefix(room);
      continue;
    }
    line_buf_.append(chunk.substr(0, take));
    if (nl == std::string_view::npos) break;
    callbacks_.on_output(line_buf_);
    line_buf_.clear();
    chunk.remove_prefix(nl + 1);
  }
  if (eof && !line_buf_.empty()) {
    callbacks_.on_output(line_buf_);
    line_buf_.clear();
  }
}

}  // namespace overseer::proc::internal
