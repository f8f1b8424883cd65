#include "service/runtimes/price_table.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>
#include <cmath>
#include <fstream>
#include <iterator>

namespace overseer::service {

namespace json = boost::json;

// Sources: the vendors' published per-million-token list prices. Anthropic: Opus 4.5 and later
// 5 / 25 (cache read 0.1x, 5-minute cache write 1.25x input), Opus 4 and 4.1 15 / 75, Sonnet 4.x
// 3 / 15, Haiku 4.5 1 / 5, Haiku 3.5 0.8 / 4. OpenAI: cached input at the listed rate.
const std::string_view kBuiltInPricesJson = R"json({
  "_comment": "USD per million tokens; see src/service/runtimes/price_table.h",
  "default": {"input": 5, "cached_input": 0.5, "cache_write": 6.25, "output": 25},
  "models": {
    "claude-opus-4-8": {"input": 5, "cached_input": 0.5, "cache_write": 6.25, "output": 25},
    "claude-opus-4-7": {"input": 5, "cached_input": 0.5, "cache_write": 6.25, "output": 25},
    "claude-opus-4-6": {"input": 5, "cached_input": 0.5, "cache_write": 6.25, "output": 25},
    "claude-opus-4-5": {"input": 5, "cached_input": 0.5, "cache_write": 6.25, "output": 25},
    "claude-opus-4-1": {"input": 15, "cached_input": 1.5, "cache_write": 18.75, "output": 75},
    "claude-opus-4": {"input": 15, "cached_input": 1.5, "cache_write": 18.75, "output": 75},
    "claude-sonnet-4": {"input": 3, "cached_input": 0.3, "cache_write": 3.75, "output": 15},
    "claude-haiku-4-5": {"input": 1, "cached_input": 0.1, "cache_write": 1.25, "output": 5},
    "claude-3-5-haiku": {"input": 0.8, "cached_input": 0.08, "cache_write": 1, "output": 4},
    "gpt-5.2": {"input": 1.75, "cached_input": 0.175, "output": 14},
    "gpt-5.2-codex": {"input": 1.75, "cached_input": 0.175, "output": 14},
    "gpt-5.1": {"input": 1.25, "cached_input": 0.125, "output": 10},
    "gpt-5.1-codex": {"input": 1.25, "cached_input": 0.125, "output": 10},
    "gpt-5.1-codex-mini": {"input": 0.25, "cached_input": 0.025, "output": 2},
    "gpt-5": {"input": 1.25, "cached_input": 0.125, "output": 10},
    "gpt-5-codex": {"input": 1.25, "cached_input": 0.125, "output": 10},
    "gpt-5-mini": {"input": 0.25, "cached_input": 0.025, "output": 2},
    "gpt-5-nano": {"input": 0.05, "cached_input": 0.005, "output": 0.4},
    "gpt-4.1": {"input": 2, "cached_input": 0.5, "output": 8},
    "gpt-4.1-mini": {"input": 0.4, "cached_input": 0.1, "output": 1.6},
    "o3": {"input": 2, "cached_input": 0.5, "output": 8},
    "o4-mini": {"input": 1.1, "cached_input": 0.275, "output": 4.4}
  }
})json";

namespace {

Error Invalid(const std::string& field, const std::string& message) {
  return MakeError(ErrorCode::kInvalidRequest, "price table: " + field + ": " + message);
}

std::string Fold(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Result<double> Price(const json::object& o, std::string_view key, const std::string& field,
                     std::optional<double> fallback) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    if (fallback) return *fallback;
    return Invalid(field + "." + std::string(key), "required");
  }
  double d = -1;
  if (const int64_t* i = v->if_int64()) {
    d = static_cast<double>(*i);
  } else if (const uint64_t* u = v->if_uint64()) {
    d = static_cast<double>(*u);
  } else if (const double* f = v->if_double()) {
    d = *f;
  }
  if (!std::isfinite(d) || d < 0 || d > 1e6) {
    return Invalid(field + "." + std::string(key), "must be a number from 0 to 1000000");
  }
  return d;
}

Result<ModelPrice> ParsePrice(const json::value& v, const std::string& field) {
  const json::object* o = v.if_object();
  if (o == nullptr) return Invalid(field, "must be an object");
  for (const auto& [k, unused] : *o) {
    std::string_view key(k.data(), k.size());
    if (key != "input" && key != "cached_input" && key != "cache_write" && key != "output" &&
        !key.starts_with("_")) {
      return Invalid(field + "." + std::string(key), "unknown price");
    }
  }
  ModelPrice p;
  Result<double> input = Price(*o, "input", field, std::nullopt);
  if (!input) return input.error();
  p.input = *input;
  Result<double> output = Price(*o, "output", field, std::nullopt);
  if (!output) return output.error();
  p.output = *output;
  Result<double> cached = Price(*o, "cached_input", field, p.input);
  if (!cached) return cached.error();
  p.cached_input = *cached;
  Result<double> write = Price(*o, "cache_write", field, p.input);
  if (!write) return write.error();
  p.cache_write = *write;
  return p;
}

}  // namespace

const PriceTable& PriceTable::BuiltIn() {
  static const PriceTable* const kTable = [] {
    Result<PriceTable> t = FromJson(kBuiltInPricesJson);
    return new PriceTable(t ? std::move(*t) : PriceTable());
  }();
  return *kTable;
}

Result<PriceTable> PriceTable::FromJson(std::string_view text) {
  boost::system::error_code ec;
  json::value doc = json::parse(text, ec);
  if (ec) return Invalid("document", "not JSON: " + ec.message());
  const json::object* root = doc.if_object();
  if (root == nullptr) return Invalid("document", "must be an object");
  PriceTable table;
  for (const auto& [k, v] : *root) {
    std::string key(k.data(), k.size());
    if (key == "default") {
      Result<ModelPrice> p = ParsePrice(v, "default");
      if (!p) return p.error();
      table.default_ = *p;
    } else if (key == "models") {
      const json::object* models = v.if_object();
      if (models == nullptr) return Invalid("models", "must be an object");
      if (models->size() > kModelsMax) {
        return Invalid("models", "more than " + std::to_string(kModelsMax) + " models");
      }
      for (const auto& [name, price] : *models) {
        std::string field = "models." + std::string(name.data(), name.size());
        if (name.empty() || name.size() > AgentUsage::kIdMaxBytes) {
          return Invalid(field, "a model name has 1 to 256 bytes");
        }
        Result<ModelPrice> p = ParsePrice(price, field);
        if (!p) return p.error();
        table.models_[Fold(std::string_view(name.data(), name.size()))] = *p;
      }
    } else if (!key.starts_with("_")) {
      return Invalid(key, "unknown field (expected default, models)");
    }
  }
  return table;
}

Result<PriceTable> PriceTable::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(ErrorCode::kNotFound, "price table: cannot read " + path);
  std::string text;
  char buf[16 * 1024];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kFileMaxBytes) {
      return Invalid("document", path + " is larger than 1 MiB");
    }
  }
  if (in.bad()) return MakeError(ErrorCode::kNotFound, "price table: cannot read " + path);
  return FromJson(text);
}

PriceTable::Lookup PriceTable::Find(std::string_view model) const {
  if (model.size() > 2 && model.back() == ']') {
    size_t open = model.rfind('[');
    if (open != std::string_view::npos && open > 0) model = model.substr(0, open);
  }
  std::string name = Fold(model);
  if (auto it = models_.find(name); it != models_.end()) return {it->second, true};
  // The longest listed name followed by '-' in `name`: try each '-' from the right.
  for (size_t dash = name.rfind('-'); dash != std::string::npos && dash > 0;
       dash = name.rfind('-', dash - 1)) {
    if (auto it = models_.find(std::string_view(name).substr(0, dash)); it != models_.end()) {
      return {it->second, true};
    }
  }
  return {default_.value_or(ModelPrice{}), false};
}

double PriceTable::Cost(const ModelPrice& price, const UsageDelta& t) {
  return (static_cast<double>(t.input_tokens) * price.input +
          static_cast<double>(t.cache_read_tokens) * price.cached_input +
          static_cast<double>(t.cache_write_tokens) * price.cache_write +
          static_cast<double>(t.output_tokens) * price.output) /
         1e6;
}

}  // namespace overseer::service
