#include "integration/fixture.h"

#include <cctype>

#include "common/ids.h"

namespace overseer::it {
namespace json = boost::json;

std::string WorkspaceForThisTest() {
  std::string name = "ws-" + RandomHex(4);
  if (const auto* info = ::testing::UnitTest::GetInstance()->current_test_info()) {
    name += "-" + std::string(info->name());
  }
  for (char& c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) c = '_';
  }
  return name.substr(0, 48);  // room for suffixes naming a second workspace
}

json::object CommandJob(const std::vector<std::string>& argv, const json::object& extra) {
  json::array cmd;
  for (const auto& a : argv) cmd.emplace_back(a);
  json::object job{{"name", "it-job"},
                   {"task", json::object{{"runtime", "command"}, {"command", std::move(cmd)}}}};
  for (const auto& kv : extra) {
    if (kv.key() == "task" && kv.value().is_object()) {
      for (const auto& t : kv.value().as_object()) job["task"].as_object()[t.key()] = t.value();
    } else {
      job[kv.key()] = kv.value();
    }
  }
  return job;
}

std::vector<std::string> Sh(const std::string& script) { return {"sh", "-c", script}; }

std::vector<std::string> WorkerIds(Api& api, const std::string& job_id) {
  std::vector<std::string> out;
  Reply r = api.Get("/api/jobs/" + job_id);
  const json::value& ws = r.At({"workers"});
  if (!ws.is_array()) return out;
  for (const json::value& w : ws.as_array()) {
    if (w.is_object() && w.as_object().contains("id") && w.at("id").is_string()) {
      out.emplace_back(w.at("id").as_string());
    }
  }
  return out;
}

Reply WaitWorker(Api& api, const std::string& worker_id, const std::string& status,
                 std::chrono::milliseconds deadline) {
  Reply last;
  WaitFor(
      [&] {
        last = api.Get("/api/supervisor/workers/" + worker_id);
        return last.status == 200 && last.Str({"status"}) == status;
      },
      deadline);
  return last;
}

Reply WaitJob(Api& api, const std::string& job_id, const std::string& status,
              std::chrono::milliseconds deadline) {
  Reply last;
  WaitFor(
      [&] {
        last = api.Get("/api/jobs/" + job_id);
        return last.status == 200 && last.Str({"status"}) == status;
      },
      deadline);
  return last;
}

std::string WaitLog(Api& api, const std::string& worker_id, const std::string& needle,
                    std::chrono::milliseconds deadline) {
  std::string text;
  WaitFor(
      [&] {
        Reply r = api.Get("/api/supervisor/workers/" + worker_id + "/logs?tail=1000");
        text = r.body;
        return r.status == 200 && text.find(needle) != std::string::npos;
      },
      deadline);
  return text;
}

std::vector<std::string> ToStates(const Reply& worker) {
  std::vector<std::string> out;
  const json::value& t = worker.At({"transitions"});
  if (!t.is_array()) return out;
  for (const json::value& tr : t.as_array()) {
    const json::value* to = tr.is_object() ? tr.as_object().if_contains("to_state") : nullptr;
    out.emplace_back(to != nullptr && to->is_string() ? std::string(to->as_string()) : "?");
  }
  return out;
}

}  // namespace overseer::it
