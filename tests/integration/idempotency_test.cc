// Idempotency-Key on POST (SPEC §6): replays, reuse with another body, per-workspace keys.
#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;

class IdempotencyTest : public SharedDaemonTest<IdempotencyTest> {
 protected:
  size_t JobCount(Api& a) {
    Reply r = a.Get("/api/jobs");
    EXPECT_EQ(r.status, 200u) << Describe(r);
    return r.At({"jobs"}).is_array() ? r.At({"jobs"}).as_array().size() : 0;
  }
};

TEST_F(IdempotencyTest, SameKeyAndBodyReplaysTheFirstResponseAndCreatesOneJob) {
  const std::string body = json::serialize(CommandJob({"true"}));
  const Headers key{{"Idempotency-Key", "create-once-1"}};
  Reply first = api().Post("/api/jobs", body, key);
  ASSERT_EQ(first.status, 201u) << Describe(first);
  EXPECT_NE(first.Header("Idempotent-Replayed"), "true");
  Reply second = api().Post("/api/jobs", body, key);
  ASSERT_EQ(second.status, 201u) << Describe(second);
  EXPECT_EQ(second.Header("Idempotent-Replayed"), "true");
  EXPECT_EQ(second.Str({"id"}), first.Str({"id"}));
  EXPECT_EQ(second.Header("Location"), first.Header("Location"));  // the same job, named again
  EXPECT_EQ(second.Header("Location"), "/api/jobs/" + first.Str({"id"}));
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(JobCount(api()), 1u);
  // Without a key, the same body creates another job.
  EXPECT_EQ(api().Post("/api/jobs", body).status, 201u);
  EXPECT_EQ(JobCount(api()), 2u);
}

TEST_F(IdempotencyTest, SameKeyWithAnotherBodyIs422) {
  const Headers key{{"Idempotency-Key", "reused-key"}};
  ASSERT_EQ(api().Post("/api/jobs", CommandJob({"true"}), key).status, 201u);
  Reply r = api().Post("/api/jobs", CommandJob({"false"}), key);
  EXPECT_TRUE(IsError(r, 422, "IDEMPOTENCY_KEY_REUSED"));
  EXPECT_EQ(JobCount(api()), 1u);
}

TEST_F(IdempotencyTest, KeysArePerWorkspace) {
  const std::string body = json::serialize(CommandJob({"true"}));
  const Headers key{{"Idempotency-Key", "shared-key-name"}};
  Reply mine = api().Post("/api/jobs", body, key);
  ASSERT_EQ(mine.status, 201u) << Describe(mine);
  Api other(d().url(), d().Token(ws() + "-b"));
  Reply theirs = other.Post("/api/jobs", body, key);
  ASSERT_EQ(theirs.status, 201u) << Describe(theirs);
  EXPECT_NE(theirs.Header("Idempotent-Replayed"), "true");
  EXPECT_NE(theirs.Str({"id"}), mine.Str({"id"}));
  EXPECT_EQ(theirs.Str({"workspace_id"}), ws() + "-b");
  EXPECT_EQ(JobCount(api()), 1u);
  EXPECT_EQ(JobCount(other), 1u);
}

TEST_F(IdempotencyTest, InvalidKeyIs400) {
  Reply r =
      api().Post("/api/jobs", CommandJob({"true"}), {{"Idempotency-Key", std::string(256, 'k')}});
  EXPECT_TRUE(IsError(r, 400, "INVALID_REQUEST"));
  EXPECT_EQ(r.Str({"error", "details", "field"}), "Idempotency-Key");
  // 255 characters are fine.
  r = api().Post("/api/jobs", CommandJob({"true"}), {{"Idempotency-Key", std::string(255, 'k')}});
  EXPECT_EQ(r.status, 201u) << Describe(r);
  EXPECT_EQ(JobCount(api()), 1u);
}

// SPEC §6: 1-255 printable characters. A key sent empty is not "no key": it is refused, so a
// client whose key went missing learns of it instead of getting a second job on a retry.
TEST_F(IdempotencyTest, AnEmptyOrMalformedKeyIs400AndCreatesNothing) {
  for (const std::string& key :
       {std::string(), std::string("k\xC3\xA9y"), std::string(256, 'k'), std::string("a\tb")}) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      Reply r = api().Post("/api/jobs", CommandJob({"true"}), {{"Idempotency-Key", key}});
      EXPECT_TRUE(IsError(r, 400, "INVALID_REQUEST")) << testing::PrintToString(key);
      EXPECT_EQ(r.Str({"error", "details", "field"}), "Idempotency-Key") << r.body;
    }
  }
  // Any POST route, not only job creation.
  Reply cancel = api().Post("/api/jobs/j_nosuchjob/cancel", "{}", {{"Idempotency-Key", ""}});
  EXPECT_TRUE(IsError(cancel, 400, "INVALID_REQUEST"));
  EXPECT_EQ(JobCount(api()), 0u);
  // A GET ignores the header, empty or not.
  EXPECT_EQ(api().Get("/api/jobs", {{"Idempotency-Key", ""}}).status, 200u);
}

TEST_F(IdempotencyTest, ARefusedRequestDoesNotConsumeTheKey) {
  // A 400 is not stored: the key stays usable for the corrected request.
  const Headers key{{"Idempotency-Key", "fix-and-retry"}};
  Reply bad = api().Post("/api/jobs", std::string(R"({"task":{"runtime":"command"}})"), key);
  EXPECT_TRUE(IsError(bad, 400, "INVALID_REQUEST"));
  Reply good = api().Post("/api/jobs", CommandJob({"true"}), key);
  EXPECT_EQ(good.status, 201u) << Describe(good);
}

}  // namespace
}  // namespace overseer::it
