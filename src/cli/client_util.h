// What every client command shares: the environment, escaping for URLs, printing results and
// errors, one request to the daemon with its error line, a body parsed as a JSON object, and a
// job's one-line summary. Main thread of the CLI.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/http_client.h"
#include "common/time.h"

namespace overseer::cli {

// The variable's value, "" if unset.
std::string Env(const char* name);
// Percent-encodes everything but RFC 3986 unreserved characters.
std::string Escape(std::string_view s);
std::string Upper(std::string s);
// Writes `text` to stdout and flushes it.
void PrintOut(const std::string& text);
// Prints `line` on stderr; returns 1.
int PrintError(const std::string& line);
// Prints "overseer: <message> (see --help)" on stderr; returns 2.
int UsageError(const std::string& message);
TimeMs Now();
// One request; on a non-2xx answer or a transport failure prints the error line and
// returns nullopt.
std::optional<HttpResult> Call(
    HttpClient& client, const std::string& method, const std::string& target,
    const std::string& body = "",
    const std::vector<std::pair<std::string, std::string>>& headers = {});
// The body as a JSON object; prints an error line and answers nullopt if it is not one.
std::optional<boost::json::object> ParseBody(const HttpResult& r);
// The object's "status" string, "" if none.
std::string StatusOf(const boost::json::object& o);
// "j_x COMPLETED" or "j_x FAILED (WORKER_FAILED)": the reason only where it explains an
// unhappy end.
std::string Summary(const boost::json::object& o);

}  // namespace overseer::cli
