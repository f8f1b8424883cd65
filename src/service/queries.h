// Queries: the reads — jobs, their tree, workers (live usage from the process layer's
// sampler, never /proc on the loop), logs, metrics and the store's health. They need no
// live state beyond a look at memory; nothing here changes anything. Loop thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "service/context.h"
#include "service/runtimes/transcript.h"
#include "service/worker_view.h"

namespace overseer::service {

class Queries {
 public:
  explicit Queries(Context& ctx) : ctx_(ctx) {}

  boost::asio::awaitable<Result<JobView>> GetJob(Caller caller, std::string id);
  boost::asio::awaitable<Result<store::Page<core::Job>>> ListJobs(Caller caller,
                                                                  store::JobQuery query);
  boost::asio::awaitable<Result<JobTreeView>> GetJobTree(Caller caller, std::string id);
  boost::asio::awaitable<Result<WorkerView>> GetWorker(Caller caller, std::string id);
  boost::asio::awaitable<Result<store::Page<core::Worker>>> ListWorkers(Caller caller,
                                                                        store::WorkerQuery query);
  // Last `tail` lines of the worker's captured output.
  boost::asio::awaitable<Result<std::string>> Logs(Caller caller, std::string id, int tail);
  // The last `tail` entries of what the worker did (SPEC §11), parsed from its log (the
  // rotated backup, then the log; at most the last kTranscriptReadMaxBytes) by its job's
  // runtime: claude and codex streams as TranscriptBuilder reads them, any other runtime
  // (a command) one text entry per line. Empty before any output. kNotFound as GetWorker.
  boost::asio::awaitable<Result<std::vector<TranscriptEntry>>> Transcript(Caller caller,
                                                                          std::string id, int tail);
  static constexpr int64_t kTranscriptReadMaxBytes = 16 << 20;
  // Metrics of the caller's workspace; with `daemon_wide` (an operator's token) the
  // daemon-wide counters too.
  boost::asio::awaitable<Result<Metrics>> GetMetrics(Caller caller, bool daemon_wide);
  boost::asio::awaitable<Status> Ping();

 private:
  Context& ctx_;
};

}  // namespace overseer::service
