// CommitQueue: group commit (one transaction for the ChangeSets that wait together, each
// answered on its own) and its behaviour through a database outage.
#include "service/commit_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/ids.h"
#include "store/sqlite/sqlite_store.h"
#include "unit/service/forwarding_store.h"

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

// ---- Database outages: commits that record what already happened (Durability::kUntilWritten)
// wait, in order, and are written when the database is back; everything else is answered
// 503-style at once meanwhile; Close() ends the wait.

using std::chrono::milliseconds;

// A SQLite store whose writes fail kUnavailable while `down` is set, as a database that cannot
// be reached does. Reads and everything else pass through.
class OutageStore final : public testing::ForwardingStore {
 public:
  explicit OutageStore(std::unique_ptr<store::Store> inner) : ForwardingStore(std::move(inner)) {}
  std::atomic<bool> down{false};
  std::atomic<int> write_attempts{0};

  std::vector<Status> ApplyAll(std::span<const store::ChangeSet* const> changes) override {
    ++write_attempts;
    if (down) {
      return std::vector<Status>(changes.size(),
                                 MakeError(ErrorCode::kUnavailable, "database unavailable"));
    }
    return ForwardingStore::ApplyAll(changes);
  }
};

class CommitOutageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = store::OpenSqliteStore(":memory:");
    ASSERT_TRUE(opened.ok());
    ASSERT_TRUE((*opened)->MigrateUp().ok());
    store_ = std::make_unique<OutageStore>(std::move(*opened));
  }
  void Spawn(CommitQueue& q, const store::ChangeSet& cs, Durability d,
             std::optional<Status>& answer) {
    asio::co_spawn(
        io_,
        [&q, &cs, d, &answer]() -> asio::awaitable<void> { answer = co_await q.Commit(cs, d); },
        asio::detached);
  }
  // Runs the loop for `d` (the pool's thread answers in between).
  void RunFor(milliseconds d) {
    io_.restart();
    io_.run_for(d);
  }

  asio::io_context io_;
  // run_for runs its whole time even while the answer is on the pool's thread.
  asio::executor_work_guard<asio::io_context::executor_type> guard_ = asio::make_work_guard(io_);
  std::unique_ptr<OutageStore> store_;
  BlockingPool pool_{1};  // joined before the store goes
};

TEST_F(CommitOutageTest, ExitsWaitInOrderAndAreWrittenWhenTheDatabaseIsBack) {
  CommitQueue queue(io_, pool_, *store_);
  store_->down = true;
  // A job's insert, then its move that only applies after it: written in this order or not at
  // all.
  core::Job job = MakeJob("ws", core::JobState::kPending);
  store::ChangeSet insert;
  insert.new_jobs.push_back(job);
  core::Job running = job;
  running.status = core::JobState::kRunning;
  store::ChangeSet move;
  move.job_updates.push_back(store::JobUpdate{running, core::JobState::kPending});
  std::optional<Status> first;
  std::optional<Status> second;
  std::optional<Status> fast;
  Spawn(queue, insert, Durability::kUntilWritten, first);
  Spawn(queue, move, Durability::kUntilWritten, second);
  RunFor(milliseconds(700));
  EXPECT_FALSE(first.has_value());
  EXPECT_FALSE(second.has_value());
  EXPECT_EQ(queue.waiting_for_database(), 2u);
  EXPECT_GE(store_->write_attempts.load(), 2);  // retried, not given up
  // Meanwhile any other commit is answered at once, without touching the database.
  const int attempts = store_->write_attempts;
  store::ChangeSet other;
  other.new_jobs.push_back(MakeJob("ws", core::JobState::kPending));
  Spawn(queue, other, Durability::kAnswerNow, fast);
  RunFor(milliseconds(20));
  ASSERT_TRUE(fast.has_value());
  ASSERT_FALSE(fast->ok());
  EXPECT_EQ(fast->error().code, ErrorCode::kUnavailable);
  EXPECT_LE(store_->write_attempts.load(), attempts + 1);

  store_->down = false;
  RunFor(milliseconds(3000));
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(second.has_value());
  EXPECT_TRUE(first->ok()) << first->error().message;
  EXPECT_TRUE(second->ok()) << second->error().message;
  Result<core::Job> stored = store_->GetJob("ws", job.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->status, core::JobState::kRunning);
  EXPECT_EQ(queue.waiting_for_database(), 0u);
  EXPECT_FALSE(store_->GetJob("ws", other.new_jobs[0].id).ok());  // refused, never written
}

TEST_F(CommitOutageTest, CloseEndsTheWaitAndAnsweredNowCommitsNeverWait) {
  CommitQueue queue(io_, pool_, *store_);
  store_->down = true;
  store::ChangeSet now_cs;
  now_cs.new_jobs.push_back(MakeJob("ws", core::JobState::kPending));
  std::optional<Status> now_answer;
  Spawn(queue, now_cs, Durability::kAnswerNow, now_answer);
  RunFor(milliseconds(50));
  ASSERT_TRUE(now_answer.has_value());
  EXPECT_EQ(now_answer->error().code, ErrorCode::kUnavailable);

  store::ChangeSet exit_cs;
  exit_cs.new_jobs.push_back(MakeJob("ws", core::JobState::kPending));
  std::optional<Status> exit_answer;
  Spawn(queue, exit_cs, Durability::kUntilWritten, exit_answer);
  RunFor(milliseconds(300));
  EXPECT_FALSE(exit_answer.has_value());
  queue.Close();
  RunFor(milliseconds(300));
  ASSERT_TRUE(exit_answer.has_value());
  EXPECT_EQ(exit_answer->error().code, ErrorCode::kUnavailable);
  // After Close a commit that must be written is answered like any other.
  std::optional<Status> later;
  Spawn(queue, exit_cs, Durability::kUntilWritten, later);
  RunFor(milliseconds(100));
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(later->error().code, ErrorCode::kUnavailable);
  store_->down = false;
  std::optional<Status> back;
  Spawn(queue, exit_cs, Durability::kUntilWritten, back);
  RunFor(milliseconds(100));
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->ok());
}

}  // namespace
}  // namespace overseer::service
