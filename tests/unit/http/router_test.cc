#include "http/router.h"

#include <gtest/gtest.h>

#include <boost/asio/awaitable.hpp>

namespace overseer::http {
namespace {

Handler Named(const std::string& name) {
  return [name](Request&) -> boost::asio::awaitable<Response> {
    Response r;
    r.body = name;
    co_return r;
  };
}

Request Req(std::string method, std::string path) {
  Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  return r;
}

// Handlers are compared by identity through the router's returned pointer.
class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    router_.Add("GET", "/api/supervisor/workers", Named("list"));
    router_.Add("GET", "/api/supervisor/workers/{id}", Named("get"));
    router_.Add("POST", "/api/supervisor/workers/{id}/pause", Named("pause"));
    router_.Add("GET", "/api/jobs/{id}/tree", Named("tree"));
    router_.Add("POST", "/api/jobs", Named("create"));
    router_.Add("GET", "/api/jobs", Named("jobs"));
    router_.Add("GET", "/healthz", Named("health"));
    router_.Add("GET", "/", Named("root"));
  }
  Router router_;
};

TEST_F(RouterTest, MatchesLiteralPath) {
  Request req = Req("GET", "/api/supervisor/workers");
  Result<const Handler*> h = router_.Match(req);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(req.path_params.empty());
}

TEST_F(RouterTest, FillsPathParams) {
  Request req = Req("POST", "/api/supervisor/workers/w_123/pause");
  ASSERT_TRUE(router_.Match(req).ok());
  ASSERT_EQ(req.path_params.size(), 1u);
  EXPECT_EQ(req.Param("id"), "w_123");
  EXPECT_EQ(req.Param("missing"), "");
}

TEST_F(RouterTest, DistinguishesRoutesByDepth) {
  Request a = Req("GET", "/api/supervisor/workers/w_1");
  Request b = Req("GET", "/api/jobs/j_1/tree");
  Result<const Handler*> ha = router_.Match(a);
  Result<const Handler*> hb = router_.Match(b);
  ASSERT_TRUE(ha.ok());
  ASSERT_TRUE(hb.ok());
  EXPECT_NE(*ha, *hb);
  EXPECT_EQ(b.Param("id"), "j_1");
}

TEST_F(RouterTest, UnknownPathIsNotFound) {
  for (const char* path : {"/api/nope", "/api/supervisor/workers/w_1/pause/x", "/api/jobs/j_1/tre",
                           "/api/supervisor/workers/", "/api/supervisor/workers//pause", ""}) {
    Request req = Req("GET", path);
    Result<const Handler*> h = router_.Match(req);
    ASSERT_FALSE(h.ok()) << path;
    EXPECT_EQ(h.error().code, ErrorCode::kNotFound) << path;
  }
}

TEST_F(RouterTest, WrongMethodIsMethodNotAllowedWithAllowedList) {
  Request req = Req("DELETE", "/api/jobs");
  Result<const Handler*> h = router_.Match(req);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code, ErrorCode::kMethodNotAllowed);
  ASSERT_EQ(h.error().details.size(), 1u);
  EXPECT_EQ(h.error().details[0].first, "allowed");
  EXPECT_EQ(std::get<std::string>(h.error().details[0].second), "POST, GET");
}

TEST_F(RouterTest, ParamSegmentWrongMethodListsOnlyMatchingRoutes) {
  Request req = Req("GET", "/api/supervisor/workers/w_1/pause");
  Result<const Handler*> h = router_.Match(req);
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().code, ErrorCode::kMethodNotAllowed);
  EXPECT_EQ(std::get<std::string>(h.error().details[0].second), "POST");
}

TEST_F(RouterTest, RootPathMatchesOnlyRoot) {
  Request root = Req("GET", "/");
  EXPECT_TRUE(router_.Match(root).ok());
  Request other = Req("GET", "/x");
  EXPECT_EQ(router_.Match(other).error().code, ErrorCode::kNotFound);
}

TEST_F(RouterTest, MatchRouteReportsOptions) {
  Router r;
  r.Add("POST", "/raw", Named("raw"), RouteOptions{.require_json_body = false});
  r.Add("POST", "/json", Named("json"));
  Request raw = Req("POST", "/raw");
  Request json = Req("POST", "/json");
  ASSERT_TRUE(r.MatchRoute(raw).ok());
  ASSERT_TRUE(r.MatchRoute(json).ok());
  EXPECT_FALSE(r.MatchRoute(raw)->options.require_json_body);
  EXPECT_TRUE(r.MatchRoute(json)->options.require_json_body);
}

TEST_F(RouterTest, FirstAddedRouteWinsOverLaterParamRoute) {
  Router r;
  r.Add("GET", "/api/jobs/stats", Named("stats"));
  r.Add("GET", "/api/jobs/{id}", Named("get"));
  Request req = Req("GET", "/api/jobs/stats");
  ASSERT_TRUE(r.Match(req).ok());
  EXPECT_TRUE(req.path_params.empty());
  Request other = Req("GET", "/api/jobs/j_9");
  ASSERT_TRUE(r.Match(other).ok());
  EXPECT_EQ(other.Param("id"), "j_9");
}

}  // namespace
}  // namespace overseer::http
