// MetricsRegistry: the daemon's named counters, gauges and histograms, each optionally
// labelled (a workspace, a status class), rendered as text in the Prometheus exposition
// format. Owned by the app and handed by pointer to whoever records (the http server, the
// services, the commit queue), so that every figure has one home and one rendering.
//
// Thread rule: any thread. Looking a metric up (Counter, Gauge, Histogram) takes a mutex
// and returns a reference valid for the registry's lifetime: look up once, keep the
// reference, and record through it (lock-free atomics) on hot paths. RenderText and Value
// take the mutex and read the atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace overseer {

// Label name -> value pairs; order does not matter (they are sorted by name).
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A value that only goes up.
class Counter {
 public:
  void Add(int64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// A value that goes up and down.
class Gauge {
 public:
  void Set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void Add(int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Observations counted into buckets by upper bound (seconds, bytes, ...), with their sum.
class Histogram {
 public:
  // `bounds`: increasing upper bounds; a +Inf bucket is implicit.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Observations <= bounds()[i] (not cumulative); the last one is the +Inf bucket.
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1
  std::atomic<uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The metric `name` with `labels`, created at first use. `name` must be a metric name
  // ([a-zA-Z_:][a-zA-Z0-9_:]*) and label names [a-zA-Z_][a-zA-Z0-9_]*; one name is one
  // kind (counter, gauge or histogram): misuse is a bug and aborts. `help` is kept from
  // the first call. For a histogram, `bounds` too.
  Counter& GetCounter(std::string_view name, std::string_view help, MetricLabels labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, MetricLabels labels = {});
  Histogram& GetHistogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                          MetricLabels labels = {});

  // The value of a counter or gauge; nullopt if it was never created.
  std::optional<int64_t> Value(std::string_view name, MetricLabels labels = {}) const;

  // Every metric in the Prometheus text format (version 0.0.4): families sorted by name,
  // each with # HELP and # TYPE, series sorted by labels; histograms as _bucket{le=...}
  // (cumulative), _sum and _count.
  std::string RenderText() const;

 private:
  enum class Kind { kCounter, kGauge, kHistogram };
  struct Family {
    Kind kind;
    std::string help;
    std::map<MetricLabels, std::unique_ptr<Counter>> counters;
    std::map<MetricLabels, std::unique_ptr<Gauge>> gauges;
    std::map<MetricLabels, std::unique_ptr<Histogram>> histograms;
  };
  Family& FamilyFor(std::string_view name, std::string_view help, Kind kind, MetricLabels& labels);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace overseer
