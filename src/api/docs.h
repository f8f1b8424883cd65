// The API's own documentation, served from files compiled into the binary (api/docs.cmake):
// GET /openapi.yaml, GET /openapi.json, and the Swagger UI page GET /docs with the files
// it loads under GET /docs/{file}. No authentication. Handlers run on the loop.
#pragma once

#include "http/router.h"

namespace overseer::api {

// Adds the documentation routes to `router`.
void RegisterDocRoutes(http::Router& router);

}  // namespace overseer::api
