// The net of issue 9: a randomized invariant test against the live daemon.
//
// Several clients (threads, each with its own connection) send thousands of random operations
// of every kind into one workspace with small quotas, so that slots are contended: submits of
// commands that exit 0, fail, time out, sleep, leave setsid'd grandchildren or spawn sub-jobs
// with their worker token (curl), with random retries, dependencies, timeouts and worker counts;
// cancels, pauses, resumes (and pause/resume/pause bursts), terminates with and without wait,
// quota changes, allocations and releases, and reads. Half-way through, the daemon is killed
// with SIGKILL and started again on the same state directory. Then the test cancels what is
// left, waits until nothing runs, stops the daemon and checks the invariants (see
// invariant_checks.h) against every answer it got and against the database.
//
// Knobs (environment):
//   OVERSEER_INVARIANT_SEED     replay a run (default: random; printed first)
//   OVERSEER_INVARIANT_OPS      operations (default 3000)
//   OVERSEER_INVARIANT_CLIENTS  concurrent clients (default 4)
//   OVERSEER_INVARIANT_THINK_MS each client pauses 0..N ms between operations (default 30):
//                               load shaping so that processes run, not a wait for a state
//   OVERSEER_INVARIANT_RESTARTS kill -9 + restart count, evenly spread (default 1)
//   OVERSEER_INVARIANT_ONLY     comma list of checks to run: http, quota, coverage, terminal,
//                               history, jobs, processes, slots (default: all; a daemon that
//                               dies under the load is always reported, as "daemon")
// A seed fixes every client's sequence of choices (operation kinds, commands, parameters);
// which job or worker an operation lands on also depends on timing, so a replay reproduces the
// load, not the exact interleaving. Every operation is logged (client, time, request, status)
// to ops.jsonl in a directory the failure message names (kept on failure).
#include "integration/invariant_load.h"

namespace overseer::it {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using namespace invariant_load;  // NOLINT(google-build-using-namespace)
using invariant::QuotaChange;
using invariant::QuotaTimeline;
using invariant::Violation;

class InvariantTest : public OwnDaemonTest {};

TEST_F(InvariantTest, RandomOperationsKeepEveryInvariant) {
  LoadRun run;
  run.seed = EnvU64("OVERSEER_INVARIANT_SEED",
                    std::random_device{}() ^ (static_cast<uint64_t>(WallMs()) << 20));
  run.total_ops = static_cast<int>(EnvU64("OVERSEER_INVARIANT_OPS", 3000));
  const int clients = std::max(1, static_cast<int>(EnvU64("OVERSEER_INVARIANT_CLIENTS", 4)));
  run.think_ms = static_cast<int>(EnvU64("OVERSEER_INVARIANT_THINK_MS", 30));
  const int restarts = static_cast<int>(EnvU64("OVERSEER_INVARIANT_RESTARTS", 1));
  std::cout << "[invariant] OVERSEER_INVARIANT_SEED=" << run.seed
            << " OVERSEER_INVARIANT_OPS=" << run.total_ops
            << " OVERSEER_INVARIANT_CLIENTS=" << clients << std::endl;
  RecordProperty("seed", std::to_string(run.seed));
  for (int i = 1; i <= restarts; ++i) run.restart_at.insert(run.total_ops * i / (restarts + 1));

  char tmpl[] = "/tmp/overseer-invariant-XXXXXX";
  const char* dir_c = mkdtemp(tmpl);
  ASSERT_NE(dir_c, nullptr);
  const std::string dir = dir_c;

  run.daemon = &d();
  run.workspace = ws();
  run.token = d().Token(ws());
  run.url = d().url();
  run.daemon_pid = d().pid();
  run.t0 = WallMs();

  // Small quotas on the depths used, so that slots are contended.
  {
    Reply q = HarnessCall(run, api(), "GET", "/api/resources/quotas");
    ASSERT_EQ(q.status, 200u) << Describe(q);
    for (const json::value& e : q.At({"quotas"}).as_array()) {
      run.quotas.initial[static_cast<int>(e.at("depth").to_number<int64_t>())] =
          static_cast<int>(e.at("max_workers").to_number<int64_t>());
    }
    const std::vector<std::pair<int, int>> start = {{0, 2}, {1, 2}, {2, 1}, {3, 1}};
    json::array arr;
    for (const auto& [dep, v] : start)
      arr.push_back(json::object{{"depth", dep}, {"max_workers", v}});
    const int64_t send = WallMs();
    Reply r = HarnessCall(run, api(), "PUT", "/api/resources/quotas",
                          json::serialize(json::object{{"quotas", std::move(arr)}}));
    ASSERT_EQ(r.status, 200u) << Describe(r);
    for (const auto& [dep, v] : start) {
      run.quotas.changes.push_back(
          QuotaChange{dep, v, send, WallMs(), QuotaChange::Outcome::kApplied});
    }
  }

  // The load.
  {
    std::vector<std::thread> threads;
    std::vector<std::unique_ptr<Client>> cs;
    for (int i = 0; i < clients; ++i) cs.push_back(std::make_unique<Client>(run, i));
    for (int i = 0; i < clients; ++i) threads.emplace_back([&, i] { cs[i]->Loop(); });
    for (std::thread& t : threads) t.join();
  }
  const int64_t load_end = WallMs();
  std::vector<Violation> violations;
  auto add = [&](const std::string& check, const std::string& what,
                 std::vector<std::string> ids = {}, const std::string& records = "") {
    violations.push_back(Violation{check, what, records, std::move(ids)});
  };
  if (!ProcAlive(d().pid())) {
    // It died under the load: reported, then started again so that recovery, quiescence and
    // the record checks still run.
    add("daemon", "the daemon died during the load (first seen at +" +
                      std::to_string(run.died_ms.load() - run.t0) + " ms):\n" + d().StderrTail(40));
    d().Kill9();
    ASSERT_TRUE(d().Restart());
  }
  Reconnect();

  // Quiescence: cancel every active job (cascades to its subtree), terminate any worker left
  // active, until nothing is active.
  const auto q_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  bool quiet = false;
  while (std::chrono::steady_clock::now() < q_deadline) {
    std::vector<std::string> jobs;
    for (const char* s : {"PENDING", "RUNNING"}) {
      for (std::string& id : ListIds(run, api(), "/api/jobs", "jobs", s))
        jobs.push_back(std::move(id));
    }
    for (const std::string& id : jobs) {
      HarnessCall(run, api(), "POST", "/api/jobs/" + id + "/cancel",
                  R"({"grace_seconds":0,"wait":true})");
    }
    std::vector<std::string> workers;
    for (const char* s : {"IDLE", "RUNNING", "PAUSED", "RETRYING"}) {
      for (std::string& id : ListIds(run, api(), "/api/supervisor/workers", "workers", s)) {
        workers.push_back(std::move(id));
      }
    }
    if (jobs.empty() && workers.empty()) {
      quiet = true;
      break;
    }
    // Workers still active once their jobs were canceled (a cancel in flight, or a defect):
    // ended directly; their records keep whatever happened.
    if (jobs.empty()) {
      for (const std::string& id : workers) {
        HarnessCall(run, api(), "POST", "/api/supervisor/workers/" + id + "/terminate",
                    R"({"grace_seconds":0,"wait":true})");
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const int64_t quiet_at = WallMs();

  if (!quiet) add("jobs", "quiescence not reached within 90 s: jobs or workers still active");

  // 8 (live side): every slot given back.
  if (Enabled("slots")) {
    Reply usage;
    const bool zero = WaitFor(
        [&] {
          usage = HarnessCall(run, api(), "GET", "/api/resources/usage");
          return usage.status == 200 && usage.Int({"total_used"}) == 0;
        },
        std::chrono::seconds(5));
    if (!zero) add("slots", "GET /api/resources/usage still reports slots in use: " + usage.body);
  }
  // 7. Nothing left running: no process of any worker, no zombie.
  if (Enabled("processes")) {
    std::vector<pid_t> alive;
    WaitFor([&] { return (alive = d().MarkedAlive()).empty(); }, std::chrono::seconds(3));
    for (pid_t p : alive) {
      add("processes", "process " + std::to_string(p) + " (" + ProcCmdline(p) +
                           ") is still alive after quiescence");
    }
    std::vector<pid_t> zombies;
    WaitFor([&] { return (zombies = d().ZombieChildren()).empty(); }, std::chrono::seconds(3));
    for (pid_t p : zombies)
      add("processes", "zombie child " + std::to_string(p) + " of the daemon");
  }

  const int stop_status = d().Stop();
  if (!(WIFEXITED(stop_status) && WEXITSTATUS(stop_status) == 0)) {
    add("http", "the daemon did not exit cleanly on SIGTERM (wait status " +
                    std::to_string(stop_status) + ")");
  }
  const int64_t end_ms = WallMs();

  // 1. No 5xx and no lost answer, from the test's clients or from the workers' curl.
  if (Enabled("http")) {
    for (const OpRecord& op : run.log) {
      if (op.method == "RESTART") continue;
      // After the daemon died, every request fails: that is one violation ("daemon"), not many.
      if (op.status == 0 && run.died_ms.load() != 0 && op.send_ms >= run.died_ms.load()) continue;
      if (op.status >= 500 || op.status == 0) {
        add("http",
            "answered " + std::to_string(op.status) + " to " + op.method + " " + op.target + " (" +
                op.reply + ")",
            op.ids, FormatOp(run, op));
      }
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d().state_dir() + "/logs", ec)) {
      std::ifstream in(e.path());
      std::string line;
      while (std::getline(in, line)) {
        if (line.rfind("INVARIANT_SUBJOB_HTTP=5", 0) == 0) {
          const std::string wid = e.path().stem().string();
          add("http",
              "a worker's sub-job POST was answered " + line.substr(22) + " (worker " + wid + ")",
              {wid});
        }
      }
    }
  }
  for (const std::string& e : run.harness_errors) add("harness", e);

  // The records.
  invariant::Records rec;
  std::string db_error;
  if (!invariant::LoadRecords(d().db(), ws(), &rec, &db_error)) {
    add("harness", "cannot read the database: " + db_error);
  } else {
    auto take = [&](const std::string& name, std::vector<Violation> v) {
      if (!Enabled(name)) return;
      for (Violation& x : v) violations.push_back(std::move(x));
    };
    take("quota", invariant::CheckQuota(rec, run.quotas));
    take("coverage", invariant::CheckCoverage(rec, end_ms));
    take("terminal", invariant::CheckNothingStartsAfterTheEnd(rec));
    take("history", invariant::CheckHistories(rec));
    take("jobs", invariant::CheckJobs(rec));
    take("slots", invariant::CheckNoHeldAllocation(rec));
  }

  // The op log.
  std::sort(run.log.begin(), run.log.end(),
            [](const OpRecord& a, const OpRecord& b) { return a.send_ms < b.send_ms; });
  {
    std::ofstream out(dir + "/ops.jsonl");
    for (const OpRecord& op : run.log) {
      json::array ids;
      for (const std::string& id : op.ids) ids.emplace_back(id);
      out << json::serialize(json::object{{"client", op.client},
                                          {"send_ms", op.send_ms},
                                          {"reply_ms", op.reply_ms},
                                          {"method", op.method},
                                          {"target", op.target},
                                          {"body", op.body},
                                          {"status", op.status},
                                          {"reply", op.reply},
                                          {"ids", std::move(ids)}})
          << "\n";
    }
  }

  // Summary, always printed (how much of each kind happened, for tuning and for the report).
  {
    std::map<std::string, int> by_status;
    for (const OpRecord& op : run.log) ++by_status[std::to_string(op.status)];
    std::map<std::string, int> jobs_by;
    for (const auto& [id, j] : rec.jobs) ++jobs_by[j.status + "/" + j.reason];
    std::map<std::string, int> reasons;
    for (const auto& [wid, h] : rec.transitions) {
      for (const auto& t : h) ++reasons[t.from + ">" + t.to + " " + t.reason];
    }
    std::cout << "[invariant] " << run.log.size() << " requests in " << (load_end - run.t0)
              << " ms of load, quiescence after " << (quiet_at - load_end) << " ms; statuses:";
    for (const auto& [s, n] : by_status) std::cout << " " << s << "x" << n;
    std::cout << "\n[invariant] " << rec.jobs.size() << " jobs, " << rec.workers.size()
              << " workers, " << rec.allocations.size() << " allocations; jobs:";
    for (const auto& [s, n] : jobs_by) std::cout << " " << s << "x" << n;
    std::cout << "\n[invariant] worker transitions:";
    for (const auto& [s, n] : reasons) std::cout << " [" << s << "]x" << n;
    std::cout << std::endl;
  }

  if (violations.empty()) {
    if (std::getenv("OVERSEER_IT_KEEP") == nullptr) fs::remove_all(dir);  // NOLINT
    return;
  }

  // The failure: which invariant, the records, and the ops touching them.
  std::map<std::string, std::string> job_of;  // worker -> job
  for (const auto& [id, w] : rec.workers) job_of[id] = w.job_id;
  std::map<std::string, int> count;
  for (const Violation& v : violations) ++count[v.check];
  std::ostringstream report;
  report << "invariant violations (seed " << run.seed << ", " << run.total_ops << " ops, "
         << clients << " clients; replay: OVERSEER_INVARIANT_SEED=" << run.seed
         << " OVERSEER_INVARIANT_OPS=" << run.total_ops << " OVERSEER_INVARIANT_CLIENTS=" << clients
         << "):";
  for (const auto& [c, n] : count) report << " " << c << "x" << n;
  report << "\n  every operation: " << dir << "/ops.jsonl (t0 " << run.t0 << ")\n";
  if (d().on_postgres()) report << "  database: " << d().db() << "\n";
  for (const OpRecord& op : run.log) {
    if (op.method == "RESTART") report << "  restart:" << FormatOp(run, op).substr(5);
  }
  std::ostringstream full;  // every violation, for report.txt
  std::ostringstream shown_text;
  std::map<std::string, int> shown;
  for (const Violation& v : violations) {
    std::ostringstream one;
    one << "\n  [" << v.check << "] " << v.what << "\n" << v.records;
    std::set<std::string> related(v.ids.begin(), v.ids.end());
    for (const std::string& id : v.ids) {
      if (auto it = job_of.find(id); it != job_of.end()) related.insert(it->second);
      if (auto j = rec.jobs.find(id); j != rec.jobs.end() && !j->second.parent.empty()) {
        related.insert(j->second.parent);
      }
    }
    related.erase("");
    std::vector<const OpRecord*> ops;
    for (const OpRecord& op : run.log) {
      for (const std::string& id : op.ids) {
        if (related.count(id) != 0) {
          ops.push_back(&op);
          break;
        }
      }
    }
    if (!ops.empty()) one << "    ops touching " << related.size() << " related ids:\n";
    const size_t from = ops.size() > 30 ? ops.size() - 30 : 0;
    if (from > 0) one << "      (" << from << " earlier ones in ops.jsonl)\n";
    for (size_t i = from; i < ops.size(); ++i) one << FormatOp(run, *ops[i]);
    full << one.str();
    if (++shown[v.check] <= 5) shown_text << one.str();
  }
  for (const auto& [c, n] : shown) {
    if (n > 5)
      shown_text << "\n  [" << c << "] " << (n - 5) << " more in " << dir << "/report.txt\n";
  }
  const std::string head = report.str();
  report << shown_text.str();
  std::ofstream(dir + "/report.txt") << head << full.str();
  // Keep the records for a look by hand (PostgreSQL: the database is kept with
  // OVERSEER_IT_KEEP, on a server that lives as long as the test run).
  std::error_code ec;
  if (!d().on_postgres()) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      fs::copy_file(d().db() + suffix, dir + "/overseer.db" + suffix,
                    fs::copy_options::overwrite_existing, ec);
    }
  }
  std::ofstream(dir + "/daemon-stderr.log") << d().Stderr();
  ADD_FAILURE() << report.str();
}

}  // namespace
}  // namespace overseer::it
