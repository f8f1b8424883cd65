// WorkerView: a worker as GET /api/supervisor/workers/{id} answers it — the record, its
// transitions oldest first, and the live usage of its process tree. `final` tells the api
// layer the record can no longer change, so it may keep the rendered answer (api's
// RenderedWorkers cache). Plain value; any thread.
#pragma once

#include <vector>

#include "core/types.h"
#include "proc/process.h"

namespace overseer::service {

struct WorkerView {
  core::Worker worker;
  std::vector<core::Transition> transitions;
  proc::Usage usage;   // zeros when no process is alive
  bool final = false;  // the record can no longer change (terminal, not supervised)
};

}  // namespace overseer::service
