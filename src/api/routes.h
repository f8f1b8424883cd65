// The REST API of SPEC §3: registers every route on the router. Handlers run on the loop.
#pragma once

#include <string>

#include "auth/jwt.h"
#include "common/time.h"
#include "http/server.h"
#include "service/idempotency.h"
#include "service/supervisor.h"

namespace overseer::api {

struct ApiContext {
  service::Supervisor& supervisor;
  service::IdempotencyKeys& idempotency;
  const auth::JwtVerifier& verifier;
  const Clock& clock;
};

void RegisterRoutes(http::Router& router, ApiContext& ctx);

}  // namespace overseer::api
