// The randomized load of the invariant test (invariant_test.cc): the clients that send random
// operations of every kind into one workspace, what they share (LoadRun: the pools of ids, the
// log of every request and answer, the restart gate), and the harness's own logged requests.
// Test-only, included by invariant_test.cc alone.
#pragma once

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

namespace overseer::it::invariant_load {

namespace json = boost::json;
namespace fs = std::filesystem;
using invariant::QuotaChange;
using invariant::QuotaTimeline;
using invariant::Violation;

inline int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe)
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

// Ids ([jwa]_ + [0-9a-z]) mentioned in `text`.
inline void CollectIds(const std::string& text, std::vector<std::string>* out) {
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

inline Reply HarnessCall(LoadRun& run, Api& api, const std::string& method,
                         const std::string& target, const std::string& body = "") {
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
inline std::vector<std::string> ListIds(LoadRun& run, Api& api, const std::string& path,
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

inline bool Enabled(const std::string& check) {
  const char* only = std::getenv("OVERSEER_INVARIANT_ONLY");  // NOLINT(concurrency-mt-unsafe)
  if (only == nullptr || *only == '\0') return true;
  std::stringstream ss(only);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == check) return true;
  }
  return false;
}

inline std::string FormatOp(const LoadRun& run, const OpRecord& op) {
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

}  // namespace overseer::it::invariant_load
