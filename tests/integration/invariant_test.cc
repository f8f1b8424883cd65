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
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <mutex>
#include <random>
#include <set>
#include <shared_mutex>
#include <sstream>
#include <thread>

#include "common/ids.h"
#include "integration/fixture.h"
#include "integration/invariant_checks.h"

namespace overseer::it {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using invariant::QuotaChange;
using invariant::QuotaTimeline;
using invariant::Violation;

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

// Ids ([jwa]_ + [0-9a-z]) mentioned in `text`.
void CollectIds(const std::string& text, std::vector<std::string>* out) {
  for (size_t i = 0; i + 2 < text.size(); ++i) {
    const char c = text[i];
    if ((c != 'j' && c != 'w' && c != 'a') || text[i + 1] != '_') continue;
    if (i > 0 && (std::isalnum(static_cast<unsigned char>(text[i - 1])) || text[i - 1] == '_')) {
      continue;
    }
    size_t e = i + 2;
    while (e < text.size() && (std::isdigit(static_cast<unsigned char>(text[e])) ||
                               (text[e] >= 'a' && text[e] <= 'z'))) {
      ++e;
    }
    if (e - i >= 20) out->push_back(text.substr(i, e - i));
    i = e;
  }
}

struct OpRecord {
  int client = 0;  // -1: the harness (setup, restart, quiescence)
  int64_t send_ms = 0;
  int64_t reply_ms = 0;
  std::string method;
  std::string target;
  std::string body;
  unsigned status = 0;
  std::string reply;  // error code, or id/status of the answer
  std::vector<std::string> ids;
};

struct JobRef {
  std::string id;
  int depth = 0;
};

// Everything the clients share.
struct LoadRun {
  Daemon* daemon = nullptr;
  std::string workspace;
  std::string token;
  int64_t t0 = 0;
  uint64_t seed = 0;
  int total_ops = 0;
  int think_ms = 0;
  std::set<int> restart_at;  // op numbers at which the daemon is killed and restarted

  std::shared_mutex gate;  // shared by each operation; exclusive for a restart
  int generation = 0;      // bumped by each restart (clients reconnect)
  std::string url;
  std::atomic<int> next_op{0};
  std::atomic<bool> abort{false};
  pid_t daemon_pid = -1;            // of the current run of the daemon
  std::atomic<int64_t> died_ms{0};  // when a request first found the daemon dead
  std::mutex error_mu;
  std::vector<std::string> harness_errors;

  std::mutex log_mu;
  std::vector<OpRecord> log;

  std::mutex pool_mu;
  std::deque<JobRef> jobs;
  std::deque<std::string> workers;
  std::deque<std::string> allocations;

  std::mutex quota_mu;  // quota changes are sent one at a time
  QuotaTimeline quotas;

  void Record(OpRecord op) {
    std::lock_guard<std::mutex> l(log_mu);
    log.push_back(std::move(op));
  }
  void HarnessError(const std::string& e) {
    std::lock_guard<std::mutex> l(error_mu);
    harness_errors.push_back(e);
  }
  void AddJob(JobRef j) {
    std::lock_guard<std::mutex> l(pool_mu);
    jobs.push_back(std::move(j));
    if (jobs.size() > 80) jobs.pop_front();
  }
  void AddWorker(const std::string& w) {
    std::lock_guard<std::mutex> l(pool_mu);
    if (std::find(workers.begin(), workers.end(), w) != workers.end()) return;
    workers.push_back(w);
    if (workers.size() > 120) workers.pop_front();
  }
  void AddAllocation(const std::string& a) {
    std::lock_guard<std::mutex> l(pool_mu);
    allocations.push_back(a);
    if (allocations.size() > 40) allocations.pop_front();
  }
};

// One client: its own connection and random sequence.
class Client {
 public:
  Client(LoadRun& run, int id)
      : run_(run), id_(id), rng_(run.seed * 1000003u + static_cast<uint64_t>(id)) {}

  void Loop() {
    while (!run_.abort.load()) {
      const int n = run_.next_op.fetch_add(1);
      if (n >= run_.total_ops) break;
      if (run_.restart_at.count(n) != 0) {
        Restart();
        continue;
      }
      {
        std::shared_lock<std::shared_mutex> l(run_.gate);
        if (!api_ || generation_ != run_.generation) {
          api_ = std::make_unique<Api>(run_.url, run_.token);
          generation_ = run_.generation;
        }
        OneOp();
      }
      if (run_.think_ms > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(Uniform(0, run_.think_ms)));
      }
    }
  }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  Reply Call(const std::string& method, const std::string& target, const std::string& body = "") {
    OpRecord op;
    op.client = id_;
    op.method = method;
    op.target = target;
    op.body = body.size() > 1200 ? body.substr(0, 1200) + "..." : body;
    op.send_ms = WallMs();
    Reply r = api_->Send(method, target, body);
    op.reply_ms = WallMs();
    op.status = r.status;
    if (r.status == 0 && !ProcAlive(run_.daemon_pid)) {
      // The daemon died (not the restart: that holds the gate). Stop the load; the test
      // reports the death with the daemon's stderr.
      int64_t expected = 0;
      run_.died_ms.compare_exchange_strong(expected, op.send_ms);
      run_.abort = true;
    }
    if (r.status >= 200 && r.status < 300) {
      op.reply = r.Str({"id"}) + " " + r.Str({"status"});
    } else if (r.status == 0) {
      op.reply = r.body;
    } else {
      op.reply = r.Str({"error", "code"}) + ": " + r.Str({"error", "message"}).substr(0, 160);
    }
    CollectIds(target, &op.ids);
    CollectIds(body, &op.ids);
    if (r.status == 201 || (r.status >= 200 && r.status < 300 && method == "POST")) {
      const std::string id = r.Str({"id"});
      if (!id.empty()) op.ids.push_back(id);
    }
    run_.Record(std::move(op));
    return r;
  }

  // A recent job or worker, with a bias towards the newest (most are still active).
  std::optional<JobRef> PickJob() {
    std::lock_guard<std::mutex> l(run_.pool_mu);
    if (run_.jobs.empty()) return std::nullopt;
    return run_.jobs[PickIndex(run_.jobs.size())];
  }
  std::string PickWorker() {
    std::lock_guard<std::mutex> l(run_.pool_mu);
    if (run_.workers.empty()) return "";
    return run_.workers[PickIndex(run_.workers.size())];
  }
  size_t PickIndex(size_t n) {
    if (Chance(0.7)) {
      const size_t k = std::min<size_t>(n, 12);
      return n - 1 - static_cast<size_t>(Uniform(0, static_cast<int>(k) - 1));
    }
    return static_cast<size_t>(Uniform(0, static_cast<int>(n) - 1));
  }

  // ---- what a job runs ----

  std::string SubJobCurl(const std::string& sub_script) {
    json::object sub{{"name", "inv-sub"},
                     {"task", json::object{{"runtime", "command"},
                                           {"command", json::array{"sh", "-c", sub_script}}}}};
    if (Chance(0.3)) {
      sub["retry"] =
          json::object{{"max_attempts", 2}, {"initial_backoff_ms", 100}, {"max_backoff_ms", 500}};
    }
    return "curl -s --noproxy '*' -m 10 -o /dev/null -w 'INVARIANT_SUBJOB_HTTP=%{http_code}\\n' "
           "-X POST -H \"Authorization: Bearer $OVERSEER_TOKEN\" "
           "-H 'Content-Type: application/json' -d '" +
           json::serialize(sub) + "' \"$OVERSEER_URL/api/jobs\"";
  }

  std::string SleepArg() {  // 0.05 .. 1.00 s, mostly short
    const int cs = Chance(0.7) ? Uniform(5, 30) : Uniform(30, 100);
    return std::to_string(cs / 100) + "." + (cs % 100 < 10 ? "0" : "") + std::to_string(cs % 100);
  }

  json::object NewJobBody(std::string* kind) {
    std::string script;
    json::object extra;
    const int k = Uniform(0, 99);
    if (k < 10) {
      *kind = "true";
      script = "true";
    } else if (k < 35) {
      *kind = "sleep";
      script = "sleep " + SleepArg();
    } else if (k < 50) {
      *kind = "fail";
      script =
          "sleep 0.0" + std::to_string(Uniform(5, 9)) + "; exit " + std::to_string(Uniform(1, 3));
    } else if (k < 58) {
      *kind = "timeout";
      script = "sleep 4";
      extra["timeout_seconds"] = 1;
    } else if (k < 68) {
      *kind = "setsid";
      script = "setsid sleep 3 & sleep " + SleepArg();
    } else if (k < 85) {
      *kind = "subjob";
      const int n = Uniform(1, 2);
      for (int i = 0; i < n; ++i) {
        script += SubJobCurl(Chance(0.25) ? "sleep 0.1; exit 2" : "sleep " + SleepArg()) + "; ";
      }
      script += "sleep " + SleepArg();
    } else {
      *kind = "subjob-late";  // races with the parent's end
      script = "sleep " + SleepArg() + "; " + SubJobCurl("sleep 0.2");
    }
    if (!extra.contains("timeout_seconds") && Chance(0.12))
      extra["timeout_seconds"] = Uniform(1, 2);
    if (Chance(0.35)) {
      extra["retry"] = json::object{{"max_attempts", Uniform(2, 3)},
                                    {"initial_backoff_ms", Uniform(20, 300)},
                                    {"max_backoff_ms", 1000},
                                    {"multiplier", 2},
                                    {"jitter", 0.3}};
    }
    const int wc = Uniform(0, 99);
    extra["worker_count"] = wc < 65 ? 1 : wc < 90 ? 2 : 3;
    if (Chance(0.15)) {
      json::array deps;
      const int n = Uniform(1, 2);
      for (int i = 0; i < n; ++i) {
        std::optional<JobRef> d = PickJob();
        if (!d) break;
        bool dup = false;
        for (const json::value& v : deps) dup = dup || v.as_string() == d->id;
        if (!dup) deps.emplace_back(d->id);
      }
      if (!deps.empty()) extra["depends_on"] = std::move(deps);
    }
    json::object body = CommandJob(Sh(script), extra);
    body["name"] = "inv-" + *kind;
    return body;
  }

  // ---- operations ----

  void OneOp() {
    const int k = Uniform(0, 99);
    if (k < 18) return Submit(false);
    if (k < 22) return Submit(true);
    if (k < 30) return Cancel();
    if (k < 42) return PauseOrResume("pause");
    if (k < 54) return PauseOrResume("resume");
    if (k < 62) return FlipFlop();
    if (k < 68) return Terminate();
    if (k < 72) return SetQuota();
    if (k < 77) return Allocate();
    if (k < 82) return Release();
    if (k < 84) return Halt();
    if (k < 86) return Unhalt();
    return Read();
  }

  void RegisterWorkers(const Reply& job) {
    const json::value& ws = job.At({"workers"});
    if (!ws.is_array()) return;
    for (const json::value& w : ws.as_array()) {
      if (w.is_object() && w.as_object().contains("id") && w.at("id").is_string()) {
        run_.AddWorker(std::string(w.at("id").as_string()));
      }
    }
  }

  void Submit(bool child) {
    std::string kind;
    json::object body = NewJobBody(&kind);
    if (child) {
      std::optional<JobRef> parent = PickJob();
      if (parent && parent->depth < 2) body["parent_job_id"] = parent->id;
    }
    Reply r = Call("POST", "/api/jobs", json::serialize(body));
    if (r.status != 201) return;
    const std::string id = r.Str({"id"});
    run_.AddJob(JobRef{id, static_cast<int>(r.Int({"depth"}))});
    RegisterWorkers(Call("GET", "/api/jobs/" + id));
  }

  std::string TerminateBody() {
    json::object b{{"grace_seconds", Uniform(0, 1)}};
    if (Chance(0.6)) b["wait"] = Chance(0.5);
    return json::serialize(b);
  }

  void Cancel() {
    std::optional<JobRef> j = PickJob();
    if (!j) return;
    Call("POST", "/api/jobs/" + j->id + "/cancel", Chance(0.3) ? "" : TerminateBody());
  }

  // Most of the time a worker that is really RUNNING (or PAUSED, for a resume), found by a
  // list just before; otherwise any known worker (its 409s are part of the test too).
  std::string PickWorkerIn(const std::string& status) {
    if (Chance(0.25)) return PickWorker();
    Reply r = Call("GET", "/api/supervisor/workers?limit=40&status=" + status);
    const json::value& ws = r.At({"workers"});
    if (!ws.is_array() || ws.as_array().empty()) return PickWorker();
    const json::array& a = ws.as_array();
    const json::value& w = a[static_cast<size_t>(Uniform(0, static_cast<int>(a.size()) - 1))];
    return w.is_object() && w.as_object().contains("id") ? std::string(w.at("id").as_string())
                                                         : std::string();
  }

  void PauseOrResume(const std::string& what) {
    const std::string w = PickWorkerIn(what == "pause" ? "RUNNING" : "PAUSED");
    if (w.empty()) return;
    Call("POST", "/api/supervisor/workers/" + w + "/" + what);
  }

  void FlipFlop() {  // pause, resume, pause back to back (issue 9, item 4)
    const std::string w = PickWorkerIn("RUNNING");
    if (w.empty()) return;
    Call("POST", "/api/supervisor/workers/" + w + "/pause");
    Call("POST", "/api/supervisor/workers/" + w + "/resume");
    Call("POST", "/api/supervisor/workers/" + w + "/pause");
    if (Chance(0.5)) Call("POST", "/api/supervisor/workers/" + w + "/resume");
  }

  void Terminate() {
    const std::string w = PickWorkerIn(Chance(0.5) ? "RUNNING" : "PAUSED");
    if (w.empty()) return;
    Call("POST", "/api/supervisor/workers/" + w + "/terminate", TerminateBody());
  }

  // The kill switch on a random subtree: mostly freeze, sometimes terminate (its refusals and
  // 409s are part of the test too); Unhalt thaws a random job (409 when it is not halted).
  void Halt() {
    std::optional<JobRef> j = PickJob();
    if (!j) return;
    json::object b{{"mode", Chance(0.75) ? "freeze" : "terminate"},
                   {"reason", "invariant"},
                   {"grace_seconds", Uniform(0, 1)}};
    if (Call("POST", "/api/jobs/" + j->id + "/halt", json::serialize(b)).status == 200) {
      halted_.push_back(j->id);
    }
  }

  void Unhalt() {  // mostly a job this client halted (so that frozen workers do run again)
    std::string id;
    if (!halted_.empty() && Chance(0.8)) {
      const size_t i = static_cast<size_t>(Uniform(0, static_cast<int>(halted_.size()) - 1));
      id = halted_[i];
      halted_.erase(halted_.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (std::optional<JobRef> j = PickJob()) {
      id = j->id;
    }
    if (!id.empty()) Call("POST", "/api/jobs/" + id + "/unhalt");
  }

  void SetQuota() {
    std::vector<std::pair<int, int>> set;
    const int first = Uniform(0, 2);
    set.emplace_back(first, Uniform(1, 3));
    if (Chance(0.3)) set.emplace_back((first + 1) % 3, Uniform(1, 3));
    json::array q;
    for (const auto& [d, v] : set) q.push_back(json::object{{"depth", d}, {"max_workers", v}});
    const std::string body = json::serialize(json::object{{"quotas", std::move(q)}});
    std::lock_guard<std::mutex> l(run_.quota_mu);
    const int64_t send = WallMs();
    Reply r = Call("PUT", "/api/resources/quotas", body);
    const int64_t reply = WallMs();
    for (const auto& [d, v] : set) {
      const QuotaChange::Outcome outcome =
          r.status >= 200 && r.status < 300   ? QuotaChange::Outcome::kApplied
          : r.status >= 400 && r.status < 500 ? QuotaChange::Outcome::kRejected
                                              : QuotaChange::Outcome::kUnknown;
      run_.quotas.changes.push_back(QuotaChange{d, v, send, reply, outcome});
    }
  }

  void Allocate() {
    std::optional<JobRef> j = PickJob();
    if (!j) return;
    const json::object body{
        {"job_id", j->id}, {"depth", Uniform(0, 2)}, {"worker_count", Uniform(1, 2)}};
    Reply r = Call("POST", "/api/resources/allocate", json::serialize(body));
    if (r.status == 201) run_.AddAllocation(r.Str({"id"}));
  }

  void Release() {
    std::string alloc;
    {
      std::lock_guard<std::mutex> l(run_.pool_mu);
      if (!run_.allocations.empty() && Chance(0.6)) {
        const size_t i = PickIndex(run_.allocations.size());
        alloc = run_.allocations[i];
        run_.allocations.erase(run_.allocations.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    if (!alloc.empty()) {
      Call("POST", "/api/resources/release",
           json::serialize(json::object{{"allocation_id", alloc}}));
      return;
    }
    std::optional<JobRef> j = PickJob();
    if (!j) return;
    Call("POST", "/api/resources/release", json::serialize(json::object{{"job_id", j->id}}));
  }

  void Read() {
    const int k = Uniform(0, 5);
    if (k == 0) {
      std::optional<JobRef> j = PickJob();
      if (j) RegisterWorkers(Call("GET", "/api/jobs/" + j->id));
    } else if (k == 1) {
      const std::string w = PickWorker();
      if (!w.empty()) Call("GET", "/api/supervisor/workers/" + w);
    } else if (k == 2) {
      Call("GET", "/api/resources/usage");
    } else if (k == 3) {
      // Workers of sub-jobs started by workers are found here.
      Reply r = Call("GET", std::string("/api/supervisor/workers?limit=50&status=") +
                                (Chance(0.5) ? "RUNNING" : "PAUSED"));
      const json::value& ws = r.At({"workers"});
      if (ws.is_array()) {
        for (const json::value& w : ws.as_array()) {
          if (w.is_object() && w.as_object().contains("id")) {
            run_.AddWorker(std::string(w.at("id").as_string()));
          }
        }
      }
    } else if (k == 4) {
      Reply r = Call(
          "GET", std::string("/api/jobs?limit=50&status=") + (Chance(0.5) ? "RUNNING" : "PENDING"));
      const json::value& js = r.At({"jobs"});
      if (js.is_array()) {
        for (const json::value& j : js.as_array()) {
          if (j.is_object() && j.as_object().contains("id")) {
            run_.AddJob(JobRef{std::string(j.at("id").as_string()),
                               static_cast<int>(j.at("depth").to_number<int64_t>())});
          }
        }
      }
    } else {
      std::optional<JobRef> j = PickJob();
      if (j) Call("GET", "/api/jobs/" + j->id + "/tree");
    }
  }

  void Restart() {
    std::unique_lock<std::shared_mutex> l(run_.gate);
    OpRecord op;
    op.client = id_;
    op.method = "RESTART";
    op.target = "kill -9 the daemon, start it again on the same state directory";
    op.send_ms = WallMs();
    run_.daemon->Kill9();
    ::testing::AssertionResult started = run_.daemon->Restart();
    op.reply_ms = WallMs();
    op.status = started ? 200 : 0;
    op.reply = started ? run_.daemon->url() : std::string(started.message());
    run_.Record(op);
    if (!started) {
      run_.HarnessError("restart failed: " + std::string(started.message()));
      run_.abort = true;
      return;
    }
    run_.url = run_.daemon->url();
    run_.daemon_pid = run_.daemon->pid();
    ++run_.generation;
  }

  LoadRun& run_;
  int id_;
  std::vector<std::string> halted_;  // jobs this client halted, not yet unhalted by it
  std::mt19937_64 rng_;
  std::unique_ptr<Api> api_;
  int generation_ = -1;
};

// ---- the harness's own requests (setup and quiescence), logged like the clients' ----------

Reply HarnessCall(LoadRun& run, Api& api, const std::string& method, const std::string& target,
                  const std::string& body = "") {
  OpRecord op;
  op.client = -1;
  op.method = method;
  op.target = target;
  op.body = body;
  op.send_ms = WallMs();
  Reply r = api.Send(method, target, body);
  op.reply_ms = WallMs();
  op.status = r.status;
  op.reply = r.status >= 200 && r.status < 300 ? r.Str({"id"}) + " " + r.Str({"status"})
                                               : r.Str({"error", "code"});
  CollectIds(target, &op.ids);
  run.Record(std::move(op));
  return r;
}

// Ids of every job (or worker) in `status`, following next_cursor.
std::vector<std::string> ListIds(LoadRun& run, Api& api, const std::string& path,
                                 const std::string& plural, const std::string& status) {
  std::vector<std::string> out;
  std::string cursor;
  for (int page = 0; page < 100; ++page) {
    Reply r = HarnessCall(
        run, api, "GET",
        path + "?limit=1000&status=" + status + (cursor.empty() ? "" : "&cursor=" + cursor));
    const json::value& items = r.At({plural});
    if (!items.is_array()) break;
    for (const json::value& it : items.as_array()) {
      if (it.is_object() && it.as_object().contains("id")) {
        out.emplace_back(it.at("id").as_string());
      }
    }
    cursor = r.Str({"next_cursor"});
    if (cursor.empty()) break;
  }
  return out;
}

bool Enabled(const std::string& check) {
  const char* only = std::getenv("OVERSEER_INVARIANT_ONLY");  // NOLINT(concurrency-mt-unsafe)
  if (only == nullptr || *only == '\0') return true;
  std::stringstream ss(only);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == check) return true;
  }
  return false;
}

std::string FormatOp(const LoadRun& run, const OpRecord& op) {
  std::ostringstream o;
  o << "      " << (op.client < 0 ? std::string("h ") : "c" + std::to_string(op.client)) << " +"
    << (op.send_ms - run.t0) / 1000 << "." << std::setw(3) << std::setfill('0')
    << (op.send_ms - run.t0) % 1000 << "s (" << op.send_ms << ".." << op.reply_ms << ") "
    << op.method << " " << op.target;
  if (!op.body.empty())
    o << " " << (op.body.size() > 240 ? op.body.substr(0, 240) + "..." : op.body);
  o << " -> " << op.status << " " << op.reply << "\n";
  return o.str();
}

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
