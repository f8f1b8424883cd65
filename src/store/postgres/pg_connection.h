// A small RAII layer over libpq for the PostgreSQL store (issue #12): URL parsing and masking,
// one connection (connect with a deadline, text-parameter queries, prepared statements by
// name), libpq's pipeline mode (statements sent without waiting for each answer, the answers
// checked in order at the next Flush), transaction and savepoint guards, and the one mapping
// from libpq failures to ErrorCode. Blocking: runs on the BlockingPool, never on the event loop. A
// PgConnection is used by one thread at a time (libpq connections are not shared); distinct
// connections may be used from different threads at once.
//
// Errors, everywhere in this file (PgErrorCodeFor is the one table):
//   kUnavailable  the server cannot be reached, the connection was lost or the server is
//                 going away (connection gone bad, SQLSTATE class 08, 57P01..57P03), or the
//                 server cannot serve now: class 53 (out of disk, memory, connections), and
//                 55P03 lock_not_available / 57014 query_canceled (lock_timeout and
//                 statement_timeout: store.h's "locked beyond the busy timeout")
//   kConflict     the server aborted the transaction: 40001 serialization_failure or 40P01
//                 deadlock_detected; retryable (run the whole transaction again)
//   kInternal     anything else; the message is generic, the server's text (scrubbed of the
//                 password) goes to the log only
// A malformed URL is kInvalidRequest. No message, logged or returned, holds the password.
#pragma once

#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/result.h"

namespace overseer::store::pg {

// A validated connection target. `params` are libpq keywords as the URL set them (password
// included when the URL has one), plus overseer's defaults for those it left out
// (application_name, keepalives, tcp_user_timeout, client_encoding). Whatever the URL leaves
// unset libpq takes from its environment as usual: PGHOST, PGPASSWORD, ~/.pgpass, ...
struct PgConfig {
  std::vector<std::pair<std::string, std::string>> params;
  std::string masked_url;  // the URL with any password replaced by "***": for logs
  std::chrono::milliseconds connect_timeout{5000};  // the URL's connect_timeout (s), or 5 s
  std::vector<std::string> secrets;  // password spellings to scrub from libpq messages
};

// True if `url` starts with postgresql:// or postgres:// (the --db forms of this backend).
bool IsPgUrl(std::string_view url);

// Parses `url` (postgresql://[user[:password]@][host][:port][/dbname][?key=value&...], or
// postgres://) with libpq's own parser. kInvalidRequest (the message shows the URL masked)
// for another scheme or a URL libpq rejects.
Result<PgConfig> ParsePgUrl(std::string_view url);

// `url` with its password replaced by "***": the userinfo password and the password= and
// sslpassword= query values. Works on malformed URLs too (masks rather more than less).
std::string MaskPgUrl(std::string_view url);

// Pure: the ErrorCode for a failed statement with SQLSTATE `sqlstate` ("" if the server sent
// none) on a connection whose status is now `connection_ok`.
ErrorCode PgErrorCodeFor(std::string_view sqlstate, bool connection_ok);

// One query parameter in text format; nullopt is SQL NULL.
using PgParam = std::optional<std::string>;

inline PgParam ToPgParam(std::nullopt_t) { return std::nullopt; }
inline PgParam ToPgParam(std::string_view v) { return std::string(v); }
inline PgParam ToPgParam(const std::string& v) { return v; }
inline PgParam ToPgParam(const char* v) {
  return v == nullptr ? PgParam() : PgParam(std::string(v));
}
inline PgParam ToPgParam(bool v) { return std::string(v ? "true" : "false"); }
PgParam ToPgParam(double v);  // shortest text that reads back to the same double
template <typename T>
requires(std::is_integral_v<T> && !std::is_same_v<T, bool>) PgParam ToPgParam(T v) {
  return std::to_string(v);
}
template <typename T>
PgParam ToPgParam(const std::optional<T>& v) {
  return v ? ToPgParam(*v) : PgParam();
}

// The rows of a successful statement (text format). Move-only; frees the PGresult. Row and
// column indexes out of range are a bug (OVERSEER_CHECK).
class PgResult {
 public:
  explicit PgResult(PGresult* res) : res_(res) {}
  PgResult(PgResult&& other) noexcept : res_(std::exchange(other.res_, nullptr)) {}
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;
  ~PgResult();

  int rows() const;
  int columns() const;
  // The index of column `name`, or -1.
  int Column(std::string_view name) const;
  bool IsNull(int row, int col) const;
  // The value as text; "" for NULL.
  std::string_view Text(int row, int col) const;
  // The value as an integer; nullopt for NULL or text that is not one.
  std::optional<int64_t> Int64(int row, int col) const;
  // Rows an INSERT/UPDATE/DELETE touched (PQcmdTuples); 0 for other statements.
  int64_t affected_rows() const;

 private:
  PGresult* res_;
};

enum class Isolation { kReadCommitted, kRepeatableRead, kSerializable };

class PgConnection {
 public:
  // Connects within `timeout` (libpq's non-blocking connect, so a server that accepts and then
  // says nothing cannot hang it). kUnavailable on failure, with the reason in the log.
  static Result<std::unique_ptr<PgConnection>> Connect(const PgConfig& config,
                                                       std::chrono::milliseconds timeout);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // One statement with `$1..$n` text parameters (values: strings, integers, bool, double,
  // std::optional of those, std::nullopt for NULL).
  template <typename... Args>
  Result<PgResult> Exec(std::string_view sql, const Args&... args) {
    return ExecParams(sql, {ToPgParam(args)...});
  }
  Result<PgResult> ExecParams(std::string_view sql, const std::vector<PgParam>& params);

  // Several statements without parameters in one round trip (a migration file).
  Status ExecScript(std::string_view sql);

  // Prepares `sql` under `name` on this connection. kInternal if the name is taken.
  Status Prepare(const std::string& name, std::string_view sql);
  // Prepares `sql` under `name` unless this connection already has it.
  Status EnsurePrepared(const std::string& name, std::string_view sql);
  bool IsPrepared(const std::string& name) const { return prepared_.contains(name); }
  // DEALLOCATE ALL: forgets every prepared statement (a migration changed the tables they were
  // planned for: PostgreSQL would refuse them with "cached plan must not change result type").
  Status DeallocateAll();
  template <typename... Args>
  Result<PgResult> ExecPrepared(const std::string& name, const Args&... args) {
    return ExecPreparedParams(name, {ToPgParam(args)...});
  }
  Result<PgResult> ExecPreparedParams(const std::string& name, const std::vector<PgParam>& params);

  // ---- Pipeline mode (libpq 14+) ----
  // A queued statement's check: run at Flush, in order, on the answer of a statement that
  // succeeded; an error it returns fails the Flush. Null: success is enough.
  using Check = std::function<Status(const PgResult&)>;
  // Sends the prepared statement `name` (preparing it first, in the same pipeline, if this
  // connection does not have it yet) without waiting for its answer, entering pipeline mode.
  // Fails only when it cannot be sent (lost connection; what was queued is dropped). Past
  // kMaxPipelined queued statements it flushes, and returns what that Flush returns.
  Status Send(const std::string& name, std::string_view sql, const std::vector<PgParam>& params,
              Check check = nullptr);
  // Sends `sql` (no parameters: BEGIN, SAVEPOINT x, ...) likewise.
  Status SendSql(const std::string& sql, Check check = nullptr);
  // Marks the end of the queued statements, reads every answer in order and runs its check,
  // then leaves pipeline mode. Returns the first failure, a statement's (its error, as Exec
  // would return it; last_sqlstate() is that statement's) or a check's (last_sqlstate() "");
  // the statements after a failed check ran all the same (their writes are the caller's to
  // roll back); after a statement's error the server skipped them. OK when nothing is queued.
  // If the answers cannot be read (lost connection, protocol out of step) the connection is
  // marked broken: CheckAlive() is false from then on, and the pool closes it.
  Status Flush();
  // Like Flush, but ignores the answers and runs no check (before a rollback).
  void Discard();
  // Statements sent and not yet flushed.
  size_t pipelined() const { return queue_.size(); }
  // True if a statement sent and not yet flushed has a check.
  bool HasQueuedChecks() const;
  static constexpr size_t kMaxPipelined = 256;

  // False once the connection is known to be lost. Does not block: reads what the server
  // already sent (a backend that was terminated has closed its socket), no round trip.
  bool CheckAlive();
  // PQtransactionStatus: PQTRANS_IDLE outside a transaction.
  PGTransactionStatusType transaction_status() const;
  int backend_pid() const;
  // SQLSTATE of the last failed statement ("" after a success or when none was sent).
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  const std::string& masked_url() const { return masked_url_; }

 private:
  PgConnection(PGconn* conn, std::string masked_url, std::vector<std::string> secrets);
  // `quiet`: the failure is logged at debug level only (a pipelined statement after the one whose
  // failure is returned).
  Result<PgResult> Finish(PGresult* res, std::string_view what, bool quiet = false);
  // Before a synchronous statement: flushes what is queued (its failure is returned), or
  // kUnavailable if the connection is broken.
  Status Settle();
  Status Drain(bool run_checks);
  Status SendFailed(std::string_view what);

  struct Queued {
    std::string what;      // the statement's name, for the log
    std::string prepares;  // non-empty: the PQsendPrepare of this name
    Check check;
  };

  PGconn* conn_;
  std::string masked_url_;
  std::vector<std::string> secrets_;
  std::unordered_set<std::string> prepared_;
  std::string last_sqlstate_;
  std::vector<Queued> queue_;
  std::unordered_set<std::string> preparing_;  // prepares queued, not yet answered
  bool broken_ = false;
};

// BEGIN at `isolation`; rolled back when destroyed without Commit (errors logged). Holds the
// connection, which must outlive it. Move-only.
class PgTransaction {
 public:
  static Result<PgTransaction> Begin(PgConnection& conn,
                                     Isolation isolation = Isolation::kReadCommitted);
  // BEGIN (read committed) sent in the connection's pipeline: it travels with the first
  // statements; its failure is the next Flush's.
  static Result<PgTransaction> Send(PgConnection& conn);
  PgTransaction(PgTransaction&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}
  PgTransaction& operator=(PgTransaction&&) = delete;
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;
  ~PgTransaction();

  // COMMIT. A serialization failure found at commit is kConflict. Ends the guard either way,
  // unless a queued statement with a check fails first (flushed before COMMIT is sent; the
  // guard then still rolls back). Queued statements without a check (RELEASE SAVEPOINT) go in
  // the same round trip as the COMMIT.
  Status Commit();
  // ROLLBACK. Ends the guard.
  Status Rollback();

 private:
  explicit PgTransaction(PgConnection* conn) : conn_(conn) {}
  PgConnection* conn_;
};

// SAVEPOINT `name` inside a transaction; rolled back to (and released) when destroyed without
// Release, which undoes its writes and keeps the outer transaction usable. `name` must be a
// plain identifier ([a-z_][a-z0-9_]*), else kInvalidRequest. Move-only.
class PgSavepoint {
 public:
  static Result<PgSavepoint> Begin(PgConnection& conn, std::string name);
  PgSavepoint(PgSavepoint&& other) noexcept
      : conn_(std::exchange(other.conn_, nullptr)), name_(std::move(other.name_)) {}
  PgSavepoint& operator=(PgSavepoint&&) = delete;
  PgSavepoint(const PgSavepoint&) = delete;
  PgSavepoint& operator=(const PgSavepoint&) = delete;
  ~PgSavepoint();

  // RELEASE SAVEPOINT: its writes become part of the outer transaction.
  Status Release();
  // ROLLBACK TO SAVEPOINT, then RELEASE: its writes are undone, the transaction goes on.
  Status Rollback();

 private:
  PgSavepoint(PgConnection* conn, std::string name) : conn_(conn), name_(std::move(name)) {}
  PgConnection* conn_;
  std::string name_;
};

}  // namespace overseer::store::pg
