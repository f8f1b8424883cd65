// PgConnection, PgTransaction and PgSavepoint against the binary's real PostgreSQL server.
#include "store/postgres/pg_connection.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <string>
#include <thread>

#include "unit/store_pg/pg_test_env.h"

namespace overseer::store::pg {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

// A table of its own per test (the cluster is shared by the whole binary).
void CreateTable(PgConnection& conn, const std::string& name) {
  ASSERT_TRUE(conn.ExecScript("DROP TABLE IF EXISTS " + name + "; CREATE TABLE " + name +
                              " (id bigint PRIMARY KEY, v text)")
                  .ok());
}

int64_t Count(PgConnection& conn, const std::string& table) {
  Result<PgResult> r = conn.Exec("SELECT count(*) FROM " + table);
  OVERSEER_CHECK(r.ok());
  return r->Int64(0, 0).value_or(-1);
}

// Everything spdlog writes while it lives.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    spdlog::default_logger()->sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
  }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

// A 127.0.0.1 port that accepts TCP connections (the kernel's backlog) and never answers.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    OVERSEER_CHECK(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    OVERSEER_CHECK(::listen(fd_, 8) == 0);
    OVERSEER_CHECK(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A port nothing listens on: bound, never listened, closed at the end of the test.
int DeadPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  OVERSEER_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  OVERSEER_CHECK(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

TEST(PgConnectionTest, RunsQueriesWithTextParametersAndNulls) {
  std::unique_ptr<PgConnection> conn = ConnectOrDie();
  Result<PgResult> r = conn->Exec(
      "SELECT $1::bigint + $2::bigint AS sum, $3::text AS s, $4::text AS n, $5::boolean AS b", 2,
      int64_t{40}, "caf\xc3\xa9 'q\"", std::nullopt, true);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->rows(), 1);
  ASSERT_EQ(r->columns(), 4);
  EXPECT_EQ(r->Int64(0, r->Column("sum")), 42);
  EXPECT_EQ(r->Text(0, r->Column("s")), "caf\xc3\xa9 'q\"");
  EXPECT_TRUE(r->IsNull(0, r->Column("n")));
  EXPECT_EQ(r->Text(0, r->Column("n")), "");
  EXPECT_EQ(r->Int64(0, r->Column("n")), std::nullopt);
  EXPECT_EQ(r->Text(0, r->Column("b")), "t");
  EXPECT_EQ(r->Column("missing"), -1);
  EXPECT_EQ(conn->transaction_status(), PQTRANS_IDLE);
}

TEST(PgConnectionTest, WritesAndReadsRowsWithNullColumns) {
  std::unique_ptr<PgConnection> conn = ConnectOrDie();
  CreateTable(*conn, "conn_rows");
  std::optional<std::string> none;
  Result<PgResult> ins =
      conn->Exec("INSERT INTO conn_rows VALUES ($1, $2), ($3, $4)", 1, "one", 2, none);
  ASSERT_TRUE(ins.ok());
  EXPECT_EQ(ins->affected_rows(), 2);
  Result<PgResult> sel = conn->Exec("SELECT id, v FROM conn_rows ORDER BY id");
  ASSERT_TRUE(sel.ok());
  ASSERT_EQ(sel->rows(), 2);
  EXPECT_EQ(sel->Text(0, 1), "one");
  EXPECT_FALSE(sel->IsNull(0, 1));
  EXPECT_TRUE(sel->IsNull(1, 1));
  // A constraint violation is kInternal, with SQLSTATE kept for the caller and no SQL text.
  Result<PgResult> dup = conn->Exec("INSERT INTO conn_rows VALUES ($1, 'again')", 1);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kInternal);
  EXPECT_EQ(conn->last_sqlstate(), "23505");
  EXPECT_THAT(dup.error().message, Not(HasSubstr("conn_rows")));
  // The connection stays usable.
  EXPECT_EQ(Count(*conn, "conn_rows"), 2);
  EXPECT_EQ(conn->last_sqlstate(), "");
}

TEST(PgConnectionTest, PreparedStatementsByName) {
  std::unique_ptr<PgConnection> conn = ConnectOrDie();
  CreateTable(*conn, "conn_prepared");
  ASSERT_TRUE(conn->Prepare("ins", "INSERT INTO conn_prepared VALUES ($1, $2) RETURNING id").ok());
  EXPECT_TRUE(conn->IsPrepared("ins"));
  for (int i = 1; i <= 3; ++i) {
    Result<PgResult> r = conn->ExecPrepared("ins", i, "v" + std::to_string(i));
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->Int64(0, 0), i);
  }
  EXPECT_EQ(Count(*conn, "conn_prepared"), 3);
  // EnsurePrepared does not prepare twice; Prepare of a taken name fails.
  EXPECT_TRUE(conn->EnsurePrepared("ins", "SELECT 1").ok());
  Status again = conn->Prepare("ins", "SELECT 1");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, ErrorCode::kInternal);
  // A name never prepared on this connection.
  Result<PgResult> unknown = conn->ExecPrepared("nope", 1);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInternal);
  // Prepared statements are per connection.
  std::unique_ptr<PgConnection> other = ConnectOrDie();
  EXPECT_FALSE(other->IsPrepared("ins"));
}

TEST(PgConnectionTest, TransactionRolledBackWhenNotCommitted) {
  std::unique_ptr<PgConnection> conn = ConnectOrDie();
  std::unique_ptr<PgConnection> reader = ConnectOrDie();
  CreateTable(*conn, "conn_tx");
  {
    Result<PgTransaction> tx = PgTransaction::Begin(*conn);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(conn->Exec("INSERT INTO conn_tx VALUES (1, 'a')").ok());
    EXPECT_EQ(conn->transaction_status(), PQTRANS_INTRANS);
    EXPECT_EQ(Count(*reader, "conn_tx"), 0);  // not visible before commit
  }                                           // dropped: rolled back
  EXPECT_EQ(conn->transaction_status(), PQTRANS_IDLE);
  EXPECT_EQ(Count(*conn, "conn_tx"), 0);
  {
    Result<PgTransaction> tx = PgTransaction::Begin(*conn, Isolation::kRepeatableRead);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(conn->Exec("INSERT INTO conn_tx VALUES (2, 'b')").ok());
    ASSERT_TRUE(tx->Rollback().ok());
  }
  EXPECT_EQ(Count(*conn, "conn_tx"), 0);
  {
    Result<PgTransaction> tx = PgTransaction::Begin(*conn);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(conn->Exec("INSERT INTO conn_tx VALUES (3, 'c')").ok());
    ASSERT_TRUE(tx->Commit().ok());
  }
  EXPECT_EQ(Count(*reader, "conn_tx"), 1);
}

TEST(PgConnectionTest, CommitAfterAFailedStatementFailsAndWritesNothing) {
  std::unique_ptr<PgConnection> conn = ConnectOrDie();
  CreateTable(*conn, "conn_failed_tx");
  Result<PgTransaction> tx = PgTransaction::Begin(*conn);
  ASSERT_TRUE(tx.ok());
  ASSERT_TRUE(conn->Exec("INSERT INTO conn_failed_tx VALUES (1, 'a')").ok());
  ASSERT_FALSE(conn->Exec("INSERT INTO conn_failed_tx VALUES (1, 'dup')").ok());
  EXPECT_EQ(conn->transaction_status(), PQTRANS_INERROR);
  Status commit = tx->Commit();
  ASSERT_FALSE(commit.ok());
  EXPECT_EQ(commit.error().code, ErrorCode::kInternal);
  EXPECT_EQ(conn->transaction_status(), PQTRANS_IDLE);
  EXPECT_EQ(Count(*conn, "conn_failed_tx"), 0);
}

TEST(PgConnectionTest, SavepointRollbackKeepsTheOuterTransaction) {
  std::unique_ptr<PgConnection> conn = ConnectOrDie();
  CreateTable(*conn, "conn_savepoint");
  Result<PgTransaction> tx = PgTransaction::Begin(*conn);
  ASSERT_TRUE(tx.ok());
  ASSERT_TRUE(conn->Exec("INSERT INTO conn_savepoint VALUES (1, 'kept')").ok());
  {
    // A ChangeSet that fails half way: its first write is undone with it.
    Result<PgSavepoint> sp = PgSavepoint::Begin(*conn, "apply_one");
    ASSERT_TRUE(sp.ok());
    ASSERT_TRUE(conn->Exec("INSERT INTO conn_savepoint VALUES (2, 'undone')").ok());
    ASSERT_FALSE(conn->Exec("INSERT INTO conn_savepoint VALUES (1, 'dup')").ok());
    EXPECT_EQ(conn->transaction_status(), PQTRANS_INERROR);
    ASSERT_TRUE(sp->Rollback().ok());
  }
  EXPECT_EQ(conn->transaction_status(), PQTRANS_INTRANS);
  {
    // One dropped without Release is rolled back too.
    Result<PgSavepoint> sp = PgSavepoint::Begin(*conn, "apply_one");
    ASSERT_TRUE(sp.ok());
    ASSERT_TRUE(conn->Exec("INSERT INTO conn_savepoint VALUES (3, 'undone')").ok());
  }
  {
    Result<PgSavepoint> sp = PgSavepoint::Begin(*conn, "apply_one");
    ASSERT_TRUE(sp.ok());
    ASSERT_TRUE(conn->Exec("INSERT INTO conn_savepoint VALUES (4, 'released')").ok());
    ASSERT_TRUE(sp->Release().ok());
  }
  ASSERT_TRUE(tx->Commit().ok());
  Result<PgResult> rows = conn->Exec("SELECT id FROM conn_savepoint ORDER BY id");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->rows(), 2);
  EXPECT_EQ(rows->Int64(0, 0), 1);
  EXPECT_EQ(rows->Int64(1, 0), 4);
  // Names are identifiers only.
  Result<PgSavepoint> bad = PgSavepoint::Begin(*conn, "x; DROP TABLE conn_savepoint");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidRequest);
}

// ---- Pipeline mode ----

constexpr std::string_view kPipeInsert = "INSERT INTO conn_pipe VALUES ($1, $2)";

// A check that fails when the statement changed no row.
PgConnection::Check ChangedARow() {
  return [](const PgResult& r) {
    if (r.affected_rows() > 0) return OkStatus();
    return Status(MakeError(ErrorCode::kConflict, "no row changed"));
  };
}

TEST(PgConnectionTest, PipelineCommitsCheckFreeStatementsWithTheCommit) {
  std::unique_ptr<PgConnection> conn = ConnectOrDie();
  std::unique_ptr<PgConnection> reader = ConnectOrDie();
  CreateTable(*conn, "conn_pipe");
  {
    Result<PgTransaction> tx = PgTransaction::Send(*conn);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(conn->Send("pipe_ins", kPipeInsert, {ToPgParam(1), ToPgParam("a")}).ok());
    ASSERT_TRUE(conn->Send("pipe_ins", kPipeInsert, {ToPgParam(2), ToPgParam("b")}).ok());
    EXPECT_EQ(conn->pipelined(), 4u);  // BEGIN, the prepare, two inserts: nothing read yet
    EXPECT_FALSE(conn->IsPrepared("pipe_ins"));
    ASSERT_TRUE(tx->Commit().ok());
  }
  EXPECT_EQ(conn->pipelined(), 0u);
  EXPECT_TRUE(conn->IsPrepared("pipe_ins"));
  EXPECT_EQ(conn->transaction_status(), PQTRANS_IDLE);
  EXPECT_TRUE(conn->CheckAlive());
  EXPECT_EQ(Count(*reader, "conn_pipe"), 2);
  // A failing statement in the same pipeline as the COMMIT: its error, nothing written.
  {
    Result<PgTransaction> tx = PgTransaction::Send(*conn);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(conn->Send("pipe_ins", kPipeInsert, {ToPgParam(3), ToPgParam("c")}).ok());
    ASSERT_TRUE(conn->Send("pipe_ins", kPipeInsert, {ToPgParam(1), ToPgParam("dup")}).ok());
    Status commit = tx->Commit();
    ASSERT_FALSE(commit.ok());
    EXPECT_EQ(commit.error().code, ErrorCode::kInternal);
    EXPECT_EQ(conn->last_sqlstate(), "23505");
  }
  EXPECT_EQ(conn->transaction_status(), PQTRANS_IDLE);
  EXPECT_EQ(Count(*reader, "conn_pipe"), 2);
}

TEST(PgConnectionTest, PipelineReturnsTheFirstFailureInOrder) {
  std::unique_ptr<PgConnection> conn = ConnectOrDie();
  CreateTable(*conn, "conn_pipe");
  ASSERT_TRUE(conn->Exec("INSERT INTO conn_pipe VALUES (1, 'a')").ok());
  {
    // A check fails before a statement's error: the check's error is the answer (and no
    // SQLSTATE), the statement's comes later in order.
    Result<PgTransaction> tx = PgTransaction::Send(*conn);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(conn->SendSql("UPDATE conn_pipe SET v = 'x' WHERE id = 99", ChangedARow()).ok());
    ASSERT_TRUE(conn->Send("pipe_ins", kPipeInsert, {ToPgParam(1), ToPgParam("dup")}).ok());
    Status flushed = conn->Flush();
    ASSERT_FALSE(flushed.ok());
    EXPECT_EQ(flushed.error().code, ErrorCode::kConflict);
    EXPECT_EQ(flushed.error().message, "no row changed");
    EXPECT_EQ(conn->last_sqlstate(), "");
  }  // dropped: rolled back
  EXPECT_EQ(conn->transaction_status(), PQTRANS_IDLE);
  {
    // A statement's error first: the checks after it do not run (the server skipped them).
    Result<PgTransaction> tx = PgTransaction::Send(*conn);
    ASSERT_TRUE(tx.ok());
    bool later_ran = false;
    ASSERT_TRUE(conn->Send("pipe_ins", kPipeInsert, {ToPgParam(1), ToPgParam("dup")}).ok());
    ASSERT_TRUE(conn->SendSql("SELECT 1",
                              [&later_ran](const PgResult&) {
                                later_ran = true;
                                return OkStatus();
                              })
                    .ok());
    Status flushed = conn->Flush();
    ASSERT_FALSE(flushed.ok());
    EXPECT_EQ(flushed.error().code, ErrorCode::kInternal);
    EXPECT_EQ(conn->last_sqlstate(), "23505");
    EXPECT_FALSE(later_ran);
    EXPECT_EQ(conn->transaction_status(), PQTRANS_INERROR);
  }
  EXPECT_EQ(conn->transaction_status(), PQTRANS_IDLE);
  // A synchronous statement flushes what is queued first.
  ASSERT_TRUE(conn->Send("pipe_ins", kPipeInsert, {ToPgParam(5), ToPgParam("e")}).ok());
  EXPECT_EQ(Count(*conn, "conn_pipe"), 2);
  EXPECT_EQ(conn->pipelined(), 0u);
}

TEST(PgConnectionTest, PipelineOnALostConnectionIsUnavailable) {
  std::unique_ptr<PgConnection> conn = ConnectOrDie();
  TerminateBackendAndWait(conn->backend_pid());
  Status sent = conn->SendSql("SELECT 1");
  Status flushed = sent.ok() ? conn->Flush() : sent;
  ASSERT_FALSE(flushed.ok());
  EXPECT_EQ(flushed.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(conn->pipelined(), 0u);
  EXPECT_FALSE(conn->CheckAlive());
}

TEST(PgConnectionTest, SerializationFailureIsConflict) {
  std::unique_ptr<PgConnection> a = ConnectOrDie();
  std::unique_ptr<PgConnection> b = ConnectOrDie();
  ASSERT_TRUE(a->ExecScript("DROP TABLE IF EXISTS conn_serial; CREATE TABLE conn_serial "
                            "(id int PRIMARY KEY, n int); INSERT INTO conn_serial VALUES (1, 0)")
                  .ok());
  Result<PgTransaction> ta = PgTransaction::Begin(*a, Isolation::kSerializable);
  ASSERT_TRUE(ta.ok());
  ASSERT_TRUE(a->Exec("SELECT n FROM conn_serial WHERE id = 1").ok());  // a's snapshot
  {
    Result<PgTransaction> tb = PgTransaction::Begin(*b, Isolation::kSerializable);
    ASSERT_TRUE(tb.ok());
    ASSERT_TRUE(b->Exec("UPDATE conn_serial SET n = n + 1 WHERE id = 1").ok());
    ASSERT_TRUE(tb->Commit().ok());
  }
  Result<PgResult> lost = a->Exec("UPDATE conn_serial SET n = n + 1 WHERE id = 1");
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.error().code, ErrorCode::kConflict);
  EXPECT_EQ(a->last_sqlstate(), "40001");
  EXPECT_TRUE(ta->Rollback().ok());
  // Retried, the transaction goes through.
  Result<PgTransaction> retry = PgTransaction::Begin(*a, Isolation::kSerializable);
  ASSERT_TRUE(retry.ok());
  ASSERT_TRUE(a->Exec("UPDATE conn_serial SET n = n + 1 WHERE id = 1").ok());
  ASSERT_TRUE(retry->Commit().ok());
  Result<PgResult> n = b->Exec("SELECT n FROM conn_serial WHERE id = 1");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->Int64(0, 0), 2);
}

TEST(PgConnectionTest, DeadlockIsConflict) {
  std::unique_ptr<PgConnection> a = ConnectOrDie();
  std::unique_ptr<PgConnection> b = ConnectOrDie();
  ASSERT_TRUE(a->ExecScript("DROP TABLE IF EXISTS conn_deadlock; CREATE TABLE conn_deadlock "
                            "(id int PRIMARY KEY, n int); INSERT INTO conn_deadlock VALUES "
                            "(1, 0), (2, 0)")
                  .ok());
  for (PgConnection* c : {a.get(), b.get()}) {
    ASSERT_TRUE(c->Exec("SET deadlock_timeout = '50ms'").ok());
  }
  Result<PgTransaction> ta = PgTransaction::Begin(*a);
  Result<PgTransaction> tb = PgTransaction::Begin(*b);
  ASSERT_TRUE(ta.ok() && tb.ok());
  ASSERT_TRUE(a->Exec("UPDATE conn_deadlock SET n = 1 WHERE id = 1").ok());
  ASSERT_TRUE(b->Exec("UPDATE conn_deadlock SET n = 1 WHERE id = 2").ok());
  // a waits for b's row on another thread; b then waits for a's: one of them is aborted.
  Result<PgResult> from_a;
  std::thread t([&] { from_a = a->Exec("UPDATE conn_deadlock SET n = 2 WHERE id = 2"); });
  // The victim's locks go with its error, so the other statement then completes.
  Result<PgResult> from_b = b->Exec("UPDATE conn_deadlock SET n = 2 WHERE id = 1");
  t.join();
  ASSERT_NE(from_a.ok(), from_b.ok());
  const Error& error = from_a.ok() ? from_b.error() : from_a.error();
  EXPECT_EQ(error.code, ErrorCode::kConflict);
  EXPECT_EQ((from_a.ok() ? b : a)->last_sqlstate(), "40P01");
}

TEST(PgConnectionTest, DownServerIsUnavailableAtOnce) {
  Result<PgConfig> config =
      ParsePgUrl("postgresql://overseer@127.0.0.1:" + std::to_string(DeadPort()) + "/overseer");
  ASSERT_TRUE(config.ok());
  const Clock::time_point start = Clock::now();
  Result<std::unique_ptr<PgConnection>> conn =
      PgConnection::Connect(*config, std::chrono::seconds(5));
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().code, ErrorCode::kUnavailable);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
}

TEST(PgConnectionTest, SilentServerTimesOutAtTheDeadline) {
  SilentServer silent;
  Result<PgConfig> config =
      ParsePgUrl("postgresql://overseer@127.0.0.1:" + std::to_string(silent.port()) + "/overseer");
  ASSERT_TRUE(config.ok());
  const Clock::time_point start = Clock::now();
  Result<std::unique_ptr<PgConnection>> conn =
      PgConnection::Connect(*config, std::chrono::milliseconds(300));
  const auto took = Clock::now() - start;
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().code, ErrorCode::kUnavailable);
  EXPECT_GE(took, std::chrono::milliseconds(250));
  EXPECT_LT(took, std::chrono::seconds(2));
}

TEST(PgConnectionTest, PasswordsNeverAppearInErrorsOrLogs) {
  ASSERT_TRUE(Cluster().CreatePasswordRole("conn_pw_user", "Right-Secret-1").ok());
  const std::string wrong = "Wrong-Secret-9";
  LogCapture log;
  Result<PgConfig> config = ParsePgUrl(Cluster().UrlFor("conn_pw_user", wrong, "overseer"));
  ASSERT_TRUE(config.ok());
  EXPECT_THAT(config->masked_url, Not(HasSubstr(wrong)));
  Result<std::unique_ptr<PgConnection>> conn =
      PgConnection::Connect(*config, std::chrono::seconds(5));
  ASSERT_FALSE(conn.ok());
  EXPECT_EQ(conn.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(conn.error().message, Not(HasSubstr(wrong)));
  // The log says why, with the URL masked.
  EXPECT_THAT(log.text(), HasSubstr("password authentication failed"));
  EXPECT_THAT(log.text(), HasSubstr("conn_pw_user:***@127.0.0.1"));
  EXPECT_THAT(log.text(), Not(HasSubstr(wrong)));

  // The right password works from the URL, and from PGPASSWORD as libpq reads it.
  Result<PgConfig> right =
      ParsePgUrl(Cluster().UrlFor("conn_pw_user", "Right-Secret-1", "overseer"));
  ASSERT_TRUE(right.ok());
  EXPECT_TRUE(PgConnection::Connect(*right, std::chrono::seconds(5)).ok());
  Result<PgConfig> no_password = ParsePgUrl(Cluster().UrlFor("conn_pw_user", "", "overseer"));
  ASSERT_TRUE(no_password.ok());
  ::setenv("PGPASSWORD", "Right-Secret-1", 1);
  Result<std::unique_ptr<PgConnection>> from_env =
      PgConnection::Connect(*no_password, std::chrono::seconds(5));
  ::unsetenv("PGPASSWORD");
  EXPECT_TRUE(from_env.ok());
  // And from a password file (PGPASSFILE, else ~/.pgpass; libpq wants it 0600).
  char passfile[] = "/tmp/overseer-pgpass-XXXXXX";
  const int fd = ::mkstemp(passfile);
  ASSERT_GE(fd, 0);
  const std::string line =
      "127.0.0.1:" + std::to_string(Cluster().port()) + ":overseer:conn_pw_user:Right-Secret-1\n";
  ASSERT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  ::close(fd);
  ::setenv("PGPASSFILE", passfile, 1);
  Result<std::unique_ptr<PgConnection>> from_file =
      PgConnection::Connect(*no_password, std::chrono::seconds(5));
  ::unsetenv("PGPASSFILE");
  ::unlink(passfile);
  EXPECT_TRUE(from_file.ok());
  EXPECT_THAT(log.text(), Not(HasSubstr("Right-Secret-1")));
}

TEST(PgConnectionTest, TerminatedBackendIsUnavailable) {
  std::unique_ptr<PgConnection> conn = ConnectOrDie();
  ASSERT_TRUE(conn->CheckAlive());
  TerminateBackendAndWait(conn->backend_pid());
  Result<PgResult> r = conn->Exec("SELECT 1");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_FALSE(conn->CheckAlive());
}

}  // namespace
}  // namespace overseer::store::pg
