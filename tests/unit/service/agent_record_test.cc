// AgentRecord: a worker's `agent` object over its attempts, and its stored JSON form.
#include "service/runtimes/agent_record.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "service/worker_agent.h"

namespace overseer::service {
namespace {

AgentUsage Attempt(const std::string& session, int64_t in, int64_t out, double usd) {
  AgentUsage a;
  a.lines = 5;
  a.session_id = session;
  a.model = "claude-x";
  a.turns = 1;
  a.usage.input_tokens = in;
  a.usage.output_tokens = out;
  a.usage.cost_usd = usd;
  return a;
}

TEST(AgentRecordTest, AttemptsAddUpAndTheLatestOneSaysHowItEnded) {
  AgentRecord r;
  r.runtime = "claude";
  AgentUsage first = Attempt("s-1", 100, 10, 0.5);
  first.is_error = true;
  first.api_error_status = 500;
  first.error_message.Set("overloaded", 100);
  AgentRecord after1 = CombineAttempt(r, first, false);
  EXPECT_EQ(after1.attempts, 1);
  EXPECT_TRUE(after1.is_error);
  EXPECT_EQ(after1.api_error_status, 500);

  AgentUsage second = Attempt("s-1", 50, 5, 0.25);
  second.result.Set("done", 100);
  AgentRecord resumed = CombineAttempt(after1, second, true);
  EXPECT_EQ(resumed.attempts, 2);
  EXPECT_EQ(resumed.usage.input_tokens, 150);
  EXPECT_EQ(resumed.usage.output_tokens, 15);
  EXPECT_DOUBLE_EQ(resumed.usage.cost_usd, 0.75);
  EXPECT_EQ(resumed.session.input_tokens, 150);  // one conversation
  EXPECT_EQ(resumed.turns, 2);
  EXPECT_FALSE(resumed.is_error);
  EXPECT_EQ(resumed.api_error_status, 0);
  EXPECT_EQ(resumed.result, "done");

  AgentRecord fresh = CombineAttempt(after1, Attempt("s-2", 7, 1, 0.01), false);
  EXPECT_EQ(fresh.session_id, "s-2");
  EXPECT_EQ(fresh.session.input_tokens, 7);  // a new conversation counts from zero
  EXPECT_EQ(fresh.usage.input_tokens, 107);

  // An attempt that printed nothing changes nothing.
  AgentUsage silent;
  AgentRecord same = CombineAttempt(after1, silent, true);
  EXPECT_EQ(same.attempts, 1);
  EXPECT_EQ(same.session_id, "s-1");
}

TEST(AgentRecordTest, TheStoredFormComesBackAndAnythingElseReadsAsEmpty) {
  AgentRecord r;
  r.runtime = "codex";
  r = CombineAttempt(r, Attempt("t-9", 1200, 80, 0.002), false);
  r.cost_estimated = true;
  r.denied_tools = {"Bash"};
  r.permission_denials = 1;
  const std::string json = AgentRecordJson(r);
  AgentRecord back = ParseAgentRecord(json);
  EXPECT_EQ(AgentRecordJson(back), json);
  EXPECT_EQ(back.session_id, "t-9");
  EXPECT_EQ(back.session.input_tokens, 1200);
  boost::json::value v = boost::json::parse(json);
  EXPECT_EQ(v.at("total_tokens").as_int64(), 1280);
  EXPECT_TRUE(v.at("api_error_status").is_null());

  for (const char* bad : {"", "[]", "{", R"({"turns":"x","usage":7,"denied_tools":{}})"}) {
    AgentRecord e = ParseAgentRecord(bad);
    EXPECT_EQ(e.turns, 0) << bad;
    EXPECT_TRUE(e.denied_tools.empty()) << bad;
  }
}

TEST(AgentRecordTest, NewUuidsAreVersion4) {
  const std::string a = NewUuid();
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[14], '4');
  EXPECT_NE(std::string("89ab").find(a[19]), std::string::npos) << a;
  EXPECT_NE(a, NewUuid());
}

}  // namespace
}  // namespace overseer::service
