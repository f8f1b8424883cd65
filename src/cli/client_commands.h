// The client commands of the `overseer` binary (SPEC §9): `workers ls|show|pause|resume|
// terminate|logs|transcript`, `jobs submit|ls|show|tree|wait|cancel`, `quotas [get]|set|usage`
// and the kill switch `halt JOB_ID|--all` / `unhalt JOB_ID|--all`, which talk to a running
// daemon over HTTP.
// Configuration: OVERSEER_URL (default http://127.0.0.1:8080) and OVERSEER_TOKEN, overridden
// by --url / --token. Output: aligned tables, or the daemon's JSON with --json. A failed
// call prints one line "overseer: <CODE>: <message>" on stderr and exits 1; usage errors
// exit 2; `jobs wait` exits 3 on timeout. Main thread only.
#pragma once

#include <memory>

namespace CLI {  // NOLINT(readability-identifier-naming): CLI11's namespace
class App;
class ParseError;
}  // namespace CLI

namespace overseer::cli {

class ClientCommands {
 public:
  // Adds the `workers` and `jobs` subcommands to `app`, which must outlive this object.
  explicit ClientCommands(CLI::App& app);
  ~ClientCommands();
  ClientCommands(const ClientCommands&) = delete;
  ClientCommands& operator=(const ClientCommands&) = delete;

  // True if the command line named one of these commands (also after a parse error).
  bool Selected() const;

  // Runs the command the parsed command line selected; returns the process exit status.
  // Call after a successful app.parse() when Selected().
  int Run();

  // A parse error of a client command: --help prints the help (0); anything else prints one
  // line "overseer: <what> (see --help)" on stderr and returns 2.
  int UsageExit(CLI::App& app, const CLI::ParseError& error) const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace overseer::cli
