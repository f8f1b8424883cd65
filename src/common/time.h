// Wall-clock time as integer milliseconds since the Unix epoch, RFC 3339 formatting,
// and the Clock seam that lets tests fix time. Any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace overseer {

using TimeMs = int64_t;  // milliseconds since 1970-01-01T00:00:00Z; 0 means "not set"

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeMs NowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimeMs NowMs() const override;
  static const SystemClock& Instance();
};

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimeMs now) : now_(now) {}
  TimeMs NowMs() const override { return now_; }
  void AdvanceMs(TimeMs ms) { now_ += ms; }

 private:
  TimeMs now_;
};

// "2026-11-25T08:15:50.123Z".
std::string FormatRfc3339(TimeMs t);
// Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z"; nullopt if malformed.
std::optional<TimeMs> ParseRfc3339(std::string_view s);

}  // namespace overseer
