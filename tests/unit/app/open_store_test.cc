// OpenStore: which --db URLs open which backend, and the errors for the others.
#include "app/open_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "core/types.h"

namespace overseer::app {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "overseer_open_store_XXXXXX";
    char* made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = std::filesystem::canonical(tmpl).string();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Opens `url`, migrates, and writes one job; the job's id, or "" on any failure.
std::string OpenAndWrite(const std::string& url) {
  Result<std::unique_ptr<store::Store>> store = OpenStore(url);
  EXPECT_TRUE(store.ok()) << url << ": " << (store.ok() ? "" : store.error().message);
  if (!store.ok() || !(*store)->MigrateUp().ok()) return "";
  core::Job job;
  job.id = "j_open_store_test";
  job.workspace_id = "ws1";
  job.task_json = "{}";
  job.metadata_json = "{}";
  store::ChangeSet cs;
  cs.new_jobs = {job};
  return (*store)->Apply(cs).ok() ? job.id : "";
}

// True if the SQLite file at `url` holds the job OpenAndWrite writes.
bool HoldsJob(const std::string& url) {
  Result<std::unique_ptr<store::Store>> store = OpenStore(url);
  if (!store.ok() || !(*store)->MigrateUp().ok()) return false;
  return (*store)->GetJob("ws1", "j_open_store_test").ok();
}

TEST(OpenStoreTest, MemoryDatabases) {
  for (const char* url : {":memory:", "sqlite::memory:"}) {
    EXPECT_EQ(OpenAndWrite(url), "j_open_store_test") << url;
    EXPECT_FALSE(HoldsJob(url)) << url;  // private to each Store
  }
}

TEST(OpenStoreTest, EverySpellingOfAFileOpensTheSameSqliteFile) {
  TempDir dir;
  const std::string file = dir.path() + "/state/overseer.db";  // directory created on open
  ASSERT_EQ(OpenAndWrite(file), "j_open_store_test");
  EXPECT_TRUE(std::filesystem::exists(file));
  EXPECT_TRUE(HoldsJob("sqlite://" + file));  // sqlite:///abs/path
  const std::string relative =
      std::filesystem::relative(file, std::filesystem::current_path()).string();
  ASSERT_NE(relative.front(), '/');
  EXPECT_TRUE(HoldsJob(relative));
  EXPECT_TRUE(HoldsJob("sqlite:" + relative));
  EXPECT_TRUE(HoldsJob("sqlite://" + relative));  // the older relative spelling
}

TEST(OpenStoreTest, PostgresqlUrlsOpenAPostgresStoreThatConnectsOnFirstUse) {
  // Nothing listens on port 1: opening succeeds (no connection yet), the first call says the
  // database is unavailable, and the password shows nowhere.
  for (const char* url : {"postgresql://overseer:s3cret@127.0.0.1:1/overseer?connect_timeout=2",
                          "postgres://overseer:s3cret@127.0.0.1:1/x"}) {
    Result<std::unique_ptr<store::Store>> store = OpenStore(url);
    ASSERT_TRUE(store.ok()) << url << ": " << store.error().message;
    Status ping = (*store)->Ping();
    ASSERT_FALSE(ping.ok());
    EXPECT_EQ(ping.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(ping.error().message.find("s3cret"), std::string::npos) << ping.error().message;
    EXPECT_EQ(DisplayUrl(url).find("s3cret"), std::string::npos) << DisplayUrl(url);
    EXPECT_NE(DisplayUrl(url).find("127.0.0.1:1"), std::string::npos) << DisplayUrl(url);
  }
  Result<std::unique_ptr<store::Store>> bad = OpenStore("postgresql://u:s3cret@[::1/db");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(bad.error().message.find("s3cret"), std::string::npos) << bad.error().message;
  EXPECT_EQ(DisplayUrl("/var/lib/overseer/overseer.db"), "/var/lib/overseer/overseer.db");
}

TEST(OpenStoreTest, OtherSchemesAndEmptyPathsNameTheAcceptedForms) {
  for (const char* url :
       {"mysql://localhost/x", "file:///tmp/x.db", "http:x", "", "sqlite:", "sqlite://"}) {
    Result<std::unique_ptr<store::Store>> store = OpenStore(url);
    ASSERT_FALSE(store.ok()) << url;
    EXPECT_EQ(store.error().code, ErrorCode::kInvalidRequest) << url;
    EXPECT_NE(store.error().message.find("sqlite:///absolute/path"), std::string::npos)
        << store.error().message;
  }
}

TEST(OpenStoreTest, BackendOpenErrorsPassThrough) {
  TempDir dir;
  const std::string blocker = dir.path() + "/a-file";
  ASSERT_EQ(OpenAndWrite(blocker), "j_open_store_test");  // a database file, not a directory
  Result<std::unique_ptr<store::Store>> store = OpenStore("sqlite://" + blocker + "/sub/x.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::kUnavailable);
}

}  // namespace
}  // namespace overseer::app
