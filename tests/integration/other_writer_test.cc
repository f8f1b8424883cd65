// Jobs another writer holds (SPEC §8: a cancel cascade and a dependency's end must not depend on
// what one daemon holds in memory): rows written straight into the daemon's database, as a
// second daemon on the same PostgreSQL would write them — a job with its job_hierarchy and
// job_dependencies rows — are reached by a cancel of a job above them, by a cancel of their
// own, and by the failure of a job they depend on, on SQLite and on PostgreSQL alike.
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "integration/db_reader.h"
#include "integration/fixture.h"

namespace overseer::it {
namespace {

class OtherWriterTest : public SharedDaemonTest<OtherWriterTest> {
 protected:
  void SetUp() override {
    SharedDaemonTest<OtherWriterTest>::SetUp();
    db_ = DbReader::Open(d().db(), /*writable=*/true);
    ASSERT_TRUE(db_->error().empty()) << db_->error();
  }

  std::string Submit(const std::vector<std::string>& argv) {
    Reply r = api().Post("/api/jobs", CommandJob(argv));
    EXPECT_EQ(r.status, 201u) << Describe(r);
    return r.Str({"id"});
  }

  // Writes a job of this test's workspace as another daemon would: the row, its closure rows
  // (itself, and every ancestor of `parent` one further) and its dependency rows. No process.
  std::string Insert(const std::string& status, const std::string& parent, int depth,
                     const std::vector<std::string>& depends_on = {}) {
    const std::string id = "j_other_" + std::to_string(::getpid()) + "_" + std::to_string(++n_);
    std::string deps_json = "[";
    for (const std::string& dep : depends_on) {
      deps_json += (deps_json.size() > 1 ? ",\"" : "\"") + dep + "\"";
    }
    deps_json += "]";
    const std::string at = db_->MsValue(1'800'000'000'000);
    Write(
        "INSERT INTO jobs (id, workspace_id, name, status, depth, parent_job_id, depends_on, "
        "worker_count, retry_max_attempts, retry_initial_backoff_ms, retry_max_backoff_ms, "
        "retry_multiplier, retry_jitter, task_json, metadata_json, created_at, updated_at) "
        "VALUES ('" +
        id + "', $1, 'written elsewhere', '" + status + "', " + std::to_string(depth) + ", " +
        (parent.empty() ? "NULL" : "'" + parent + "'") + ", '" + deps_json +
        "', 1, 1, 1000, 60000, 2.0, 0.0, '{\"runtime\":\"command\",\"command\":[\"true\"]}', "
        "'{}', " +
        at + ", " + at + ")");
    Write(
        "INSERT INTO job_hierarchy (workspace_id, ancestor_id, descendant_id, distance) "
        "VALUES ($1, '" +
        id + "', '" + id + "', 0)");
    if (!parent.empty()) {
      Write(
          "INSERT INTO job_hierarchy (workspace_id, ancestor_id, descendant_id, distance) "
          "SELECT workspace_id, ancestor_id, '" +
          id + "', distance + 1 FROM job_hierarchy WHERE descendant_id = '" + parent +
          "' AND workspace_id = $1");
    }
    for (const std::string& dep : depends_on) {
      Write("INSERT INTO job_dependencies (workspace_id, job_id, depends_on_id) VALUES ($1, '" +
            id + "', '" + dep + "')");
    }
    return id;
  }

  void Write(const std::string& sql) {
    EXPECT_TRUE(db_->Query(sql, ws(), [](const DbRow&) {})) << db_->error() << "\n" << sql;
  }

  std::unique_ptr<DbReader> db_;
  int n_ = 0;
};

TEST_F(OtherWriterTest, ACancelReachesTheJobsBelowItThatAnotherWriterHolds) {
  const std::string root = Submit({"sleep", "60"});
  ASSERT_EQ(WaitJob(api(), root, "RUNNING").Str({"status"}), "RUNNING");
  const std::string child = Insert("RUNNING", root, 1);
  const std::string grandchild = Insert("PENDING", child, 2);
  const std::string done = Insert("COMPLETED", root, 1);

  Reply canceled = api().Post("/api/jobs/" + root + "/cancel", "{}");
  ASSERT_EQ(canceled.status, 200u) << Describe(canceled);
  EXPECT_EQ(canceled.Str({"status"}), "CANCELED");
  // In the same commit as the root: no wait.
  for (const std::string& id : {child, grandchild}) {
    Reply j = api().Get("/api/jobs/" + id);
    EXPECT_EQ(j.Str({"status"}), "CANCELED") << j.body;
    EXPECT_EQ(j.Str({"status_reason"}), "PARENT_CANCELED") << j.body;
  }
  EXPECT_EQ(api().Get("/api/jobs/" + done).Str({"status"}), "COMPLETED");
  // The tree shows them ended under the root.
  Reply tree = api().Get("/api/jobs/" + root + "/tree");
  ASSERT_EQ(tree.status, 200u) << Describe(tree);
  EXPECT_NE(tree.body.find(grandchild), std::string::npos) << tree.body;
  EXPECT_EQ(tree.body.find("\"RUNNING\""), std::string::npos) << tree.body;
  EXPECT_EQ(tree.body.find("\"PENDING\""), std::string::npos) << tree.body;
}

TEST_F(OtherWriterTest, ACancelOfAJobAnotherWriterHoldsEndsItsRowAndTheRowsBelow) {
  const std::string job = Insert("RUNNING", "", 0);
  const std::string child = Insert("PENDING", job, 1);

  Reply canceled = api().Post("/api/jobs/" + job + "/cancel", "{}");
  ASSERT_EQ(canceled.status, 200u) << Describe(canceled);
  EXPECT_EQ(canceled.Str({"status"}), "CANCELED") << canceled.body;
  EXPECT_EQ(canceled.Str({"status_reason"}), "CANCEL_REQUESTED") << canceled.body;
  Reply c = api().Get("/api/jobs/" + child);
  EXPECT_EQ(c.Str({"status"}), "CANCELED") << c.body;
  EXPECT_EQ(c.Str({"status_reason"}), "PARENT_CANCELED") << c.body;
  // Once ended, a second cancel is the 409 of any ended job.
  Reply again = api().Post("/api/jobs/" + job + "/cancel", "{}");
  EXPECT_TRUE(IsError(again, 409, "INVALID_STATE_TRANSITION")) << Describe(again);
  // Another workspace's token does not see it.
  Api other(d().url(), d().Token(ws() + "-other"));
  EXPECT_TRUE(IsError(other.Post("/api/jobs/" + child + "/cancel", "{}"), 404, "NOT_FOUND"));
}

TEST_F(OtherWriterTest, AFailedDependencyCancelsTheDependentsAnotherWriterHolds) {
  const std::string dep = Submit({"sleep", "60"});
  ASSERT_EQ(WaitJob(api(), dep, "RUNNING").Str({"status"}), "RUNNING");
  const std::string waiting = Insert("PENDING", "", 0, {dep});
  const std::string below = Insert("PENDING", waiting, 1);
  const std::string unrelated = Insert("PENDING", "", 0);

  ASSERT_EQ(api().Post("/api/jobs/" + dep + "/cancel", "{}").status, 200u);
  Reply w = WaitJob(api(), waiting, "CANCELED");
  EXPECT_EQ(w.Str({"status"}), "CANCELED") << w.body;
  EXPECT_EQ(w.Str({"status_reason"}), "DEPENDENCY_FAILED") << w.body;
  Reply b = api().Get("/api/jobs/" + below);
  EXPECT_EQ(b.Str({"status"}), "CANCELED") << b.body;
  EXPECT_EQ(b.Str({"status_reason"}), "PARENT_CANCELED") << b.body;
  EXPECT_EQ(api().Get("/api/jobs/" + unrelated).Str({"status"}), "PENDING");
  EXPECT_EQ(api().Post("/api/jobs/" + unrelated + "/cancel", "{}").status, 200u);
}

}  // namespace
}  // namespace overseer::it
