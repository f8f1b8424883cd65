#include "service/commit_queue.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "common/ids.h"
#include "store/sqlite/sqlite_store.h"

namespace overseer::service {
namespace {

namespace asio = boost::asio;

core::Job MakeJob(const std::string& ws, core::JobState status) {
  core::Job j;
  j.id = NewId("j_");
  j.workspace_id = ws;
  j.name = "job";
  j.status = status;
  j.task_json = R"({"runtime":"command","command":["true"]})";
  j.metadata_json = "{}";
  j.created_at = 1;
  j.updated_at = 1;
  return j;
}

class CommitQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenSqliteStore(":memory:");
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(*opened);
    ASSERT_TRUE(store_->MigrateUp().ok());
  }
  asio::io_context io_;
  BlockingPool pool_{1};
  std::unique_ptr<store::Store> store_;
};

TEST_F(CommitQueueTest, ConcurrentCommitsShareTransactionsAndEachGetsItsOwnAnswer) {
  CommitQueue queue(io_, pool_, *store_);
  constexpr int kJobs = 30;
  std::vector<store::ChangeSet> sets(kJobs);
  std::vector<std::optional<Status>> answers(kJobs + 1);
  for (int i = 0; i < kJobs; ++i)
    sets[i].new_jobs.push_back(MakeJob("ws", core::JobState::kPending));
  // One stale CAS among them: a job that does not exist moved from PENDING.
  store::ChangeSet stale;
  core::Job ghost = MakeJob("ws", core::JobState::kRunning);
  stale.job_updates.push_back(store::JobUpdate{ghost, core::JobState::kPending});
  for (int i = 0; i <= kJobs; ++i) {
    const store::ChangeSet& cs = i < kJobs ? sets[i] : stale;
    asio::co_spawn(
        io_,
        [&queue, &cs, &answers, i]() -> asio::awaitable<void> {
          answers[i] = co_await queue.Commit(cs);
        },
        asio::detached);
  }
  io_.run();
  for (int i = 0; i < kJobs; ++i) {
    ASSERT_TRUE(answers[i].has_value()) << i;
    EXPECT_TRUE(answers[i]->ok()) << i;
    EXPECT_TRUE(store_->GetJob("ws", sets[i].new_jobs[0].id).ok()) << i;
  }
  ASSERT_TRUE(answers[kJobs].has_value());
  ASSERT_FALSE(answers[kJobs]->ok());
  EXPECT_EQ(answers[kJobs]->error().code, ErrorCode::kNotFound);
  EXPECT_EQ(queue.committed(), kJobs + 1);
  EXPECT_LT(queue.batches(), queue.committed());  // grouped: the waiting ones went together
}

TEST_F(CommitQueueTest, ALoneCommitIsWrittenAtOnce) {
  CommitQueue queue(io_, pool_, *store_);
  store::ChangeSet cs;
  cs.new_jobs.push_back(MakeJob("ws", core::JobState::kPending));
  std::optional<Status> answer;
  asio::co_spawn(
      io_, [&]() -> asio::awaitable<void> { answer = co_await queue.Commit(cs); }, asio::detached);
  io_.run();
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->ok());
  EXPECT_EQ(queue.batches(), 1);
}

TEST_F(CommitQueueTest, StartWritesWhileTheCallerWorksAndWaitGivesItsAnswer) {
  CommitQueue queue(io_, pool_, *store_);
  store::ChangeSet cs;
  cs.new_jobs.push_back(MakeJob("ws", core::JobState::kPending));
  store::ChangeSet stale;
  core::Job ghost = MakeJob("ws", core::JobState::kRunning);
  stale.job_updates.push_back(store::JobUpdate{ghost, core::JobState::kPending});
  std::optional<Status> answer;
  std::optional<Status> stale_answer;
  bool written_before_wait = false;
  asio::co_spawn(
      io_,
      [&]() -> asio::awaitable<void> {
        std::shared_ptr<CommitQueue::Ticket> ticket = queue.Start(cs);
        std::shared_ptr<CommitQueue::Ticket> stale_ticket = queue.Start(stale);
        // The caller goes on (here: waits for the write to land) before it asks.
        for (int i = 0; i < 5000 && queue.committed() < 2; ++i) {
          asio::steady_timer t(io_, std::chrono::milliseconds(1));
          co_await t.async_wait(asio::use_awaitable);
        }
        written_before_wait = store_->GetJob("ws", cs.new_jobs[0].id).ok();
        answer = co_await queue.Wait(ticket);
        stale_answer = co_await queue.Wait(stale_ticket);
      },
      asio::detached);
  io_.run();
  EXPECT_TRUE(written_before_wait);
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->ok());
  ASSERT_TRUE(stale_answer.has_value());
  ASSERT_FALSE(stale_answer->ok());
  EXPECT_EQ(stale_answer->error().code, ErrorCode::kNotFound);
}

TEST_F(CommitQueueTest, WaitRightAfterStartSuspendsUntilTheAnswer) {
  CommitQueue queue(io_, pool_, *store_);
  store::ChangeSet cs;
  cs.new_jobs.push_back(MakeJob("ws", core::JobState::kPending));
  std::optional<Status> answer;
  asio::co_spawn(
      io_, [&]() -> asio::awaitable<void> { answer = co_await queue.Wait(queue.Start(cs)); },
      asio::detached);
  io_.run();
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->ok());
  EXPECT_TRUE(store_->GetJob("ws", cs.new_jobs[0].id).ok());
}

}  // namespace
}  // namespace overseer::service
