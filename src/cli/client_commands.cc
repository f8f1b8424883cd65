#include "cli/client_commands.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/client_util.h"
#include "cli/format.h"
#include "cli/http_client.h"
#include "common/time.h"

namespace overseer::cli {
namespace json = boost::json;

namespace {

constexpr const char* kDefaultUrl = "http://127.0.0.1:8080";
// How long one GET /api/jobs/{id}/wait may hold: 30 s, or 1 s while a live status line is
// drawn, so its elapsed time and worker counts move.
constexpr int64_t kLongPollSeconds = 30;
constexpr int64_t kLiveRefreshSeconds = 1;

}  // namespace

struct ClientCommands::State {
  // Shared by every leaf command (only one runs).
  std::string url;
  std::string token;
  bool as_json = false;

  // Filters and paging of the ls commands.
  std::string status_filter;
  std::string job_filter;
  int limit = 0;
  bool all = false;

  std::string id;
  int tail = 0;
  int grace = -1;
  bool no_wait = false;
  double wait_timeout = 0;

  // jobs submit
  std::string job_name;
  int workers = 0;
  int64_t timeout_seconds = 0;
  int retries = -1;
  std::string cwd;
  std::vector<std::string> env;
  std::string metadata;
  std::string idempotency_key;
  std::string parent_job;
  bool wait = false;
  std::vector<std::string> command;
  // jobs submit / jobs budget: the job's budget (SPEC §11).
  double budget_usd = -1;
  int64_t budget_tokens = -1;
  int64_t max_children = -1;
  int64_t max_descendants = -1;
  std::string on_exhausted;
  bool budget_none = false;

  // The budget the options above give, or nullopt when none was given.
  std::optional<json::object> BudgetOptions() const {
    json::object b;
    if (budget_usd >= 0) b["usd"] = budget_usd;
    if (budget_tokens >= 0) b["tokens"] = budget_tokens;
    if (max_children >= 0) b["max_children"] = max_children;
    if (max_descendants >= 0) b["max_descendants"] = max_descendants;
    if (!on_exhausted.empty()) b["on_exhausted"] = on_exhausted;
    if (b.empty()) return std::nullopt;
    return b;
  }
  void AddBudgetOptions(CLI::App* c) {
    c->add_option("--budget-usd", budget_usd, "budget of the job's subtree in USD")
        ->check(CLI::NonNegativeNumber);
    c->add_option("--budget-tokens", budget_tokens, "budget of the job's subtree in tokens")
        ->check(CLI::NonNegativeNumber);
    c->add_option("--max-children", max_children, "at most this many jobs directly below it")
        ->check(CLI::NonNegativeNumber);
    c->add_option("--max-descendants", max_descendants, "at most this many jobs below it")
        ->check(CLI::NonNegativeNumber);
    c->add_option("--on-exhausted", on_exhausted,
                  "when the budget is spent: pause (default) or terminate the subtree")
        ->check(CLI::IsMember({"pause", "terminate"}));
  }

  // quotas set: DEPTH=N arguments.
  std::vector<std::string> quota_args;

  // halt / unhalt
  std::string halt_mode;
  std::string halt_reason;
  bool halt_all = false;

  CLI::App* workers_cmd = nullptr;
  CLI::App* jobs_cmd = nullptr;
  CLI::App* quotas_cmd = nullptr;
  CLI::App* halt_cmd = nullptr;
  CLI::App* unhalt_cmd = nullptr;
  // Commands that run, in the order Run() tries them: the first one parsed wins, so a group
  // that also runs alone (`quotas`) comes after its subcommands.
  std::vector<std::pair<CLI::App*, std::function<int(HttpClient&)>>> leaves;

  // Makes `cmd` a command that runs `run`, with the options every client command has.
  void AddRunnable(CLI::App* cmd, std::function<int(HttpClient&)> run) {
    cmd->add_option("--url", url, "daemon URL (OVERSEER_URL; default http://127.0.0.1:8080)");
    cmd->add_option("--token", token, "bearer token (OVERSEER_TOKEN)");
    cmd->add_flag("--json", as_json, "print the daemon's JSON instead of a table");
    leaves.emplace_back(cmd, std::move(run));
  }

  CLI::App* Leaf(CLI::App* parent, const std::string& cmd_name, const std::string& help,
                 std::function<int(HttpClient&)> run) {
    CLI::App* cmd = parent->add_subcommand(cmd_name, help);
    AddRunnable(cmd, std::move(run));
    return cmd;
  }

  // GET of `target`, printed as its JSON with --json, else as `human(body)`.
  int GetAndShow(HttpClient& client, const std::string& target,
                 const std::function<std::string(const json::object&)>& human) const {
    std::optional<HttpResult> r = Call(client, "GET", target);
    if (!r) return 1;
    return Show(*r, human);
  }

  // quotas set: checks every DEPTH=N first (a usage error names the first bad one), then one
  // PUT /api/resources/quotas; prints the quotas as they now are.
  int SetQuotas(HttpClient& client) const {
    json::array rows;
    for (const std::string& arg : quota_args) {
      Result<std::pair<int, int>> q = ParseQuotaAssignment(arg);
      if (!q) return UsageError(q.error().message);
      rows.push_back(json::object{{"depth", q->first}, {"max_workers", q->second}});
    }
    std::optional<HttpResult> r = Call(client, "PUT", "/api/resources/quotas",
                                       json::serialize(json::object{{"quotas", std::move(rows)}}));
    if (!r) return 1;
    return Show(*r, FormatQuotas);
  }

  // halt JOB_ID | --all: POST /api/jobs/{id}/halt or /api/halt; prints what is halted now.
  int Halt(HttpClient& client) const {
    if (halt_all == !id.empty()) return UsageError("name a job id, or --all for the workspace");
    json::object body{{"reason", halt_reason}};
    if (!halt_mode.empty()) body["mode"] = halt_mode;
    if (grace >= 0) body["grace_seconds"] = grace;
    const std::string target = halt_all ? "/api/halt" : "/api/jobs/" + Escape(id) + "/halt";
    std::optional<HttpResult> r = Call(client, "POST", target, json::serialize(body));
    if (!r) return 1;
    return Show(*r, halt_all ? FormatWorkspaceHalt : FormatJobHalt);
  }

  // unhalt JOB_ID | --all.
  int Unhalt(HttpClient& client) const {
    if (halt_all == !id.empty()) return UsageError("name a job id, or --all for the workspace");
    const std::string target = halt_all ? "/api/unhalt" : "/api/jobs/" + Escape(id) + "/unhalt";
    std::optional<HttpResult> r = Call(client, "POST", target, "{}");
    if (!r) return 1;
    return Show(*r, halt_all ? FormatWorkspaceHalt : FormatJobHalt);
  }

  // GETs every page (with --all) of `path`, whose list is under `plural`; prints a table or
  // the JSON. Exit status.
  int List(HttpClient& client, const std::string& path, const std::string& plural,
           const std::vector<std::pair<std::string, std::string>>& filters) {
    std::string query;
    for (const auto& [k, v] : filters) {
      if (v.empty()) continue;
      query += (query.empty() ? "?" : "&") + k + "=" + Escape(v);
    }
    if (limit > 0)
      query += (query.empty() ? "?" : "&") + std::string("limit=") + std::to_string(limit);
    json::array items;
    json::value next = nullptr;
    std::string first_body;
    for (int page = 0;; ++page) {
      std::string target = path + query;
      if (next.is_string()) {
        target += (query.empty() ? "?" : "&") + std::string("cursor=") + Escape(next.as_string());
      }
      std::optional<HttpResult> r = Call(client, "GET", target);
      if (!r) return 1;
      std::optional<json::object> body = ParseBody(*r);
      if (!body) return 1;
      if (page == 0) first_body = r->body;
      const json::value* list = body->if_contains(plural);
      if (list != nullptr && list->is_array()) {
        for (const json::value& v : list->as_array()) items.push_back(v);
      }
      const json::value* cursor = body->if_contains("next_cursor");
      next = cursor != nullptr ? *cursor : json::value(nullptr);
      if (!all || !next.is_string() || next.as_string().empty()) break;
    }
    if (as_json) {
      if (!all) {
        PrintOut(first_body + (first_body.empty() || first_body.back() != '\n' ? "\n" : ""));
      } else {
        PrintOut(
            json::serialize(json::object{{plural, std::move(items)}, {"next_cursor", nullptr}}) +
            "\n");
      }
      return 0;
    }
    const TimeMs now = Now();
    std::vector<Row> rows;
    for (const json::value& v : items) {
      if (!v.is_object()) continue;
      rows.push_back(plural == "workers" ? WorkerRow(v.as_object(), now)
                                         : JobRow(v.as_object(), now));
    }
    PrintOut(RenderTable(plural == "workers" ? WorkerHeader() : JobHeader(), rows));
    if (next.is_string() && !next.as_string().empty()) {
      std::fprintf(stderr, "(more %s: use --all or a larger --limit)\n", plural.c_str());
    }
    return 0;
  }

  // Prints the object: its JSON with --json, else `human(object)`.
  int Show(const HttpResult& r,
           const std::function<std::string(const json::object&)>& human) const {
    std::optional<json::object> o = ParseBody(r);
    if (!o) return 1;
    if (as_json) {
      PrintOut(r.body + (r.body.empty() || r.body.back() != '\n' ? "\n" : ""));
    } else {
      PrintOut(human(*o));
    }
    return 0;
  }

  // Waits with GET /api/jobs/{id}/wait long polls (at most 30 s each, and never past the
  // deadline) until the job is terminal or `timeout_s` (> 0) passes. On a terminal (stderr a
  // tty, no --json) a status line is refreshed from GET /api/jobs/{id}, which lists the
  // workers, between polls of 1 s. Prints the summary, or with --json the job as
  // GET /api/jobs/{id} shows it at the end. 0 COMPLETED, 1 FAILED/CANCELED or a failed call,
  // 3 on timeout.
  int WaitJob(HttpClient& client, const std::string& job_id, double timeout_s) const {
    using std::chrono::duration_cast;
    using std::chrono::milliseconds;
    using std::chrono::steady_clock;
    const bool live = !as_json && isatty(STDERR_FILENO) == 1;
    const bool bounded = timeout_s > 0;
    const auto start = steady_clock::now();
    const auto deadline = start + milliseconds(static_cast<int64_t>(timeout_s * 1000.0));
    const std::string path = "/api/jobs/" + Escape(job_id);
    bool drawn = false;
    auto clear = [&drawn]() {
      if (drawn) std::fputs("\r\033[K", stderr);
      drawn = false;
    };
    // One GET; on failure clears the status line, prints the error line and returns nullopt.
    auto get = [&](const std::string& target, json::object& object) -> std::optional<HttpResult> {
      Result<HttpResult> r = client.Send("GET", target);
      if (!r || r->status < 200 || r->status >= 300) {
        clear();
        PrintError(!r ? ErrorLine(r.error()) : ErrorLine(r->status, r->body));
        return std::nullopt;
      }
      boost::system::error_code ec;
      json::value v = json::parse(r->body, ec);
      if (ec || !v.is_object()) {
        clear();
        (void)ParseBody(*r);  // prints why
        return std::nullopt;
      }
      object = std::move(v.as_object());
      return std::move(*r);
    };
    for (;;) {
      if (live) {
        json::object view;
        if (!get(path, view)) return 1;
        const int64_t elapsed = duration_cast<milliseconds>(steady_clock::now() - start).count();
        std::fprintf(stderr, "\r\033[K%s", WaitStatusLine(view, elapsed).c_str());
        std::fflush(stderr);
        drawn = true;
      }
      int64_t hold = live ? kLiveRefreshSeconds : kLongPollSeconds;
      if (bounded) {
        const int64_t left_ms = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
        hold = std::min(hold, std::max<int64_t>(left_ms, 0) / 1000);
        // The daemon holds whole seconds: the last fraction of a second is slept here.
        if (hold == 0 && left_ms > 0) std::this_thread::sleep_for(milliseconds(left_ms));
      }
      json::object job;
      std::optional<HttpResult> r =
          get(path + "/wait?timeout_seconds=" + std::to_string(hold), job);
      if (!r) return 1;
      const auto now = steady_clock::now();
      if (!IsTerminalJobStatus(StatusOf(job)) && !(bounded && now >= deadline)) continue;
      clear();
      if (as_json) {
        // The full job, with its workers and children, as `jobs show --json` prints it.
        r = get(path, job);
        if (!r) return 1;
        PrintOut(r->body + (r->body.empty() || r->body.back() != '\n' ? "\n" : ""));
      }
      const std::string job_status = StatusOf(job);
      if (!IsTerminalJobStatus(job_status)) {
        std::fprintf(stderr, "overseer: TIMEOUT: job %s is still %s after %s\n", job_id.c_str(),
                     job_status.c_str(),
                     FormatElapsed(duration_cast<milliseconds>(now - start).count()).c_str());
        return 3;
      }
      if (!as_json) PrintOut(Summary(job));
      return job_status == "COMPLETED" ? 0 : 1;
    }
  }

  int Submit(HttpClient& client) {
    json::object task{{"runtime", "command"}};
    json::array argv;
    for (const std::string& a : command) argv.emplace_back(a);
    task["command"] = std::move(argv);
    if (!cwd.empty()) {
      std::error_code ec;
      std::filesystem::path p = std::filesystem::absolute(cwd, ec);
      task["cwd"] = ec ? cwd : p.lexically_normal().string();
    }
    if (!env.empty()) {
      json::object e;
      for (const std::string& kv : env) {
        auto parsed = ParseEnvAssignment(kv);
        if (!parsed) return UsageError(parsed.error().message);
        e[parsed->first] = parsed->second;
      }
      task["env"] = std::move(e);
    }
    json::object body{{"task", std::move(task)}};
    if (!job_name.empty()) body["name"] = job_name;
    if (!parent_job.empty()) body["parent_job_id"] = parent_job;
    if (workers > 0) body["worker_count"] = workers;
    if (timeout_seconds > 0) body["timeout_seconds"] = timeout_seconds;
    if (retries >= 0) body["retry"] = json::object{{"max_attempts", retries + 1}};
    if (std::optional<json::object> b = BudgetOptions()) body["budget"] = std::move(*b);
    if (!metadata.empty()) {
      boost::system::error_code ec;
      json::value m = json::parse(metadata, ec);
      if (ec || !m.is_object()) return UsageError("--metadata expects a JSON object");
      body["metadata"] = std::move(m);
    }
    std::vector<std::pair<std::string, std::string>> headers;
    if (!idempotency_key.empty()) headers.emplace_back("Idempotency-Key", idempotency_key);
    std::optional<HttpResult> r = Call(client, "POST", "/api/jobs", json::serialize(body), headers);
    if (!r) return 1;
    std::optional<json::object> view = ParseBody(*r);
    if (!view) return 1;
    const std::string job_id = Cell(*view, "id");
    if (!wait) {
      if (as_json) {
        PrintOut(r->body + (r->body.empty() || r->body.back() != '\n' ? "\n" : ""));
      } else {
        PrintOut(job_id + "\n");
      }
      return 0;
    }
    if (!as_json) PrintOut(job_id + "\n");
    return WaitJob(client, job_id, 0);
  }

  void Build(CLI::App& app) {
    workers_cmd = app.add_subcommand("workers", "list and control workers of a running daemon");
    workers_cmd->require_subcommand(1);
    CLI::App* c = Leaf(workers_cmd, "ls", "list workers", [this](HttpClient& h) {
      return List(h, "/api/supervisor/workers", "workers",
                  {{"status", Upper(status_filter)}, {"job_id", job_filter}});
    });
    c->add_option("--status", status_filter,
                  "IDLE|RUNNING|PAUSED|COMPLETED|FAILED|RETRYING|TERMINATED");
    c->add_option("--job", job_filter, "only the workers of this job");
    c->add_option("--limit", limit, "page size (server default 100, max 1000)")
        ->check(CLI::Range(1, 1000));
    c->add_flag("--all", all, "follow next_cursor to list every page");

    c = Leaf(
        workers_cmd, "show", "show a worker with its transitions and usage", [this](HttpClient& h) {
          std::optional<HttpResult> r = Call(h, "GET", "/api/supervisor/workers/" + Escape(id));
          if (!r) return 1;
          return Show(*r, [](const json::object& o) { return FormatWorkerDetail(o, Now()); });
        });
    c->add_option("id", id, "worker id (w_...)")->required();

    for (const char* action : {"pause", "resume"}) {
      const std::string act(action);
      c = Leaf(workers_cmd, act,
               act == "pause" ? "pause a worker (SIGSTOP to its process group)"
                              : "resume a paused worker (SIGCONT)",
               [this, act](HttpClient& h) {
                 std::optional<HttpResult> r =
                     Call(h, "POST", "/api/supervisor/workers/" + Escape(id) + "/" + act);
                 if (!r) return 1;
                 return Show(*r, Summary);
               });
      c->add_option("id", id, "worker id (w_...)")->required();
    }

    c = Leaf(workers_cmd, "terminate", "terminate a worker (SIGTERM, then SIGKILL after the grace)",
             [this](HttpClient& h) {
               json::object body;
               if (grace >= 0) body["grace_seconds"] = grace;
               if (no_wait) body["wait"] = false;
               std::optional<HttpResult> r =
                   Call(h, "POST", "/api/supervisor/workers/" + Escape(id) + "/terminate",
                        json::serialize(body));
               if (!r) return 1;
               return Show(*r, Summary);
             });
    c->add_option("id", id, "worker id (w_...)")->required();
    c->add_option("--grace", grace, "seconds between SIGTERM and SIGKILL (0..300; default 5)")
        ->check(CLI::Range(0, 300));
    c->add_flag("--no-wait", no_wait, "answer at once instead of when the process group is gone");

    c = Leaf(workers_cmd, "logs", "print a worker's captured stdout and stderr",
             [this](HttpClient& h) {
               std::string target = "/api/supervisor/workers/" + Escape(id) + "/logs";
               if (tail > 0) target += "?tail=" + std::to_string(tail);
               std::optional<HttpResult> r = Call(h, "GET", target);
               if (!r) return 1;
               PrintOut(r->body);
               return 0;
             });
    c->add_option("id", id, "worker id (w_...)")->required();
    c->add_option("--tail", tail, "last N lines (default 100, max 10000)")
        ->check(CLI::Range(1, 10000));

    c = Leaf(workers_cmd, "transcript",
             "print what a worker did: agent text, tool calls and results, the result",
             [this](HttpClient& h) {
               std::string target = "/api/supervisor/workers/" + Escape(id) + "/transcript";
               if (tail > 0) target += "?tail=" + std::to_string(tail);
               return GetAndShow(h, target, FormatTranscript);
             });
    c->add_option("id", id, "worker id (w_...)")->required();
    c->add_option("--tail", tail, "last N entries (default 100, max 1000)")
        ->check(CLI::Range(1, 1000));

    jobs_cmd = app.add_subcommand(
        "jobs",
        "submit, list, show, wait for and cancel jobs (and their trees) of a running daemon");
    jobs_cmd->require_subcommand(1);
    c = Leaf(jobs_cmd, "submit",
             "submit a job running a command: overseer jobs submit -- cmd args...",
             [this](HttpClient& h) { return Submit(h); });
    c->add_option("--name", job_name, "job name (default: the program's name)");
    c->add_option("--workers", workers, "number of workers (default 1)")->check(CLI::Range(1, 100));
    c->add_option("--timeout", timeout_seconds, "seconds an attempt may run before it fails")
        ->check(CLI::PositiveNumber);
    c->add_option("--retries", retries, "retries after a failed attempt (max_attempts = R + 1)")
        ->check(CLI::Range(0, 99));
    c->add_option("--cwd", cwd, "working directory of the command");
    c->add_option("--env", env, "environment variable KEY=VALUE (repeatable)")
        ->type_size(1)
        ->expected(1)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
    c->add_option("--metadata", metadata, "JSON object stored with the job");
    c->add_option("--idempotency-key", idempotency_key, "Idempotency-Key of the request");
    c->add_option("--parent", parent_job, "parent job id (j_...): the new job is its child");
    AddBudgetOptions(c);
    c->add_flag("--wait", wait, "wait until the job ends: exit 0 if COMPLETED, 1 otherwise");
    c->add_option("command", command, "the command and its arguments (after --)")->required();

    c = Leaf(jobs_cmd, "ls", "list jobs", [this](HttpClient& h) {
      return List(h, "/api/jobs", "jobs", {{"status", Upper(status_filter)}});
    });
    c->add_option("--status", status_filter, "PENDING|RUNNING|COMPLETED|FAILED|CANCELED");
    c->add_option("--limit", limit, "page size (server default 100, max 1000)")
        ->check(CLI::Range(1, 1000));
    c->add_flag("--all", all, "follow next_cursor to list every page");

    c = Leaf(jobs_cmd, "show", "show a job and its workers", [this](HttpClient& h) {
      std::optional<HttpResult> r = Call(h, "GET", "/api/jobs/" + Escape(id));
      if (!r) return 1;
      return Show(*r, [](const json::object& o) { return FormatJobDetail(o, Now()); });
    });
    c->add_option("id", id, "job id (j_...)")->required();

    c = Leaf(jobs_cmd, "budget",
             "set a job's budget (replaces it whole; a spent subtree resumes once it fits)",
             [this](HttpClient& h) {
               std::optional<json::object> b = BudgetOptions();
               if (!b && !budget_none) {
                 return UsageError(
                     "give the new budget (--budget-usd, --budget-tokens, ...) or "
                     "--none to remove it");
               }
               json::object body;
               body["budget"] = b ? json::value(std::move(*b)) : json::value(nullptr);
               std::optional<HttpResult> r =
                   Call(h, "PATCH", "/api/jobs/" + Escape(id), json::serialize(body));
               if (!r) return 1;
               return Show(*r, [](const json::object& o) { return FormatJobDetail(o, Now()); });
             });
    c->add_option("id", id, "job id (j_...)")->required();
    AddBudgetOptions(c);
    c->add_flag("--none", budget_none, "remove the budget (the job shares the one above it)");

    c = Leaf(jobs_cmd, "tree", "show a job and all its descendants as a tree",
             [this](HttpClient& h) {
               std::optional<HttpResult> r = Call(h, "GET", "/api/jobs/" + Escape(id) + "/tree");
               if (!r) return 1;
               return Show(*r, FormatJobTree);
             });
    c->add_option("id", id, "job id (j_...)")->required();

    c = Leaf(jobs_cmd, "wait",
             "wait until a job ends: exit 0 COMPLETED, 1 FAILED/CANCELED, 3 timeout",
             [this](HttpClient& h) { return WaitJob(h, id, wait_timeout); });
    c->add_option("id", id, "job id (j_...)")->required();
    c->add_option("--timeout", wait_timeout, "give up after S seconds (default: wait forever)")
        ->check(CLI::PositiveNumber);

    c = Leaf(jobs_cmd, "cancel",
             "cancel a job and every active job below it (SIGTERM to their workers, then SIGKILL "
             "after the grace)",
             [this](HttpClient& h) {
               json::object body;
               if (grace >= 0) body["grace_seconds"] = grace;
               if (no_wait) body["wait"] = false;
               std::optional<HttpResult> r =
                   Call(h, "POST", "/api/jobs/" + Escape(id) + "/cancel", json::serialize(body));
               if (!r) return 1;
               return Show(*r, Summary);
             });
    c->add_option("id", id, "job id (j_...)")->required();
    c->add_option("--grace", grace, "seconds between SIGTERM and SIGKILL (0..300; default 5)")
        ->check(CLI::Range(0, 300));
    c->add_flag("--no-wait", no_wait, "answer at once instead of when every process is gone");

    quotas_cmd = app.add_subcommand(
        "quotas", "show or change the worker slots per depth, and their usage (alone: get)");
    quotas_cmd->require_subcommand(0, 1);
    auto get_quotas = [this](HttpClient& h) {
      return GetAndShow(h, "/api/resources/quotas", FormatQuotas);
    };
    Leaf(quotas_cmd, "get", "show the quota, used and free slots of each depth", get_quotas);
    c = Leaf(quotas_cmd, "set", "change quotas: overseer quotas set 0=2 1=4 (DEPTH=MAX_WORKERS)",
             [this](HttpClient& h) { return SetQuotas(h); });
    c->add_option("quotas", quota_args, "DEPTH=MAX_WORKERS, one or more (e.g. 0=2 1=4)")
        ->type_name("DEPTH=N")
        ->required();
    Leaf(quotas_cmd, "usage", "show the slots in use per depth, warning at 80% and 90%",
         [this](HttpClient& h) { return GetAndShow(h, "/api/resources/usage", FormatUsage); });
    AddRunnable(quotas_cmd, get_quotas);  // plain `overseer quotas`, after its subcommands

    halt_cmd = app.add_subcommand(
        "halt",
        "kill switch: freeze (SIGSTOP) or terminate every process of a job's subtree, or of the "
        "whole workspace with --all (scope supervisor:admin); no new job is accepted there "
        "until `overseer unhalt`");
    AddRunnable(halt_cmd, [this](HttpClient& h) { return Halt(h); });
    halt_cmd->add_option("id", id, "job id (j_...): the job and every job below it");
    halt_cmd->add_flag("--all", halt_all, "halt every root job of the workspace");
    halt_cmd->add_option("--mode", halt_mode, "freeze (default) or terminate")
        ->check(CLI::IsMember({"freeze", "terminate"}));
    halt_cmd->add_option("--reason", halt_reason, "why (kept with the halt and its event)")
        ->required();
    halt_cmd
        ->add_option("--grace", grace,
                     "terminate: seconds between SIGTERM and SIGKILL (0..300; default 5)")
        ->check(CLI::Range(0, 300));

    unhalt_cmd = app.add_subcommand(
        "unhalt", "lift a halt: resume what its freeze paused, accept new jobs again");
    AddRunnable(unhalt_cmd, [this](HttpClient& h) { return Unhalt(h); });
    unhalt_cmd->add_option("id", id, "job id (j_...) the halt was thrown on");
    unhalt_cmd->add_flag("--all", halt_all, "lift the workspace halt (POST /api/unhalt)");
  }
};

ClientCommands::ClientCommands(CLI::App& app) : s_(std::make_unique<State>()) { s_->Build(app); }

ClientCommands::~ClientCommands() = default;

bool ClientCommands::Selected() const {
  return s_->workers_cmd->count() > 0 || s_->jobs_cmd->count() > 0 || s_->quotas_cmd->count() > 0 ||
         s_->halt_cmd->count() > 0 || s_->unhalt_cmd->count() > 0;
}

int ClientCommands::Run() {
  State& s = *s_;
  for (auto& [cmd, run] : s.leaves) {
    if (!cmd->parsed()) continue;
    // Given on this command or on a group above it that has the option too (`quotas --url U
    // get`).
    auto given = [cmd = cmd](const char* name) {
      for (const CLI::App* a = cmd; a != nullptr; a = a->get_parent()) {
        const CLI::Option* o = a->get_option_no_throw(name);
        if (o != nullptr && o->count() > 0) return true;
      }
      return false;
    };
    const bool url_given = given("--url");
    const bool token_given = given("--token");
    if (!url_given) s.url = Env("OVERSEER_URL");
    if (s.url.empty()) s.url = kDefaultUrl;
    if (!token_given) s.token = Env("OVERSEER_TOKEN");
    HttpClient client(s.url);
    if (!s.token.empty()) client.SetToken(s.token);
    return run(client);
  }
  return UsageError("name a command");
}

int ClientCommands::UsageExit(CLI::App& app, const CLI::ParseError& error) const {
  if (error.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(error);
  return UsageError(error.what());
}

}  // namespace overseer::cli
