// Keyset pagination and filters of the list endpoints.
#include <set>

#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;

class PaginationTest : public SharedDaemonTest<PaginationTest> {
 protected:
  // Follows next_cursor from `first` (a target without cursor); the ids in order.
  std::vector<std::string> Walk(const std::string& first, const std::string& plural,
                                size_t page_max, int* pages) {
    std::vector<std::string> ids;
    std::string target = first;
    *pages = 0;
    for (int guard = 0; guard < 50; ++guard) {
      Reply r = api().Get(target);
      EXPECT_EQ(r.status, 200u) << target << " " << Describe(r);
      if (r.status != 200) break;
      ++*pages;
      const json::array& items = r.At({plural}).as_array();
      EXPECT_LE(items.size(), page_max);
      for (const json::value& it : items) ids.emplace_back(it.at("id").as_string());
      const json::value& next = r.At({"next_cursor"});
      EXPECT_TRUE(r.json.as_object().contains("next_cursor")) << r.body;
      if (next.is_null()) break;
      EXPECT_TRUE(next.is_string()) << r.body;
      EXPECT_FALSE(items.empty()) << "a cursor after an empty page: " << r.body;
      const std::string sep = first.find('?') == std::string::npos ? "?" : "&";
      target = first + sep + "cursor=" + std::string(next.as_string());
    }
    return ids;
  }
};

TEST_F(PaginationTest, JobsAndWorkersPageWithoutLossOrRepeat) {
  std::set<std::string> created_jobs;
  std::set<std::string> created_workers;
  for (int i = 0; i < 7; ++i) {
    Reply r = api().Post("/api/jobs", CommandJob({"true"}, {{"name", "job-" + std::to_string(i)}}));
    ASSERT_EQ(r.status, 201u) << Describe(r);
    created_jobs.insert(r.Str({"id"}));
    for (const auto& w : WorkerIds(api(), r.Str({"id"}))) created_workers.insert(w);
  }
  ASSERT_EQ(created_workers.size(), 7u);

  int pages = 0;
  std::vector<std::string> jobs = Walk("/api/jobs?limit=3", "jobs", 3, &pages);
  EXPECT_EQ(jobs.size(), 7u);
  EXPECT_EQ(std::set<std::string>(jobs.begin(), jobs.end()), created_jobs);
  EXPECT_EQ(pages, 3);

  std::vector<std::string> workers = Walk("/api/supervisor/workers?limit=3", "workers", 3, &pages);
  EXPECT_EQ(workers.size(), 7u);
  EXPECT_EQ(std::set<std::string>(workers.begin(), workers.end()), created_workers);
  EXPECT_EQ(pages, 3);

  // Exactly one full page: next_cursor is null, or the following page is empty and final.
  std::vector<std::string> all = Walk("/api/jobs?limit=7", "jobs", 7, &pages);
  EXPECT_EQ(all.size(), 7u);
  EXPECT_LE(pages, 2);
}

TEST_F(PaginationTest, FiltersByStatusAndJob) {
  Reply ok = api().Post("/api/jobs", CommandJob({"true"}));
  Reply bad = api().Post("/api/jobs", CommandJob({"false"}));
  Reply run = api().Post("/api/jobs", CommandJob({"sleep", "60"}, {{"worker_count", 2}}));
  ASSERT_EQ(ok.status, 201u);
  ASSERT_EQ(bad.status, 201u);
  ASSERT_EQ(run.status, 201u);
  EXPECT_EQ(WaitJob(api(), ok.Str({"id"}), "COMPLETED").Str({"status"}), "COMPLETED");
  EXPECT_EQ(WaitJob(api(), bad.Str({"id"}), "FAILED").Str({"status"}), "FAILED");
  EXPECT_EQ(WaitJob(api(), run.Str({"id"}), "RUNNING").Str({"status"}), "RUNNING");

  auto ids = [](const Reply& r, const std::string& plural) {
    std::set<std::string> out;
    if (r.At({plural}).is_array()) {
      for (const json::value& v : r.At({plural}).as_array()) out.emplace(v.at("id").as_string());
    }
    return out;
  };
  EXPECT_EQ(ids(api().Get("/api/jobs?status=COMPLETED"), "jobs"),
            std::set<std::string>{ok.Str({"id"})});
  EXPECT_EQ(ids(api().Get("/api/jobs?status=FAILED"), "jobs"),
            std::set<std::string>{bad.Str({"id"})});
  EXPECT_EQ(ids(api().Get("/api/jobs?status=RUNNING"), "jobs"),
            std::set<std::string>{run.Str({"id"})});
  EXPECT_EQ(ids(api().Get("/api/jobs?status=CANCELED"), "jobs"), std::set<std::string>{});

  const std::vector<std::string> run_workers = WorkerIds(api(), run.Str({"id"}));
  ASSERT_EQ(run_workers.size(), 2u);
  for (const auto& w : run_workers) WaitWorker(api(), w, "RUNNING");
  Reply by_job = api().Get("/api/supervisor/workers?job_id=" + run.Str({"id"}));
  EXPECT_EQ(ids(by_job, "workers"), std::set<std::string>(run_workers.begin(), run_workers.end()));
  Reply running = api().Get("/api/supervisor/workers?status=RUNNING");
  EXPECT_EQ(ids(running, "workers"), std::set<std::string>(run_workers.begin(), run_workers.end()));
  Reply both = api().Get("/api/supervisor/workers?status=COMPLETED&job_id=" + run.Str({"id"}));
  EXPECT_EQ(ids(both, "workers"), std::set<std::string>{});
  Reply failed = api().Get("/api/supervisor/workers?status=FAILED");
  const std::vector<std::string> bad_workers = WorkerIds(api(), bad.Str({"id"}));
  EXPECT_EQ(ids(failed, "workers"), std::set<std::string>(bad_workers.begin(), bad_workers.end()));
  // Depth and root filters of jobs.
  EXPECT_EQ(ids(api().Get("/api/jobs?depth=0"), "jobs").size(), 3u);
  EXPECT_EQ(ids(api().Get("/api/jobs?depth=1"), "jobs").size(), 0u);
  // Ending one worker fails the job, which ends the other.
  EXPECT_EQ(api().Post("/api/supervisor/workers/" + run_workers[0] + "/terminate", "").status,
            200u);
  EXPECT_EQ(WaitWorker(api(), run_workers[1], "TERMINATED").Str({"status"}), "TERMINATED");
}

}  // namespace
}  // namespace overseer::it
