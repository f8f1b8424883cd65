#include "common/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace overseer {
namespace {

TEST(MetricsRegistryTest, CountersAndGaugesByNameAndLabels) {
  MetricsRegistry m;
  Counter& a = m.GetCounter("jobs_total", "Jobs.", {{"workspace", "w1"}});
  Counter& b = m.GetCounter("jobs_total", "ignored", {{"workspace", "w2"}});
  EXPECT_NE(&a, &b);
  EXPECT_EQ(&a, &m.GetCounter("jobs_total", "", {{"workspace", "w1"}}));  // same series
  a.Add();
  a.Add(2);
  b.Add();
  Gauge& g = m.GetGauge("live_workers", "Live workers.");
  g.Set(5);
  g.Add(-2);
  EXPECT_EQ(m.Value("jobs_total", {{"workspace", "w1"}}), 3);
  EXPECT_EQ(m.Value("jobs_total", {{"workspace", "w2"}}), 1);
  EXPECT_EQ(m.Value("jobs_total", {{"workspace", "w3"}}), std::nullopt);
  EXPECT_EQ(m.Value("live_workers"), 3);
  EXPECT_EQ(m.Value("nothing"), std::nullopt);
}

TEST(MetricsRegistryTest, LabelOrderDoesNotMatter) {
  MetricsRegistry m;
  Counter& a = m.GetCounter("x_total", "", {{"b", "2"}, {"a", "1"}});
  Counter& b = m.GetCounter("x_total", "", {{"a", "1"}, {"b", "2"}});
  EXPECT_EQ(&a, &b);
}

TEST(MetricsRegistryTest, RendersThePrometheusTextFormat) {
  MetricsRegistry m;
  m.GetCounter("req_total", "Requests by class.", {{"class", "2xx"}}).Add(4);
  m.GetCounter("req_total", "", {{"class", "5xx"}}).Add(1);
  m.GetGauge("open", "Open \"things\"\nnow.").Set(2);
  Histogram& h = m.GetHistogram("lat_seconds", "Latency.", {0.25, 0.5, 1});
  h.Observe(0.125);
  h.Observe(0.25);  // on the bound: counted in le="0.25"
  h.Observe(0.75);
  h.Observe(4);
  EXPECT_EQ(m.RenderText(),
            "# HELP lat_seconds Latency.\n"
            "# TYPE lat_seconds histogram\n"
            "lat_seconds_bucket{le=\"0.25\"} 2\n"
            "lat_seconds_bucket{le=\"0.5\"} 2\n"
            "lat_seconds_bucket{le=\"1\"} 3\n"
            "lat_seconds_bucket{le=\"+Inf\"} 4\n"
            "lat_seconds_sum 5.125\n"
            "lat_seconds_count 4\n"
            "# HELP open Open \"things\"\\nnow.\n"
            "# TYPE open gauge\n"
            "open 2\n"
            "# HELP req_total Requests by class.\n"
            "# TYPE req_total counter\n"
            "req_total{class=\"2xx\"} 4\n"
            "req_total{class=\"5xx\"} 1\n");
}

TEST(MetricsRegistryTest, LabelValuesAreEscaped) {
  MetricsRegistry m;
  m.GetCounter("c_total", "", {{"workspace", "a\"b\\c\nd"}}).Add();
  EXPECT_NE(m.RenderText().find("c_total{workspace=\"a\\\"b\\\\c\\nd\"} 1\n"), std::string::npos)
      << m.RenderText();
}

TEST(MetricsRegistryTest, CountsFromManyThreads) {
  MetricsRegistry m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&m] {
      Counter& c = m.GetCounter("n_total", "");
      Histogram& h = m.GetHistogram("h", "", {1.0});
      for (int i = 0; i < 10000; ++i) {
        c.Add();
        h.Observe(0.5);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(m.Value("n_total"), 40000);
  EXPECT_EQ(m.GetHistogram("h", "", {1.0}).count(), 40000u);
}

TEST(MetricsRegistryDeathTest, OneNameIsOneKind) {
  MetricsRegistry m;
  m.GetCounter("x", "");
  EXPECT_DEATH(m.GetGauge("x", ""), "");
  EXPECT_DEATH(m.GetCounter("bad name", ""), "");
}

}  // namespace
}  // namespace overseer
