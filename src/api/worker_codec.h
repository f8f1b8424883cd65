// JSON of workers (SPEC §3 worker fields; GET worker adds usage and transitions). Any thread.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "api/json_codec.h"
#include "common/result.h"
#include "core/types.h"
#include "service/worker_view.h"

namespace overseer::api {

boost::json::object WorkerToJson(const core::Worker& w);
boost::json::object WorkerViewToJson(const service::WorkerView& v);

}  // namespace overseer::api
