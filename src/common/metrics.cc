#include "common/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/check.h"

namespace overseer {
namespace {

bool IsMetricName(std::string_view s, bool allow_colon) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

void AppendDouble(std::string& out, double v) {
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, ec == std::errc() ? end : buf);
}

// Escapes a label value: backslash, double quote and line feed.
void AppendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

// `{a="1",b="2"}` with `extra` (le="...") last; nothing if there are no labels.
void AppendLabels(std::string& out, const MetricLabels& labels, std::string_view extra_name = {},
                  std::string_view extra_value = {}) {
  if (labels.empty() && extra_name.empty()) return;
  out += '{';
  bool first = true;
  auto one = [&](std::string_view k, std::string_view v) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    AppendLabelValue(out, v);
    out += '"';
  };
  for (const auto& [k, v] : labels) one(k, v);
  if (!extra_name.empty()) one(extra_name, extra_value);
  out += '}';
}

void AppendHelp(std::string& out, std::string_view name, std::string_view help,
                std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  for (char c : help) {  // help text escapes backslash and line feed
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {
  OVERSEER_CHECK(std::is_sorted(bounds_.begin(), bounds_.end()));
}

void Histogram::Observe(double v) {
  const size_t i =
      static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

MetricsRegistry::Family& MetricsRegistry::FamilyFor(std::string_view name, std::string_view help,
                                                    Kind kind, MetricLabels& labels) {
  OVERSEER_CHECK(IsMetricName(name, /*allow_colon=*/true));
  for (const auto& [k, v] : labels) OVERSEER_CHECK(IsMetricName(k, /*allow_colon=*/false));
  std::sort(labels.begin(), labels.end());
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), Family{kind, std::string(help), {}, {}, {}}).first;
  }
  OVERSEER_CHECK(it->second.kind == kind);
  return it->second;
}

Counter& MetricsRegistry::GetCounter(std::string_view name, std::string_view help,
                                     MetricLabels labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Kind::kCounter, labels);
  auto& slot = f.counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::GetGauge(std::string_view name, std::string_view help,
                                 MetricLabels labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Kind::kGauge, labels);
  auto& slot = f.gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         std::vector<double> bounds, MetricLabels labels) {
  std::lock_guard lock(mu_);
  Family& f = FamilyFor(name, help, Kind::kHistogram, labels);
  auto& slot = f.histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(std::move(bounds));
  return *slot;
}

std::optional<int64_t> MetricsRegistry::Value(std::string_view name, MetricLabels labels) const {
  std::sort(labels.begin(), labels.end());
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) return std::nullopt;
  const Family& f = it->second;
  if (auto c = f.counters.find(labels); c != f.counters.end()) return c->second->value();
  if (auto g = f.gauges.find(labels); g != f.gauges.end()) return g->second->value();
  return std::nullopt;
}

std::string MetricsRegistry::RenderText() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    switch (f.kind) {
      case Kind::kCounter:
        AppendHelp(out, name, f.help, "counter");
        for (const auto& [labels, c] : f.counters) {
          out += name;
          AppendLabels(out, labels);
          out += ' ';
          out += std::to_string(c->value());
          out += '\n';
        }
        break;
      case Kind::kGauge:
        AppendHelp(out, name, f.help, "gauge");
        for (const auto& [labels, g] : f.gauges) {
          out += name;
          AppendLabels(out, labels);
          out += ' ';
          out += std::to_string(g->value());
          out += '\n';
        }
        break;
      case Kind::kHistogram:
        AppendHelp(out, name, f.help, "histogram");
        for (const auto& [labels, h] : f.histograms) {
          uint64_t cumulative = 0;
          for (size_t i = 0; i <= h->bounds().size(); ++i) {
            cumulative += h->bucket(i);
            std::string le;
            AppendDouble(le, i < h->bounds().size() ? h->bounds()[i] : INFINITY);
            out += name;
            out += "_bucket";
            AppendLabels(out, labels, "le", le);
            out += ' ';
            out += std::to_string(cumulative);
            out += '\n';
          }
          out += name;
          out += "_sum";
          AppendLabels(out, labels);
          out += ' ';
          AppendDouble(out, h->sum());
          out += '\n';
          out += name;
          out += "_count";
          AppendLabels(out, labels);
          out += ' ';
          out += std::to_string(h->count());
          out += '\n';
        }
        break;
    }
  }
  return out;
}

}  // namespace overseer
