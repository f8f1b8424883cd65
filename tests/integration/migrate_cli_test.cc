// `overseer migrate status|up|down` through the real binary (issue #12, item 2), on the suite's
// database: SQLite (a file in a temp directory; label integration) or, with
// OVERSEER_IT_DB=postgres (label integration_pg, names pg.*), a fresh database on the suite's
// PostgreSQL server reached as a role that must give its password (it is in the URL, and must
// never be printed). Asserts what a user sees: exit codes, the listing of applied and pending
// versions, the schema in the database, clear errors for bad and unreachable databases.
//
// PgConcurrentMigrate: two `overseer serve` starting at once on one empty PostgreSQL database
// (the advisory lock of pg_migrations.h): both wait while the lock is held elsewhere, both become
// ready once it is free, and every version is applied exactly once. PostgreSQL only: ctest
// registers it under integration_pg alone; elsewhere it skips.
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "common/ids.h"
#include "integration/db_reader.h"
#include "integration/fixture.h"
#include "integration/it_db.h"

extern char** environ;

namespace overseer::it {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The advisory lock key README documents for `migrate up|down` ("overseer" in ASCII).
constexpr int64_t kMigrationLockKey = 0x6f76657273656572;
// The migration that creates job_hierarchy: rolling back past it drops the table.
constexpr int kHierarchyVersion = 7;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct RunResult {
  int code = -1;  // exit code; 128+N for signal N; -1 if it did not end in time
  std::string out;
  std::string err;
};

std::ostream& operator<<(std::ostream& os, const RunResult& r) {
  return os << "exit " << r.code << "\n--- stdout\n" << r.out << "--- stderr\n" << r.err;
}

// Runs the overseer binary with `args`, without the test's OVERSEER_* and PG* variables (the
// password must come from the URL alone), stdout and stderr captured.
RunResult RunOverseer(const fs::path& dir, std::vector<std::string> args,
                      std::chrono::seconds timeout = 60s) {
  const char* bin = std::getenv("OVERSEER_IT_BINARY");  // NOLINT(concurrency-mt-unsafe)
  args.insert(args.begin(), bin != nullptr && *bin != '\0' ? bin : OVERSEER_BINARY);
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view kv(*e);
    if (kv.rfind("OVERSEER_", 0) == 0 || kv.rfind("PG", 0) == 0) continue;
    env.emplace_back(kv);
  }
  const fs::path out = dir / "run.out";
  const fs::path err = dir / "run.err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  RunResult r;
  if (rc != 0) {
    r.err = "posix_spawn failed";
    return r;
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (w < 0 || Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

// The migrations this source tree ships: version -> name, from the NNNN_name.up.sql files.
std::map<int, std::string> ShippedMigrations() {
  std::map<int, std::string> out;
  const fs::path dir = fs::path(OVERSEER_SOURCE_DIR) / "src/store/migrations" /
                       (OnPostgres() ? "postgres" : "sqlite");
  const std::regex name(R"((\d{4})_([a-z0-9_]+)\.up\.sql)");
  for (const auto& e : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string file = e.path().filename().string();
    if (std::regex_match(file, m, name)) out[std::stoi(m[1])] = m[2];
  }
  return out;
}

// One line of `migrate` output: "0007  job_hierarchy            applied 2026-...Z" or "pending".
struct Listed {
  std::string name;
  bool applied = false;
  std::string line;
};

// Parses the listing; every stdout line must be one (nothing else belongs on stdout).
::testing::AssertionResult ParseListing(const std::string& out, std::map<int, Listed>* rows) {
  rows->clear();
  const std::regex line_re(
      R"((\d{4})  ([a-z0-9_]+) +(pending|applied \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z))");
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) {
      return ::testing::AssertionFailure() << "not a listing line: '" << line << "' in:\n" << out;
    }
    (*rows)[std::stoi(m[1])] = Listed{m[2], m[3] != "pending", line};
  }
  return ::testing::AssertionSuccess();
}

// The listing's line for version `v` ("" if it has none).
std::string LineOf(const std::map<int, Listed>& rows, int v) {
  auto it = rows.find(v);
  return it == rows.end() ? "" : it->second.line;
}

// The versions the listing shows applied / pending.
std::vector<int> Versions(const std::map<int, Listed>& rows, bool applied) {
  std::vector<int> out;
  for (const auto& [v, row] : rows) {
    if (row.applied == applied) out.push_back(v);
  }
  return out;
}

std::vector<int> Keys(const std::map<int, std::string>& m) {
  std::vector<int> out;
  for (const auto& [v, name] : m) out.push_back(v);
  return out;
}

// The versions schema_migrations records, ascending (each row once; a repeat shows twice).
std::vector<int> RecordedVersions(const std::string& db) {
  std::vector<int> out;
  auto reader = DbReader::Open(db);
  EXPECT_TRUE(reader->Query("SELECT version FROM schema_migrations ORDER BY version", "",
                            [&](const DbRow& r) { out.push_back(static_cast<int>(r.Int(0))); }))
      << reader->error();
  return out;
}

// Whether `table` exists: a fresh reader (a failed query ends a reader) can read from it.
bool TableExists(const std::string& db, const std::string& table) {
  auto reader = DbReader::Open(db);
  return reader->Query("SELECT count(*) FROM " + table, "", [](const DbRow&) {});
}

// Runs `sql` over libpq; "" or the server's message.
std::string PgExec(PGconn* conn, const std::string& sql) {
  PGresult* res = PQexec(conn, sql.c_str());
  const ExecStatusType st = PQresultStatus(res);
  std::string error =
      st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? "" : PQresultErrorMessage(res);
  PQclear(res);
  return error;
}

// A loopback port nothing listens on (bound, then closed).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 1;  // port 1: nothing listens there either
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

class MigrateCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/overseer-migrate-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    shipped_ = ShippedMigrations();
    ASSERT_GT(shipped_.size(), static_cast<size_t>(kHierarchyVersion)) << "no migrations found";
    ASSERT_TRUE(shipped_.count(kHierarchyVersion) == 1 &&
                shipped_.find(kHierarchyVersion)->second == "job_hierarchy");
    if (!OnPostgres()) {
      reader_db_ = (dir_ / "sub" / "overseer.db").string();  // its directory does not exist yet
      db_url_ = "sqlite://" + reader_db_;
      return;
    }
    // A fresh database owned by a role of its own that authenticates with a password (the
    // suite's server asks members of overseer_password_auth for theirs: pg_cluster.cc).
    Result<std::string> admin = CreateTestDatabase();
    ASSERT_TRUE(admin) << admin.error().message;
    reader_db_ = *admin;
    const std::string role = "migcli_" + RandomHex(4);
    password_ = "pw" + RandomHex(12);
    PGconn* conn = PQconnectdb(reader_db_.c_str());
    ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
    const std::string database = reader_db_.substr(reader_db_.rfind('/') + 1);
    const std::string error =
        PgExec(conn, "CREATE ROLE " + role + " LOGIN PASSWORD '" + password_ +
                         "' IN ROLE overseer_password_auth; ALTER DATABASE " + database +
                         " OWNER TO " + role + "; GRANT ALL ON SCHEMA public TO " + role);
    PQfinish(conn);
    ASSERT_EQ(error, "");
    // postgresql://overseer@127.0.0.1:<port>/<db> -> postgresql://<role>:<pw>@127.0.0.1:...
    const size_t at = reader_db_.find('@');
    db_url_ = "postgresql://" + role + ":" + password_ + reader_db_.substr(at);
  }
  void TearDown() override {
    if (OnPostgres() && !reader_db_.empty()) DropTestDatabase(reader_db_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // `overseer migrate <args...> --db <db_url_>`; fails the test if the password shows.
  RunResult Migrate(std::vector<std::string> args, const std::string& db = "") {
    args.insert(args.begin(), "migrate");
    args.insert(args.end(), {"--db", db.empty() ? db_url_ : db});
    RunResult r = RunOverseer(dir_, args);
    if (!password_.empty()) {
      EXPECT_EQ(r.out.find(password_), std::string::npos) << "password printed:\n" << r;
      EXPECT_EQ(r.err.find(password_), std::string::npos) << "password printed:\n" << r;
    }
    return r;
  }

  // Runs `args` expecting exit 0 and a listing of every shipped migration with the versions
  // `applied` applied and the others pending.
  std::map<int, Listed> ExpectListing(const std::vector<std::string>& args,
                                      const std::vector<int>& applied) {
    RunResult r = Migrate(args);
    EXPECT_EQ(r.code, 0) << r;
    std::map<int, Listed> rows;
    EXPECT_TRUE(ParseListing(r.out, &rows));
    std::map<int, std::string> names;
    for (const auto& [v, row] : rows) names[v] = row.name;
    EXPECT_EQ(names, shipped_) << r;
    EXPECT_EQ(Versions(rows, true), applied) << r;
    return rows;
  }

  std::vector<int> UpTo(int last) const {
    std::vector<int> out;
    for (int v : Keys(shipped_)) {
      if (v <= last) out.push_back(v);
    }
    return out;
  }

  fs::path dir_;
  std::map<int, std::string> shipped_;
  std::string db_url_;     // what `--db` gets
  std::string reader_db_;  // the same database for DbReader (SQLite path / superuser URL)
  std::string password_;   // PostgreSQL: the role's password, in db_url_
};

TEST_F(MigrateCliTest, StatusUpDownStatusUpOnAnEmptyDatabase) {
  const std::vector<int> all = Keys(shipped_);
  const int newest = all.back();

  // A new database: everything pending, nothing applied, no schema yet.
  ExpectListing({"status"}, {});
  EXPECT_EQ(RecordedVersions(reader_db_), std::vector<int>{});
  EXPECT_FALSE(TableExists(reader_db_, "jobs"));

  // up: everything applied, recorded, the tables there.
  const std::map<int, Listed> up = ExpectListing({"up"}, all);
  EXPECT_EQ(RecordedVersions(reader_db_), all);
  EXPECT_TRUE(TableExists(reader_db_, "jobs"));
  EXPECT_TRUE(TableExists(reader_db_, "job_hierarchy"));

  // status shows the same, applied times included; up again changes nothing.
  RunResult status = Migrate({"status"});
  EXPECT_EQ(status.code, 0) << status;
  std::string listing;
  for (const auto& [v, row] : up) listing += row.line + "\n";
  EXPECT_EQ(status.out, listing);
  RunResult again = Migrate({"up"});
  EXPECT_EQ(again.code, 0) << again;
  EXPECT_EQ(again.out, listing);

  // down without --steps rolls back the newest one.
  ExpectListing({"down"}, UpTo(newest - 1));
  EXPECT_EQ(RecordedVersions(reader_db_), UpTo(newest - 1));

  // down --steps N: back to before job_hierarchy; its table is gone, older ones stay.
  const int steps = static_cast<int>(UpTo(newest - 1).size() - UpTo(kHierarchyVersion - 1).size());
  const std::map<int, Listed> down =
      ExpectListing({"down", "--steps", std::to_string(steps)}, UpTo(kHierarchyVersion - 1));
  EXPECT_EQ(RecordedVersions(reader_db_), UpTo(kHierarchyVersion - 1));
  EXPECT_FALSE(TableExists(reader_db_, "job_hierarchy"));
  EXPECT_TRUE(TableExists(reader_db_, "jobs"));
  for (int v : UpTo(kHierarchyVersion - 1)) {
    EXPECT_EQ(LineOf(down, v), LineOf(up, v)) << "version " << v << " kept its applied time";
  }
  ExpectListing({"status"}, UpTo(kHierarchyVersion - 1));

  // up again: the rest applied once more, the schema back.
  const std::map<int, Listed> reup = ExpectListing({"up"}, all);
  EXPECT_EQ(RecordedVersions(reader_db_), all);
  EXPECT_TRUE(TableExists(reader_db_, "job_hierarchy"));
  for (int v : UpTo(kHierarchyVersion - 1)) EXPECT_EQ(LineOf(reup, v), LineOf(up, v));

  // --steps larger than what is applied rolls everything back; then up restores it.
  ExpectListing({"down", "--steps", std::to_string(all.size() + 5)}, {});
  EXPECT_EQ(RecordedVersions(reader_db_), std::vector<int>{});
  EXPECT_FALSE(TableExists(reader_db_, "jobs"));
  ExpectListing({"up"}, all);

  // A daemon starts on the migrated database.
  Daemon d(DaemonOptions{.extra_args = {}, .extra_env = {}, .db_url = db_url_});
  ASSERT_TRUE(d.Start());
  EXPECT_EQ(d.Stop(), 0) << d.StderrTail();
  if (!password_.empty()) {
    EXPECT_EQ(d.Stderr().find(password_), std::string::npos);
  }
}

TEST_F(MigrateCliTest, NegativeStepsAreRefusedAndChangeNothing) {
  ExpectListing({"up"}, Keys(shipped_));
  RunResult r = Migrate({"down", "--steps", "-1"});
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_NE(r.err.find("steps"), std::string::npos) << r;
  EXPECT_EQ(r.out, "") << r;
  EXPECT_EQ(RecordedVersions(reader_db_), Keys(shipped_));
}

TEST_F(MigrateCliTest, AnUnknownDatabaseSchemeIsAUsageError) {
  RunResult r = Migrate({"status"}, "mysql://root@127.0.0.1/overseer");
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_NE(r.err.find("unknown database URL scheme"), std::string::npos) << r;
  EXPECT_NE(r.err.find("postgresql://"), std::string::npos) << "names the accepted forms: " << r;
  EXPECT_EQ(r.out, "") << r;
}

TEST_F(MigrateCliTest, AMalformedPostgresUrlIsAUsageErrorShownMasked) {
  const std::string secret = "malformed" + RandomHex(8);
  RunResult r =
      Migrate({"up"}, "postgresql://someone:" + secret + "@127.0.0.1:5432/db?no_such_param=1");
  EXPECT_EQ(r.code, 2) << r;
  EXPECT_NE(r.err.find("invalid PostgreSQL URL postgresql://someone:***@127.0.0.1:5432/db"),
            std::string::npos)
      << r;
  EXPECT_EQ(r.out.find(secret), std::string::npos) << r;
  EXPECT_EQ(r.err.find(secret), std::string::npos) << r;
}

TEST_F(MigrateCliTest, AnUnreachableServerFailsClearlyWithoutThePassword) {
  const std::string secret = "unreachable" + RandomHex(8);
  const std::string host = "127.0.0.1:" + std::to_string(FreePort());
  for (const char* action : {"status", "up", "down"}) {
    const auto t0 = Clock::now();
    RunResult r = Migrate({action}, "postgresql://someone:" + secret + "@" + host + "/db");
    EXPECT_LT(Clock::now() - t0, 30s) << action;
    EXPECT_EQ(r.code, 1) << action << ": " << r;
    EXPECT_NE(r.err.find("database unavailable"), std::string::npos) << action << ": " << r;
    // Which database: the URL, its password masked.
    EXPECT_NE(r.err.find("postgresql://someone:***@" + host + "/db"), std::string::npos)
        << action << ": " << r;
    EXPECT_EQ(r.out.find(secret), std::string::npos) << action << ": " << r;
    EXPECT_EQ(r.err.find(secret), std::string::npos) << action << ": " << r;
    EXPECT_EQ(r.out, "") << action << ": no listing on failure: " << r;
  }
}

TEST_F(MigrateCliTest, AWrongPasswordFailsWithoutShowingEither) {
  if (!OnPostgres()) GTEST_SKIP() << "a password is a PostgreSQL matter";
  const std::string wrong = "wrong" + RandomHex(8);
  std::string url = db_url_;
  url.replace(url.find(password_), password_.size(), wrong);
  RunResult r = Migrate({"up"}, url);
  EXPECT_EQ(r.code, 1) << r;
  EXPECT_NE(r.err.find("database unavailable"), std::string::npos) << r;
  EXPECT_EQ(r.err.find(wrong), std::string::npos) << r;
  EXPECT_EQ(r.out.find(wrong), std::string::npos) << r;
  EXPECT_FALSE(TableExists(reader_db_, "schema_migrations")) << "it never got in";
  EXPECT_FALSE(TableExists(reader_db_, "jobs")) << "it never got in";
}

// --- Two daemons on one empty PostgreSQL database ---------------------------------------------

class PgConcurrentMigrateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!OnPostgres()) {
      GTEST_SKIP() << "the advisory lock is PostgreSQL's (SQLite serializes through its file "
                      "lock): run with OVERSEER_IT_DB=postgres";
    }
    Result<std::string> url = CreateTestDatabase();
    ASSERT_TRUE(url) << url.error().message;
    url_ = *url;
  }
  void TearDown() override {
    if (HasFailure()) {
      for (auto& d : daemons_) {
        if (d) std::cerr << "---- daemon stderr ----\n" << d->StderrTail() << "----\n";
      }
    }
    daemons_[0].reset();
    daemons_[1].reset();
    if (!url_.empty()) DropTestDatabase(url_);
  }

  std::string url_;
  std::unique_ptr<Daemon> daemons_[2];
};

// "postgres: applied migration 0003_typed_events" lines of a daemon's log: version -> count.
std::map<int, int> AppliedInLog(const std::string& log) {
  std::map<int, int> out;
  const std::regex re(R"(applied migration (\d{4})_)");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), re); it != std::sregex_iterator();
       ++it) {
    ++out[std::stoi((*it)[1])];
  }
  return out;
}

TEST_F(PgConcurrentMigrateTest, TwoDaemonsStartingAtOnceMigrateOnce) {
  const std::vector<int> all = Keys(ShippedMigrations());
  ASSERT_FALSE(all.empty());

  // Hold the migration lock, as a third process migrating would: both daemons must wait.
  PGconn* holder = PQconnectdb(url_.c_str());
  ASSERT_EQ(PQstatus(holder), CONNECTION_OK) << PQerrorMessage(holder);
  ASSERT_EQ(PgExec(holder, "SELECT pg_advisory_lock(" + std::to_string(kMigrationLockKey) + ")"),
            "");
  for (auto& d : daemons_) {
    d = std::make_unique<Daemon>(DaemonOptions{.extra_args = {}, .extra_env = {}, .db_url = url_});
  }
  // Daemon::Start blocks until the daemon listens: one thread each.
  std::future<::testing::AssertionResult> started[2];
  for (int i = 0; i < 2; ++i) {
    started[i] = std::async(std::launch::async, [d = daemons_[i].get()] { return d->Start(); });
  }
  const bool both_wait = WaitFor(
      [&] {
        return daemons_[0]->Stderr().find("waiting for it") != std::string::npos &&
               daemons_[1]->Stderr().find("waiting for it") != std::string::npos;
      },
      20s);
  EXPECT_TRUE(both_wait) << "each daemon says it waits for another process's migration";
  std::this_thread::sleep_for(500ms);
  for (auto& s : started) {
    EXPECT_EQ(s.wait_for(0s), std::future_status::timeout) << "a daemon listened unmigrated";
  }
  {
    auto reader = DbReader::Open(url_);
    EXPECT_FALSE(reader->Query("SELECT 1 FROM jobs", "", [](const DbRow&) {}))
        << "nothing migrated while the lock is held";
  }

  // Free the lock: both go at once; one migrates, the other finds it done.
  EXPECT_EQ(PgExec(holder, "SELECT pg_advisory_unlock_all()"), "");
  PQfinish(holder);
  for (auto& s : started) EXPECT_TRUE(s.get());
  ASSERT_TRUE(daemons_[0]->running() && daemons_[1]->running());

  // Every version recorded once, and applied once over both daemons' logs.
  EXPECT_EQ(RecordedVersions(url_), all);
  std::map<int, int> applied = AppliedInLog(daemons_[0]->Stderr());
  for (const auto& [v, n] : AppliedInLog(daemons_[1]->Stderr())) applied[v] += n;
  std::map<int, int> once;
  for (int v : all) once[v] = 1;
  EXPECT_EQ(applied, once);

  // Both serve.
  Api a(daemons_[0]->url(), daemons_[0]->Token("default"));
  Api b(daemons_[1]->url(), daemons_[1]->Token("default"));
  EXPECT_EQ(a.Get("/readyz").status, 200u);
  EXPECT_EQ(b.Get("/readyz").status, 200u);
  for (auto& d : daemons_) {
    const int st = d->Stop();
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "wait status " << st;
  }
}

}  // namespace
}  // namespace overseer::it
