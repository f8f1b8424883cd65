#include "cli/format.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <system_error>

namespace overseer::cli {
namespace json = boost::json;

namespace {

const json::object* ObjectAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

std::string StringAt(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

void AddLine(std::string& out, std::string_view key, std::string_view value) {
  std::string k(key);
  k += ':';
  while (k.size() < 14) k += ' ';
  out += k;
  out += value.empty() ? std::string_view("-") : value;
  out += '\n';
}

// "2026-11-25T08:15:50.123Z (3m ago)", or "-".
std::string WhenAt(const json::object& o, std::string_view key, TimeMs now) {
  std::string t = StringAt(o, key);
  if (t.empty()) return "-";
  std::string age = AgeSince(t, now);
  return age == "-" ? t : t + " (" + age + " ago)";
}

// Columns of UTF-8 text on a terminal: every byte but continuation bytes counts one (the
// tree guides are one column each; ids, statuses and names are printable).
size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) == 0x80 ? 0 : 1;
  return n;
}

// "CANCELED (PARENT_CANCELED)": the reason only where it explains an unhappy end.
std::string StatusWithReason(const json::object& job) {
  std::string status = Cell(job, "status");
  const std::string reason = StringAt(job, "status_reason");
  if ((status == "FAILED" || status == "CANCELED") && !reason.empty()) {
    status += " (" + reason + ")";
  }
  return status;
}

struct TreeLine {
  std::string id;  // with its guide
  std::string status;
  std::string name;
};

// Appends `job` (its id behind `lead`) and then its children, whose guides start with
// `indent`. Depth is bounded by the JSON parser's nesting limit.
void CollectTree(const json::object& job, const std::string& lead, const std::string& indent,
                 std::vector<TreeLine>& out) {
  out.push_back({lead + Cell(job, "id"), StatusWithReason(job), Cell(job, "name")});
  const json::value* kids = job.if_contains("children");
  if (kids == nullptr || !kids->is_array()) return;
  std::vector<const json::object*> children;
  for (const json::value& k : kids->as_array()) {
    if (k.is_object()) children.push_back(&k.as_object());
  }
  for (size_t i = 0; i < children.size(); ++i) {
    const bool last = i + 1 == children.size();
    CollectTree(*children[i], indent + (last ? "└─ " : "├─ "), indent + (last ? "   " : "│  "),
                out);
  }
}

}  // namespace

std::string RenderTable(const Row& header, const std::vector<Row>& rows) {
  size_t columns = header.size();
  for (const Row& r : rows) columns = std::max(columns, r.size());
  std::vector<size_t> width(columns, 0);
  auto measure = [&width](const Row& r) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  };
  measure(header);
  for (const Row& r : rows) measure(r);
  std::string out;
  auto emit = [&](const Row& r) {
    std::string line;
    for (size_t i = 0; i < columns; ++i) {
      const std::string cell = i < r.size() ? r[i] : std::string();
      line += cell;
      if (i + 1 < columns) line.append(width[i] - cell.size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  emit(header);
  for (const Row& r : rows) emit(r);
  return out;
}

std::string FormatAge(int64_t ms) {
  const int64_t s = ms < 0 ? 0 : ms / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m";
  if (s < int64_t{48} * 3600) return std::to_string(s / 3600) + "h";
  return std::to_string(s / 86400) + "d";
}

std::string AgeSince(std::string_view rfc3339, TimeMs now) {
  if (rfc3339.empty()) return "-";
  std::optional<TimeMs> t = ParseRfc3339(rfc3339);
  if (!t) return "-";
  return FormatAge(now - *t);
}

std::string FormatElapsed(int64_t ms) {
  if (ms < 0) ms = 0;
  char buf[32];
  if (ms < 60000) {
    std::snprintf(buf, sizeof buf, "%lld.%llds", static_cast<long long>(ms / 1000),
                  static_cast<long long>((ms % 1000) / 100));
  } else {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60000),
                  static_cast<long long>((ms / 1000) % 60));
  }
  return buf;
}

std::string Cell(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return "-";
  if (v->is_string()) return v->as_string().empty() ? "-" : std::string(v->as_string());
  if (v->is_double()) {
    // Amounts (USD to the micro-dollar) as people write them: 5.0415, not 5.0415E0.
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6f", v->as_double());
    std::string out = buf;
    while (!out.empty() && out.back() == '0') out.pop_back();
    if (!out.empty() && out.back() == '.') out.pop_back();
    return out == "-0" ? "0" : out;
  }
  return json::serialize(*v);
}

Row WorkerHeader() { return {"ID", "JOB", "STATUS", "PID", "EXIT", "ATTEMPT", "AGE"}; }

Row WorkerRow(const json::object& w, TimeMs now) {
  std::string exit = Cell(w, "exit_code");
  if (exit == "-") {
    const json::value* sig = w.if_contains("exit_signal");
    if (sig != nullptr && !sig->is_null()) exit = "sig" + json::serialize(*sig);
  }
  return {Cell(w, "id"),
          Cell(w, "job_id"),
          Cell(w, "status"),
          Cell(w, "pid"),
          exit,
          Cell(w, "attempt"),
          AgeSince(StringAt(w, "created_at"), now)};
}

Row JobHeader() { return {"ID", "NAME", "STATUS", "DEPTH", "WORKERS", "AGE"}; }

Row JobRow(const json::object& j, TimeMs now) {
  return {Cell(j, "id"),    Cell(j, "name"),         Cell(j, "status"),
          Cell(j, "depth"), Cell(j, "worker_count"), AgeSince(StringAt(j, "created_at"), now)};
}

std::string FormatWorkerDetail(const json::object& w, TimeMs now) {
  std::string out;
  AddLine(out, "ID", Cell(w, "id"));
  AddLine(out, "Job", Cell(w, "job_id"));
  std::string status = Cell(w, "status");
  std::string reason = StringAt(w, "status_reason");
  if (!reason.empty()) status += " (" + reason + ")";
  AddLine(out, "Status", status);
  AddLine(out, "PID", Cell(w, "pid"));
  AddLine(out, "Exit code", Cell(w, "exit_code"));
  AddLine(out, "Exit signal", Cell(w, "exit_signal"));
  AddLine(out, "Attempt", Cell(w, "attempt"));
  AddLine(out, "Created", WhenAt(w, "created_at", now));
  AddLine(out, "Started", WhenAt(w, "started_at", now));
  AddLine(out, "Ended", WhenAt(w, "ended_at", now));
  if (const json::object* u = ObjectAt(w, "usage")) {
    char buf[128];
    const json::value* cpu = u->if_contains("cpu_seconds");
    const double cpu_s = cpu != nullptr && cpu->is_number() ? cpu->to_number<double>() : 0.0;
    const json::value* rss = u->if_contains("rss_bytes");
    const double rss_mb =
        rss != nullptr && rss->is_number() ? rss->to_number<double>() / (1024.0 * 1024.0) : 0.0;
    std::snprintf(buf, sizeof buf, "cpu %.2fs, rss %.1f MiB, %s processes", cpu_s, rss_mb,
                  Cell(*u, "processes").c_str());
    AddLine(out, "Usage", buf);
  }
  const json::value* meta = w.if_contains("metadata");
  if (meta != nullptr && meta->is_object() && !meta->as_object().empty()) {
    AddLine(out, "Metadata", json::serialize(*meta));
  }
  const json::value* tr = w.if_contains("transitions");
  if (tr != nullptr && tr->is_array() && !tr->as_array().empty()) {
    out += "\nTransitions:\n";
    std::vector<Row> rows;
    for (const json::value& t : tr->as_array()) {
      if (!t.is_object()) continue;
      const json::object& o = t.as_object();
      rows.push_back(
          {Cell(o, "from_state"), Cell(o, "to_state"), Cell(o, "reason"), Cell(o, "timestamp")});
    }
    out += RenderTable({"FROM", "TO", "REASON", "TIME"}, rows);
  }
  return out;
}

namespace {

// "halted: freeze by alice at 2026-...Z (why)" or "not halted".
std::string HaltText(const json::value* halted) {
  if (halted == nullptr || !halted->is_object()) return "not halted";
  const json::object& h = halted->as_object();
  std::string out = "halted: " + Cell(h, "mode") + " by " + Cell(h, "by") + " at " + Cell(h, "at");
  if (Cell(h, "scope") == "workspace") out += " (with the workspace)";
  return out + ": " + Cell(h, "reason");
}

// "usd 5 · tokens - · children 3 · descendants 10 · on exhausted: pause".
std::string BudgetText(const json::object& b) {
  std::string out = "usd " + Cell(b, "usd") + " · tokens " + Cell(b, "tokens");
  if (Cell(b, "max_children") != "-") out += " · max children " + Cell(b, "max_children");
  if (Cell(b, "max_descendants") != "-") {
    out += " · max descendants " + Cell(b, "max_descendants");
  }
  return out + " · when spent: " + Cell(b, "on_exhausted");
}

}  // namespace

std::string FormatJobDetail(const json::object& j, TimeMs now) {
  std::string out;
  AddLine(out, "ID", Cell(j, "id"));
  AddLine(out, "Name", Cell(j, "name"));
  std::string status = Cell(j, "status");
  std::string reason = StringAt(j, "status_reason");
  if (!reason.empty()) status += " (" + reason + ")";
  AddLine(out, "Status", status);
  AddLine(out, "Depth", Cell(j, "depth"));
  AddLine(out, "Parent", Cell(j, "parent_job_id"));
  AddLine(out, "Workers", Cell(j, "worker_count"));
  if (ObjectAt(j, "halted") != nullptr) AddLine(out, "Halted", HaltText(j.if_contains("halted")));
  if (const json::object* b = ObjectAt(j, "budget")) AddLine(out, "Budget", BudgetText(*b));
  if (const json::object* u = ObjectAt(j, "usage")) {
    AddLine(out, "Usage",
            "usd " + Cell(*u, "usd") + " · tokens " + Cell(*u, "tokens") + " · jobs below " +
                Cell(*u, "descendants"));
  }
  if (const json::object* l = ObjectAt(j, "budget_left")) {
    AddLine(out, "Budget left", "usd " + Cell(*l, "usd") + " · tokens " + Cell(*l, "tokens"));
  }
  if (const json::object* task = ObjectAt(j, "task")) {
    const json::value* cmd = task->if_contains("command");
    if (cmd != nullptr && cmd->is_array()) {
      std::string text;
      for (const json::value& a : cmd->as_array()) {
        if (!text.empty()) text += ' ';
        text += a.is_string() ? std::string(a.as_string()) : json::serialize(a);
      }
      AddLine(out, "Command", text);
    }
    if (task->contains("cwd")) AddLine(out, "Cwd", Cell(*task, "cwd"));
  }
  AddLine(out, "Timeout",
          Cell(j, "timeout_seconds") == "-" ? "-" : Cell(j, "timeout_seconds") + "s");
  if (const json::object* retry = ObjectAt(j, "retry")) {
    AddLine(out, "Max attempts", Cell(*retry, "max_attempts"));
  }
  AddLine(out, "Created", WhenAt(j, "created_at", now));
  AddLine(out, "Started", WhenAt(j, "started_at", now));
  AddLine(out, "Completed", WhenAt(j, "completed_at", now));
  const json::value* meta = j.if_contains("metadata");
  if (meta != nullptr && meta->is_object() && !meta->as_object().empty()) {
    AddLine(out, "Metadata", json::serialize(*meta));
  }
  const json::value* result = j.if_contains("result");
  if (result != nullptr && !result->is_null()) AddLine(out, "Result", json::serialize(*result));
  const json::value* kids = j.if_contains("children");
  if (kids != nullptr && kids->is_array() && !kids->as_array().empty()) {
    std::string text;
    for (const json::value& k : kids->as_array()) {
      if (!text.empty()) text += ", ";
      text += k.is_string() ? std::string(k.as_string()) : json::serialize(k);
    }
    AddLine(out, "Children", text);
  }
  const json::value* workers = j.if_contains("workers");
  if (workers != nullptr && workers->is_array()) {
    out += "\nWorkers:\n";
    std::vector<Row> rows;
    for (const json::value& w : workers->as_array()) {
      if (w.is_object()) rows.push_back(WorkerRow(w.as_object(), now));
    }
    out += RenderTable(WorkerHeader(), rows);
  }
  return out;
}

WorkerCounts CountWorkers(const json::object& job) {
  WorkerCounts c;
  const json::value* workers = job.if_contains("workers");
  if (workers == nullptr || !workers->is_array()) return c;
  for (const json::value& w : workers->as_array()) {
    if (!w.is_object()) continue;
    const std::string s = StringAt(w.as_object(), "status");
    if (s == "COMPLETED") {
      ++c.completed;
    } else if (s == "FAILED" || s == "TERMINATED") {
      ++c.failed;
    } else {
      ++c.running;
    }
  }
  return c;
}

std::string WaitStatusLine(const json::object& job, int64_t elapsed_ms) {
  const WorkerCounts c = CountWorkers(job);
  return Cell(job, "id") + " " + Cell(job, "status") + "  workers: " + std::to_string(c.running) +
         " running, " + std::to_string(c.completed) + " completed, " + std::to_string(c.failed) +
         " failed  elapsed " + FormatElapsed(elapsed_ms);
}

std::string FormatJobTree(const json::object& root) {
  std::vector<TreeLine> lines;
  CollectTree(root, "", "", lines);
  size_t id_width = 0;
  size_t status_width = 0;
  for (const TreeLine& l : lines) {
    id_width = std::max(id_width, DisplayWidth(l.id));
    status_width = std::max(status_width, l.status.size());
  }
  std::string out;
  for (const TreeLine& l : lines) {
    out += l.id;
    out.append(id_width - DisplayWidth(l.id) + 2, ' ');
    out += l.status;
    out.append(status_width - l.status.size() + 2, ' ');
    out += l.name;
    out += '\n';
  }
  const json::value* truncated = root.if_contains("truncated");
  if (truncated != nullptr && truncated->is_bool() && truncated->as_bool()) {
    out += "(truncated: the deepest jobs are left out)\n";
  }
  return out;
}

std::string FormatQuotas(const json::object& quotas) {
  std::vector<Row> rows;
  const json::value* list = quotas.if_contains("quotas");
  if (list != nullptr && list->is_array()) {
    for (const json::value& v : list->as_array()) {
      if (!v.is_object()) continue;
      const json::object& q = v.as_object();
      rows.push_back(
          {Cell(q, "depth"), Cell(q, "max_workers"), Cell(q, "used"), Cell(q, "available")});
    }
  }
  return RenderTable({"DEPTH", "MAX_WORKERS", "USED", "AVAILABLE"}, rows);
}

std::string FormatUsage(const json::object& usage) {
  auto flag = [](const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_bool() && v->as_bool();
  };
  std::vector<Row> rows;
  const json::value* list = usage.if_contains("usage");
  if (list != nullptr && list->is_array()) {
    for (const json::value& v : list->as_array()) {
      if (!v.is_object()) continue;
      const json::object& u = v.as_object();
      const char* warn = flag(u, "warn_90") ? "90%" : flag(u, "warn_80") ? "80%" : "-";
      rows.push_back(
          {Cell(u, "depth"), Cell(u, "quota"), Cell(u, "used"), Cell(u, "available"), warn});
    }
  }
  return RenderTable({"DEPTH", "QUOTA", "USED", "AVAILABLE", "WARN"}, rows) +
         "total used: " + Cell(usage, "total_used") + "\n";
}

std::string FormatJobHalt(const json::object& job) {
  return Cell(job, "id") + " " + Cell(job, "status") + "  " + HaltText(job.if_contains("halted")) +
         "\n";
}

std::string FormatWorkspaceHalt(const json::object& view) {
  std::string out =
      "workspace " + Cell(view, "workspace_id") + " " + HaltText(view.if_contains("halted")) + "\n";
  const json::value* ids = view.if_contains("job_ids");
  if (ids != nullptr && ids->is_array() && !ids->as_array().empty()) {
    std::string list;
    for (const json::value& v : ids->as_array()) {
      if (!v.is_string()) continue;
      list += (list.empty() ? "" : ", ") + std::string(v.as_string());
    }
    out += "root jobs: " + list + "\n";
  }
  return out;
}

bool IsTerminalJobStatus(std::string_view status) {
  return status == "COMPLETED" || status == "FAILED" || status == "CANCELED";
}

std::string ErrorLine(unsigned http_status, std::string_view body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  if (!ec && v.is_object()) {
    if (const json::object* err = ObjectAt(v.as_object(), "error")) {
      std::string code = StringAt(*err, "code");
      std::string message = StringAt(*err, "message");
      if (!code.empty()) {
        // One line, whatever the server put in the message.
        for (char& ch : message) {
          if (ch == '\n' || ch == '\r') ch = ' ';
        }
        return "overseer: " + code + ": " + (message.empty() ? "(no message)" : message);
      }
    }
  }
  std::string first(body.substr(0, body.find_first_of("\r\n")));
  if (first.size() > 200) first.resize(200);
  std::string line = "overseer: HTTP " + std::to_string(http_status);
  if (!first.empty()) line += ": " + first;
  return line;
}

std::string ErrorLine(const Error& error) { return "overseer: " + error.message; }

Result<std::pair<std::string, std::string>> ParseEnvAssignment(std::string_view text) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "--env expects KEY=VALUE (got '" + std::string(text.substr(0, 64)) + "')");
  }
  return std::make_pair(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
}

Result<std::pair<int, int>> ParseQuotaAssignment(std::string_view text) {
  auto whole = [](std::string_view digits, int& out) {
    if (digits.empty()) return false;
    for (char c : digits) {
      if (c < '0' || c > '9') return false;
    }
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return ec == std::errc() && end == digits.data() + digits.size();
  };
  const size_t eq = text.find('=');
  std::pair<int, int> out;
  if (eq == std::string_view::npos || !whole(text.substr(0, eq), out.first) ||
      !whole(text.substr(eq + 1), out.second)) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "quotas set expects DEPTH=MAX_WORKERS with whole numbers, e.g. 0=2 (got '" +
                         std::string(text.substr(0, 64)) + "')");
  }
  return out;
}

namespace {

// `text` after `prefix`, its further lines indented by `indent`, ending in a newline.
std::string Block(std::string_view prefix, std::string_view text, std::string_view indent) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  std::string out(prefix);
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += '\n';
      out += indent;
    } else if ((u < 0x20 && c != '\t') || u == 0x7f) {
      out += '?';
    } else {
      out += c;
    }
  }
  out += '\n';
  return out;
}

}  // namespace

std::string FormatTranscript(const json::object& transcript) {
  std::string out;
  const json::value* entries = transcript.if_contains("entries");
  if (entries == nullptr || !entries->is_array()) return out;
  for (const json::value& v : entries->as_array()) {
    const json::object* e = v.if_object();
    if (e == nullptr) continue;
    const json::value* kind_v = e->if_contains("kind");
    const std::string_view kind =
        kind_v != nullptr && kind_v->is_string() ? std::string_view(kind_v->as_string()) : "";
    const json::value* text_v = e->if_contains("text");
    const std::string_view text =
        text_v != nullptr && text_v->is_string() ? std::string_view(text_v->as_string()) : "";
    const json::value* err = e->if_contains("is_error");
    const bool is_error = err != nullptr && err->is_bool() && err->as_bool();
    if (kind == "tool_call") {
      const json::value* input = e->if_contains("input");
      std::string shown;
      if (input != nullptr && input->is_string()) {
        shown = std::string(input->as_string());
      } else if (input != nullptr) {
        shown = json::serialize(*input);
      }
      out += Block("→ ", Cell(*e, "tool") + (shown.empty() ? "" : " " + shown), "  ");
    } else if (kind == "tool_result") {
      out += Block(is_error ? "← (error) " : "← ", text.empty() ? "(no output)" : text, "  ");
    } else if (kind == "result") {
      std::string prefix = is_error ? "result (error)" : "result";
      out += Block(text.empty() ? prefix : prefix + ": ", text, "  ");
    } else {
      out += Block(is_error ? "error: " : "", text, is_error ? "  " : "");
    }
  }
  return out;
}

}  // namespace overseer::cli
