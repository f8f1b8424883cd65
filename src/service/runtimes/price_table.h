// Token prices per model, to put a cost on usage the agent CLI does not price (Codex reports
// no cost; Claude's streamed messages carry none until its final result line). Immutable
// after it is built; any thread.
//
// The operator's file replaces the built-in table (kBuiltInPricesJson) as a whole:
//
//   {"default": {"input": 5, "cached_input": 0.5, "cache_write": 6.25, "output": 25},
//    "models": {"gpt-5": {"input": 1.25, "cached_input": 0.125, "output": 10}, ...}}
//
// Prices are USD per million tokens. `input` and `output` are required; `cached_input` (a
// prompt-cache read) and `cache_write` default to `input`. Keys starting with "_" are
// comments. A model is looked up by its name (ASCII case folded, a trailing "[...]" such as
// Claude's "[1m]" dropped): first exactly, then the longest listed name it starts with followed
// by "-" (so "claude-opus-4-20250514" finds "claude-opus-4", "gpt-5-mini-2025-08-07" finds
// "gpt-5-mini"). A model not found is priced at `default` (the built-in default is a
// deliberately high frontier rate, so an unknown model's budget runs out early rather than
// late), or at 0 when the table has no `default`; either way the lookup says it was not found
// and the cost is flagged (AgentUsage::cost_default_price).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "service/runtimes/agent_usage.h"

namespace overseer::service {

// USD per million tokens.
struct ModelPrice {
  double input = 0;
  double cached_input = 0;
  double cache_write = 0;
  double output = 0;
};

// The built-in table: list prices of current Anthropic and OpenAI models (the Claude Opus 4.5+
// rate reproduces claude 2.1.197's own total_cost_usd exactly). The Codex 0.171.0 model
// slugs (gpt-5.5, gpt-5.6-*, gpt-6*) have no published price here: they get `default`.
extern const std::string_view kBuiltInPricesJson;

class PriceTable {
 public:
  static constexpr size_t kFileMaxBytes = 1024 * 1024;
  static constexpr size_t kModelsMax = 1024;

  struct Lookup {
    ModelPrice price;
    bool found = false;  // false: the default (or 0) was used
  };

  // Empty: every model unknown and priced 0.
  PriceTable() = default;
  static const PriceTable& BuiltIn();
  // kInvalidRequest naming the bad field ("models.gpt-5.output: ...").
  static Result<PriceTable> FromJson(std::string_view json);
  // Reads and parses a file: kNotFound if it cannot be read, kInvalidRequest if it is not a
  // table or is larger than kFileMaxBytes. Blocking I/O: not on the loop.
  static Result<PriceTable> LoadFile(const std::string& path);

  Lookup Find(std::string_view model) const;
  // USD for the given tokens (UsageDelta fields, see agent_usage.h) at `price`.
  static double Cost(const ModelPrice& price, const UsageDelta& tokens);

  size_t size() const { return models_.size(); }
  bool has_default() const { return default_.has_value(); }

 private:
  std::map<std::string, ModelPrice, std::less<>> models_;  // keys lower-case
  std::optional<ModelPrice> default_;
};

}  // namespace overseer::service
