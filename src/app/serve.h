// `overseer serve`: the daemon. Reads top to bottom: open store, migrate, recover, listen,
// run; on SIGTERM/SIGINT: stop accepting, terminate workers (grace, then SIGKILL), flush,
// join the pool. A second SIGINT exits at once. Main thread.
#pragma once

#include "app/config.h"

namespace overseer::app {

// Runs the daemon until a signal; returns the process exit code.
int Serve(const Config& config);

}  // namespace overseer::app
