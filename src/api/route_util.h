// What every route handler of the api shares: a JSON response, and the service-layer caller a
// verified principal stands for. Loop thread.
#pragma once

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "auth/principal.h"
#include "http/request.h"
#include "service/types.h"

namespace overseer::api {

inline http::Response Json(unsigned status, const boost::json::value& v) {
  http::Response r;
  r.status = status;
  r.body = boost::json::serialize(v);
  return r;
}

// The workspace and, for a worker token, the job the caller is bound to.
inline service::Caller CallerOf(const auth::Principal& p) {
  return service::Caller{p.workspace_id, p.job_id};
}

}  // namespace overseer::api
