// The REST API of SPEC §3: registers every route on the router. Handlers run on the loop.
#pragma once

#include <string>

#include "auth/jwt.h"
#include "common/lru_map.h"
#include "common/time.h"
#include "http/server.h"
#include "service/idempotency.h"
#include "service/supervisor.h"

namespace overseer::api {

// The JSON body of GET worker for views that can no longer change (WorkerView::final), by
// worker id, with the workspace that may see it.
struct RenderedWorker {
  std::string workspace_id;
  std::string body;
};
using RenderedWorkers = LruMap<RenderedWorker>;

struct ApiContext {
  service::Supervisor& supervisor;
  service::IdempotencyKeys& idempotency;
  const auth::JwtVerifier& verifier;
  const Clock& clock;
  RenderedWorkers* rendered_workers = nullptr;  // optional: skips re-rendering final workers
};

void RegisterRoutes(http::Router& router, ApiContext& ctx);

}  // namespace overseer::api
