// JSON of a worker's transcript (SPEC §11 GET /api/supervisor/workers/{id}/transcript):
// {"entries":[{"kind", "text"?, "tool"?, "input"?, "is_error"?, "time"?}]}. Any thread.
#pragma once

#include <boost/json/object.hpp>
#include <vector>

#include "service/runtimes/transcript.h"

namespace overseer::api {

// `tail` of the transcript route: entries answered.
inline constexpr int kTranscriptTailDefault = 100;
inline constexpr int kTranscriptTailMax = 1000;

// Absent fields are left out: `tool` and `input` only on tool_call, `text` when there is one,
// `is_error` when known, `time` when the line carried one.
boost::json::object TranscriptEntryToJson(const service::TranscriptEntry& e);
boost::json::object TranscriptToJson(const std::vector<service::TranscriptEntry>& entries);

}  // namespace overseer::api
