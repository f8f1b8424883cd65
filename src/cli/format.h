// Pure formatting and parsing helpers of the client commands: aligned tables, ages, job
// trees, quota and usage tables, the one-line error of a failed call, --env and DEPTH=N
// parsing, rows of workers and jobs as the daemon answers them (SPEC §3 shapes). No I/O, no
// clock: callers pass `now`. Any thread.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/time.h"

namespace overseer::cli {

using Row = std::vector<std::string>;

// Columns left-aligned, separated by two spaces, each as wide as its widest cell; no
// trailing spaces. A row shorter than the header is padded with empty cells.
std::string RenderTable(const Row& header, const std::vector<Row>& rows);

// A compact age: "0s".."59s", "1m".."59m", "1h".."47h", "2d"...; negative counts as 0.
std::string FormatAge(int64_t ms);

// Age of an RFC 3339 timestamp at `now`, or "-" if `rfc3339` is empty or malformed.
std::string AgeSince(std::string_view rfc3339, TimeMs now);

// Seconds with one decimal: "0.0s", "12.3s"; from a minute up: "2m05s".
std::string FormatElapsed(int64_t ms);

// The text of a JSON value for a table cell: strings bare, null as "-", numbers as is.
std::string Cell(const boost::json::object& o, std::string_view key);

// Table rows, in the column order of WorkerHeader()/JobHeader().
Row WorkerHeader();  // ID JOB STATUS PID EXIT ATTEMPT AGE
Row WorkerRow(const boost::json::object& worker, TimeMs now);
Row JobHeader();  // ID NAME STATUS DEPTH WORKERS AGE
Row JobRow(const boost::json::object& job, TimeMs now);

// `overseer workers show`: key/value lines, usage, then the transitions table.
std::string FormatWorkerDetail(const boost::json::object& worker, TimeMs now);
// `overseer jobs show`: key/value lines, then the workers table.
std::string FormatJobDetail(const boost::json::object& job, TimeMs now);

// Counts of a job's workers ("workers" array) by outcome, for the live wait line.
struct WorkerCounts {
  int running = 0;    // RUNNING, PAUSED, RETRYING, IDLE
  int completed = 0;  // COMPLETED
  int failed = 0;     // FAILED, TERMINATED
};
WorkerCounts CountWorkers(const boost::json::object& job);

// "j_x RUNNING  workers: 1 running, 0 completed, 0 failed  elapsed 3.2s".
std::string WaitStatusLine(const boost::json::object& job, int64_t elapsed_ms);

// `overseer jobs tree`: one line per job of a GET /api/jobs/{id}/tree body (a job with its
// nested `children`), each child below its parent behind "├─ " / "└─ " guides. Columns:
// id, status (with the reason of a FAILED or CANCELED end), name; aligned on display width.
// A last line says so when the root's `truncated` is true.
std::string FormatJobTree(const boost::json::object& root);

// `overseer quotas get|set`: a GET /api/resources/quotas body as the table
// DEPTH MAX_WORKERS USED AVAILABLE, one row per entry of `quotas`, in the daemon's order.
std::string FormatQuotas(const boost::json::object& quotas);

// `overseer quotas usage`: a GET /api/resources/usage body as the table
// DEPTH QUOTA USED AVAILABLE WARN (WARN "90%" when warn_90, else "80%" when warn_80, else "-"),
// then a line "total used: N".
std::string FormatUsage(const boost::json::object& usage);

// `overseer workers transcript`: a GET /api/supervisor/workers/{id}/transcript body, one
// block per entry of `entries`: a text entry as it is ("error: " before an error notice),
// "→ TOOL INPUT" for a tool call (the input as compact JSON), "← OUTPUT" for a tool result
// ("← (error) OUTPUT"; "(no output)" when empty), "result: TEXT" / "result (error): TEXT".
// Lines after a block's first are indented by two spaces (a text entry's are not); one
// trailing newline of a text is dropped; control characters other than tab print as "?",
// so an agent's output cannot drive the terminal.
std::string FormatTranscript(const boost::json::object& transcript);

// `overseer halt|unhalt JOB_ID`: "j_x RUNNING  halted: freeze by alice at ... (reason)" or
// "j_x RUNNING  not halted".
std::string FormatJobHalt(const boost::json::object& job);
// `overseer halt|unhalt --all`: "workspace W halted: freeze by alice ... (reason)" or
// "workspace W not halted", then "root jobs: j_a, j_b" when the call named any.
std::string FormatWorkspaceHalt(const boost::json::object& view);

// True for COMPLETED, FAILED, CANCELED.
bool IsTerminalJobStatus(std::string_view status);

// The one line a failed call prints, without the trailing newline:
// "overseer: <CODE>: <message>" from a SPEC §4 error body; for a body that is not one,
// "overseer: HTTP <status>: <first line of the body, at most 200 bytes>".
std::string ErrorLine(unsigned http_status, std::string_view body);
// "overseer: <message>" of a client-side error (e.g. the daemon is unreachable: its message
// already says what to do).
std::string ErrorLine(const Error& error);

// "KEY=VALUE" -> {KEY, VALUE}; kInvalidRequest if there is no '=' or the key is empty.
// The value may be empty and may hold '='.
Result<std::pair<std::string, std::string>> ParseEnvAssignment(std::string_view text);

// "DEPTH=N" of `overseer quotas set` -> {depth, max_workers}; both decimal digits only (no
// sign, no spaces) that fit an int, else kInvalidRequest whose message says what was expected.
// Whether the depth exists and N is in range is the daemon's to say.
Result<std::pair<int, int>> ParseQuotaAssignment(std::string_view text);

}  // namespace overseer::cli
