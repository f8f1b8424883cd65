// examples/ run against the real daemon: examples/fanout.sh, started as a job's command, creates
// its sub-jobs with the worker's own token, waits for them and reports what they did.
#include <algorithm>
#include <string>
#include <vector>

#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;

class ExamplesTest : public SharedDaemonTest<ExamplesTest> {
 protected:
  static std::string FanoutScript() { return OVERSEER_SOURCE_DIR "/examples/fanout.sh"; }
  // Submits `argv` with no retry; expects 201; the job id.
  std::string Submit(const std::vector<std::string>& argv) {
    json::object extra;
    extra["retry"] = json::object{{"max_attempts", 1}};
    Reply r = api().Post("/api/jobs", CommandJob(argv, extra));
    EXPECT_EQ(r.status, 201u) << Describe(r);
    return r.Str({"id"});
  }
  // The children of `job_id` from its tree, ordered by name.
  std::vector<json::object> Children(const std::string& job_id) {
    Reply t = api().Get("/api/jobs/" + job_id + "/tree");
    EXPECT_EQ(t.status, 200u) << Describe(t);
    std::vector<json::object> out;
    if (t.status != 200u) return out;
    for (const json::value& c : t.At({"children"}).as_array()) out.push_back(c.as_object());
    std::sort(out.begin(), out.end(), [](const json::object& a, const json::object& b) {
      return a.at("name").as_string() < b.at("name").as_string();
    });
    return out;
  }
};

TEST_F(ExamplesTest, FanoutCreatesItsSubJobsUnderItsOwnJobAndWaitsForThem) {
  const std::string job = Submit({FanoutScript(), "3"});
  Reply done = WaitJob(api(), job, "COMPLETED", 60s);
  ASSERT_EQ(done.Str({"status"}), "COMPLETED") << Describe(done);

  const std::vector<json::object> kids = Children(job);
  ASSERT_EQ(kids.size(), 3u);
  for (size_t i = 0; i < kids.size(); ++i) {
    const std::string part = std::to_string(i + 1);
    EXPECT_EQ(kids[i].at("name"), json::value("fanout-" + part + "-of-3"));
    EXPECT_EQ(kids[i].at("parent_job_id"), json::value(job));
    EXPECT_EQ(kids[i].at("depth"), 1);
    EXPECT_EQ(kids[i].at("status"), json::value("COMPLETED")) << json::serialize(kids[i]);
    // Each sub-job ran the default command with its share in its environment.
    const std::vector<std::string> workers =
        WorkerIds(api(), std::string(kids[i].at("id").as_string()));
    ASSERT_EQ(workers.size(), 1u);
    EXPECT_NE(WaitLog(api(), workers[0], "part " + part + " of 3: done").find("part " + part),
              std::string::npos);
  }
  // The parent waited for every child before it printed its summary and exited.
  const std::vector<std::string> parent_workers = WorkerIds(api(), job);
  ASSERT_EQ(parent_workers.size(), 1u);
  const std::string log = WaitLog(api(), parent_workers[0], "fanout: 3 sub-jobs:");
  EXPECT_NE(log.find("fanout: 3 sub-jobs: 3 COMPLETED, 0 FAILED or CANCELED"), std::string::npos)
      << log;
  for (const json::object& kid : kids) {
    EXPECT_NE(log.find("fanout: " + std::string(kid.at("id").as_string()) + " COMPLETED"),
              std::string::npos)
        << log;
  }
}

TEST_F(ExamplesTest, FanoutFailsItsJobWhenASubJobFails) {
  // Part 2 of 2 exits 1: the script reports it and exits 1, so its own job FAILED.
  const std::string job = Submit({FanoutScript(), "2", "sh", "-c", "exit $((SUBJOB_INDEX - 1))"});
  Reply done = WaitJob(api(), job, "FAILED", 60s);
  ASSERT_EQ(done.Str({"status"}), "FAILED") << Describe(done);
  const std::vector<json::object> kids = Children(job);
  ASSERT_EQ(kids.size(), 2u);
  EXPECT_EQ(kids[0].at("status"), json::value("COMPLETED")) << json::serialize(kids[0]);
  EXPECT_EQ(kids[1].at("status"), json::value("FAILED")) << json::serialize(kids[1]);
  const std::vector<std::string> parent_workers = WorkerIds(api(), job);
  ASSERT_EQ(parent_workers.size(), 1u);
  const std::string log = WaitLog(api(), parent_workers[0], "fanout: 2 sub-jobs:");
  EXPECT_NE(log.find("fanout: 2 sub-jobs: 1 COMPLETED, 1 FAILED or CANCELED"), std::string::npos)
      << log;
}

}  // namespace
}  // namespace overseer::it
