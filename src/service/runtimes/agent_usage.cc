#include "service/runtimes/agent_usage.h"

#include "common/utf8.h"

namespace overseer::service {

void BoundedText::Set(std::string_view s, size_t max_bytes) {
  truncated = s.size() > max_bytes;
  text.assign(truncated ? TruncateUtf8(s, max_bytes) : s);
}

UsageDelta Subtract(const UsageDelta& a, const UsageDelta& b) {
  UsageDelta d;
  d.input_tokens = a.input_tokens - b.input_tokens;
  d.output_tokens = a.output_tokens - b.output_tokens;
  d.cache_read_tokens = a.cache_read_tokens - b.cache_read_tokens;
  d.cache_write_tokens = a.cache_write_tokens - b.cache_write_tokens;
  d.reasoning_tokens = a.reasoning_tokens - b.reasoning_tokens;
  d.cost_usd = a.cost_usd - b.cost_usd;
  return d;
}

}  // namespace overseer::service
