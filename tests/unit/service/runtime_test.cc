#include "service/runtime.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace overseer::service {
namespace {

namespace json = boost::json;

Result<Task> ParseTask(const Runtimes& r, std::string_view text) {
  return r.Parse(json::parse(text));
}

std::string FieldOf(const Error& e) {
  for (const auto& [k, v] : e.details) {
    if (k == "field") return std::get<std::string>(v);
  }
  return "";
}

TEST(RuntimesTest, ACommandTaskIsParsedOnceIntoItsCanonicalForm) {
  Runtimes r;
  Result<Task> t =
      ParseTask(r, R"({"env":{"A":"1"},"runtime":"command","command":["echo","hi"],"cwd":"/tmp"})");
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->runtime, "command");
  EXPECT_EQ(t->argv, (std::vector<std::string>{"echo", "hi"}));
  EXPECT_EQ(t->cwd, "/tmp");
  EXPECT_EQ(t->canonical_json,
            R"({"runtime":"command","env":{"A":"1"},"command":["echo","hi"],"cwd":"/tmp"})");
  // A stored task comes back the same.
  Result<Task> again = r.ParseStored(t->canonical_json);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->canonical_json, t->canonical_json);
}

TEST(RuntimesTest, TheDomainRulesNameTheField) {
  Runtimes r;
  struct Case {
    const char* task;
    const char* field;
  } cases[] = {
      {R"({"command":["x"]})", "task.runtime"},
      {R"({"runtime":"claude","prompt":"hi"})", "task.runtime"},
      {R"({"runtime":"nope","command":["x"]})", "task.runtime"},
      {R"({"runtime":"command"})", "task.command"},
      {R"({"runtime":"command","command":[]})", "task.command"},
      {R"({"runtime":"command","command":[""]})", "task.command"},
      {R"({"runtime":"command","command":["x"],"env":{"OVERSEER_TOKEN":"x"}})", "task.env"},
      {R"({"runtime":"command","command":["x"],"env":{"1A":"x"}})", "task.env"},
      {R"({"runtime":"command","command":["x"],"cwd":"relative"})", "task.cwd"},
      {R"({"runtime":"command","command":["x"],"extra":1})", "task.extra"},
      {R"("just a string")", "task"},
  };
  for (const Case& c : cases) {
    Result<Task> t = ParseTask(r, c.task);
    ASSERT_FALSE(t.ok()) << c.task;
    EXPECT_EQ(t.error().code, ErrorCode::kInvalidRequest) << c.task;
    EXPECT_EQ(FieldOf(t.error()), c.field) << c.task << ": " << t.error().message;
  }
  std::string args;
  for (size_t i = 0; i <= TaskLimits::kArgvMax; ++i) args += std::string(i ? "," : "") + "\"a\"";
  Result<Task> too_many = ParseTask(r, R"({"runtime":"command","command":[)" + args + "]}");
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(FieldOf(too_many.error()), "task.command");
}

TEST(RuntimesTest, TheCommandSpawnGetsTheBaseEnvironmentThenItsOwn) {
  Runtimes r;
  Result<Task> t = ParseTask(r, R"({"runtime":"command","command":["a"],"env":{"K":"v"}})");
  ASSERT_TRUE(t.ok());
  const Runtime* cmd = r.Find("command");
  ASSERT_NE(cmd, nullptr);
  proc::SpawnSpec s = cmd->BuildSpawn(*t, AttemptContext{"w_1", "/l/w_1.log", 99, {"PATH=/bin"}});
  EXPECT_EQ(s.argv, (std::vector<std::string>{"a"}));
  EXPECT_EQ(s.env, (std::vector<std::string>{"PATH=/bin", "K=v"}));
  EXPECT_EQ(s.unit_name, "w_1");
  EXPECT_EQ(s.log_path, "/l/w_1.log");
  EXPECT_EQ(s.log_max_bytes, 99);
  OutputReport report;
  cmd->OnOutput(R"({"type":"result"})", report);  // a plain command reports nothing
  EXPECT_FALSE(report.succeeded.has_value());
}

}  // namespace
}  // namespace overseer::service
