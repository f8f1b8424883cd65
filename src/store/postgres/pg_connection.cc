// PgConnection and its helpers: URL parsing and masking, connect with a deadline, queries,
// prepared statements, transaction and savepoint guards, and the libpq → ErrorCode table.
#include "store/postgres/pg_connection.h"

#include <poll.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <limits>
#include <system_error>

#include "common/check.h"

namespace overseer::store::pg {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kMask = "***";

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// The URL masked, and the raw (still percent-encoded) password spellings found in it.
struct Masked {
  std::string text;
  std::vector<std::string> raw_secrets;
};

Masked MaskAndCollect(std::string_view url) {
  Masked out;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    out.text = std::string(url);
    return out;
  }
  const size_t auth_begin = scheme_end + 3;
  size_t query = url.find('?', auth_begin);
  if (query == std::string_view::npos) query = url.size();
  // The userinfo ends at the last '@' before the query: a password with an unencoded '@' or
  // '/' is masked whole rather than cut (libpq itself would reject such a URL).
  const size_t at = url.substr(0, query).rfind('@');
  std::string head;
  if (at != std::string_view::npos && at >= auth_begin) {
    const std::string_view userinfo = url.substr(auth_begin, at - auth_begin);
    const size_t colon = userinfo.find(':');
    if (colon != std::string_view::npos) {
      out.raw_secrets.emplace_back(userinfo.substr(colon + 1));
      head = std::string(url.substr(0, auth_begin + colon + 1)) + std::string(kMask) +
             std::string(url.substr(at, query - at));
    }
  }
  if (head.empty()) head = std::string(url.substr(0, query));
  out.text = head;
  if (query == url.size()) return out;
  out.text += '?';
  std::string_view rest = url.substr(query + 1);
  bool first = true;
  while (true) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    if (!first) out.text += '&';
    first = false;
    const size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    if (eq != std::string_view::npos && (key == "password" || key == "sslpassword")) {
      out.raw_secrets.emplace_back(pair.substr(eq + 1));
      out.text += std::string(key) + "=" + std::string(kMask);
    } else {
      out.text += pair;
    }
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return out;
}

// `text` with every non-empty secret replaced by "***".
std::string Scrub(std::string text, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (size_t pos = text.find(secret); pos != std::string::npos;
         pos = text.find(secret, pos + kMask.size())) {
      text.replace(pos, secret.size(), kMask);
    }
  }
  return text;
}

// libpq's messages end in a newline.
std::string Trim(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  return std::string(text);
}

Error ErrorFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnavailable:
      return MakeError(code, "database unavailable");
    case ErrorCode::kConflict:
      return MakeError(code, "database transaction aborted by a concurrent one");
    default:
      return MakeError(ErrorCode::kInternal, "database error");
  }
}

void LogNotice(void* /*arg*/, const char* message) { spdlog::debug("postgres: {}", Trim(message)); }

bool IsIdentifier(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

bool IsPgUrl(std::string_view url) {
  return StartsWith(url, "postgresql://") || StartsWith(url, "postgres://");
}

std::string MaskPgUrl(std::string_view url) { return MaskAndCollect(url).text; }

Result<PgConfig> ParsePgUrl(std::string_view url) {
  Masked masked = MaskAndCollect(url);
  if (!IsPgUrl(url)) {
    // Only a URL is echoed (masked): a key=value string would show its password.
    return MakeError(ErrorCode::kInvalidRequest,
                     "not a PostgreSQL URL (postgresql://... or postgres://...)" +
                         (url.find("://") == std::string_view::npos ? "" : ": " + masked.text));
  }
  char* errmsg = nullptr;
  PQconninfoOption* options = PQconninfoParse(std::string(url).c_str(), &errmsg);
  if (options == nullptr) {
    std::string why = errmsg != nullptr ? Trim(errmsg) : "out of memory";
    if (errmsg != nullptr) PQfreemem(errmsg);
    return MakeError(ErrorCode::kInvalidRequest, "invalid PostgreSQL URL " + masked.text + ": " +
                                                     Scrub(std::move(why), masked.raw_secrets));
  }
  PgConfig config;
  config.masked_url = std::move(masked.text);
  config.secrets = std::move(masked.raw_secrets);
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    config.params.emplace_back(o->keyword, o->val);
    const std::string_view key = o->keyword;
    if (key == "password" || key == "sslpassword") config.secrets.emplace_back(o->val);
  }
  PQconninfoFree(options);
  const auto has = [&](std::string_view key) {
    return std::any_of(config.params.begin(), config.params.end(),
                       [&](const auto& p) { return p.first == key; });
  };
  for (const auto& [key, value] : config.params) {
    if (key != "connect_timeout") continue;
    int seconds = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size() || seconds > 3600) {
      return MakeError(ErrorCode::kInvalidRequest,
                       "invalid PostgreSQL URL " + config.masked_url +
                           ": connect_timeout must be a number of seconds");
    }
    if (seconds > 0) config.connect_timeout = std::chrono::seconds(seconds);
  }
  // Defaults where the URL is silent: a name in pg_stat_activity (PGAPPNAME still wins),
  // UTF-8, and a dead peer noticed within ~30 s instead of the kernel's two hours.
  constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kDefaults = {{
      {"fallback_application_name", "overseer"},
      {"client_encoding", "UTF8"},
      {"keepalives_idle", "10"},
      {"keepalives_interval", "5"},
      {"keepalives_count", "3"},
      {"tcp_user_timeout", "30000"},
  }};
  for (const auto& [key, value] : kDefaults) {
    if (!has(key)) config.params.emplace_back(key, value);
  }
  return config;
}

ErrorCode PgErrorCodeFor(std::string_view sqlstate, bool connection_ok) {
  if (!connection_ok) return ErrorCode::kUnavailable;
  if (sqlstate == "40001" || sqlstate == "40P01") return ErrorCode::kConflict;
  if (StartsWith(sqlstate, "08") || StartsWith(sqlstate, "53") || sqlstate == "57P01" ||
      sqlstate == "57P02" || sqlstate == "57P03" || sqlstate == "55P03" || sqlstate == "57014") {
    return ErrorCode::kUnavailable;
  }
  return ErrorCode::kInternal;
}

PgParam ToPgParam(double v) {
  std::array<char, 32> buf{};
  const auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  OVERSEER_CHECK(ec == std::errc());
  return std::string(buf.data(), end);
}

// ---- PgResult ----

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (res_ != nullptr) PQclear(res_);
    res_ = std::exchange(other.res_, nullptr);
  }
  return *this;
}

PgResult::~PgResult() {
  if (res_ != nullptr) PQclear(res_);
}

int PgResult::rows() const { return res_ == nullptr ? 0 : PQntuples(res_); }

int PgResult::columns() const { return res_ == nullptr ? 0 : PQnfields(res_); }

int PgResult::Column(std::string_view name) const {
  for (int c = 0; c < columns(); ++c) {
    if (name == PQfname(res_, c)) return c;
  }
  return -1;
}

bool PgResult::IsNull(int row, int col) const {
  OVERSEER_CHECK(row >= 0 && row < rows() && col >= 0 && col < columns());
  return PQgetisnull(res_, row, col) != 0;
}

std::string_view PgResult::Text(int row, int col) const {
  OVERSEER_CHECK(row >= 0 && row < rows() && col >= 0 && col < columns());
  const int length = PQgetlength(res_, row, col);
  return {PQgetvalue(res_, row, col), static_cast<size_t>(length)};
}

std::optional<int64_t> PgResult::Int64(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  const std::string_view text = Text(row, col);
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

int64_t PgResult::affected_rows() const {
  if (res_ == nullptr) return 0;
  const std::string_view text = PQcmdTuples(res_);
  int64_t v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

// ---- PgConnection ----

PgConnection::PgConnection(PGconn* conn, std::string masked_url, std::vector<std::string> secrets)
    : conn_(conn), masked_url_(std::move(masked_url)), secrets_(std::move(secrets)) {
  PQsetNoticeProcessor(conn_, LogNotice, nullptr);
}

PgConnection::~PgConnection() { PQfinish(conn_); }

Result<std::unique_ptr<PgConnection>> PgConnection::Connect(const PgConfig& config,
                                                            std::chrono::milliseconds timeout) {
  std::vector<const char*> keys;
  std::vector<const char*> values;
  for (const auto& [key, value] : config.params) {
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  const Clock::time_point deadline = Clock::now() + timeout;
  PGconn* conn = PQconnectStartParams(keys.data(), values.data(), 0);
  const auto fail = [&](std::string_view why) -> Error {
    spdlog::warn("postgres: cannot connect to {}: {}", config.masked_url,
                 Scrub(Trim(why), config.secrets));
    PQfinish(conn);  // null-safe
    return MakeError(ErrorCode::kUnavailable, "database unavailable: cannot connect");
  };
  if (conn == nullptr) return fail("out of memory");
  if (PQstatus(conn) == CONNECTION_BAD) return fail(PQerrorMessage(conn));
  // libpq's non-blocking connect: wait for the socket the way PQconnectPoll asks, each wait
  // bounded by what is left of `timeout` (the socket may change as libpq tries hosts).
  PostgresPollingStatusType poll_status = PGRES_POLLING_WRITING;
  while (poll_status != PGRES_POLLING_OK) {
    if (poll_status == PGRES_POLLING_FAILED) return fail(PQerrorMessage(conn));
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return fail("timed out after " + std::to_string(timeout.count()) + " ms");
    }
    pollfd pfd{};
    pfd.fd = PQsocket(conn);
    if (pfd.fd < 0) return fail(PQerrorMessage(conn));
    pfd.events = poll_status == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left.count(), 60'000)));
    if (ready < 0 && errno != EINTR) return fail("poll failed");
    if (ready <= 0) continue;  // timed out (checked above) or interrupted
    poll_status = PQconnectPoll(conn);
  }
  return std::unique_ptr<PgConnection>(new PgConnection(conn, config.masked_url, config.secrets));
}

Result<PgResult> PgConnection::Finish(PGresult* res, std::string_view what, bool quiet) {
  const ExecStatusType status = res == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(res);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    last_sqlstate_.clear();
    return PgResult(res);
  }
  const char* sqlstate = res == nullptr ? nullptr : PQresultErrorField(res, PG_DIAG_SQLSTATE);
  last_sqlstate_ = sqlstate == nullptr ? "" : sqlstate;
  const bool connection_ok = PQstatus(conn_) == CONNECTION_OK;
  const ErrorCode code = PgErrorCodeFor(last_sqlstate_, connection_ok);
  std::string message = res == nullptr ? PQerrorMessage(conn_) : PQresultErrorMessage(res);
  if (message.empty()) message = PQresStatus(status);
  message = Scrub(Trim(message), secrets_);
  if (quiet) {
    spdlog::debug("postgres: {} failed after an earlier failure: [{}] {}", what, last_sqlstate_,
                  message);
  } else if (code == ErrorCode::kInternal) {
    spdlog::error("postgres: {} failed: [{}] {}", what, last_sqlstate_, message);
  } else {
    spdlog::warn("postgres: {} failed: [{}] {}{}", what, last_sqlstate_, message,
                 connection_ok ? "" : " (connection lost)");
  }
  PQclear(res);  // null-safe
  return ErrorFor(code);
}

Result<PgResult> PgConnection::ExecParams(std::string_view sql,
                                          const std::vector<PgParam>& params) {
  if (Status st = Settle(); !st) return std::move(st).error();
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const PgParam& p : params) values.push_back(p ? p->c_str() : nullptr);
  const std::string text(sql);
  PGresult* res = PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                               values.data(), nullptr, nullptr, 0);
  return Finish(res, "query");
}

Status PgConnection::ExecScript(std::string_view sql) {
  if (Status st = Settle(); !st) return st;
  Result<PgResult> r = Finish(PQexec(conn_, std::string(sql).c_str()), "script");
  if (!r) return std::move(r).error();
  return OkStatus();
}

Status PgConnection::Prepare(const std::string& name, std::string_view sql) {
  if (Status st = Settle(); !st) return st;
  Result<PgResult> r =
      Finish(PQprepare(conn_, name.c_str(), std::string(sql).c_str(), 0, nullptr), "prepare");
  if (!r) return std::move(r).error();
  prepared_.insert(name);
  return OkStatus();
}

Status PgConnection::EnsurePrepared(const std::string& name, std::string_view sql) {
  if (IsPrepared(name)) return OkStatus();
  return Prepare(name, sql);
}

Result<PgResult> PgConnection::ExecPreparedParams(const std::string& name,
                                                  const std::vector<PgParam>& params) {
  if (Status st = Settle(); !st) return std::move(st).error();
  if (!IsPrepared(name)) {
    spdlog::error("postgres: statement {} is not prepared on this connection", name);
    return MakeError(ErrorCode::kInternal, "database error");
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const PgParam& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* res = PQexecPrepared(conn_, name.c_str(), static_cast<int>(values.size()),
                                 values.data(), nullptr, nullptr, 0);
  return Finish(res, name);
}

Status PgConnection::DeallocateAll() {
  prepared_.clear();
  Result<PgResult> r = Exec("DEALLOCATE ALL");
  if (!r) return std::move(r).error();
  return OkStatus();
}

bool PgConnection::CheckAlive() {
  // A connection with answers still to read is not one to hand on (nor to roll back on).
  if (broken_ || !queue_.empty() || PQstatus(conn_) != CONNECTION_OK) return false;
  pollfd pfd{};
  pfd.fd = PQsocket(conn_);
  if (pfd.fd < 0) return false;
  pfd.events = POLLIN;
  // Something to read while idle: a backend that went away sends a FATAL message, then EOF.
  // PQconsumeInput returns after the message without trying the EOF, so read until the
  // socket has nothing more (a few rounds at most: nothing else arrives while idle).
  for (int round = 0; round < 8 && ::poll(&pfd, 1, 0) > 0; ++round) {
    if (PQconsumeInput(conn_) == 0) return false;
  }
  return PQstatus(conn_) == CONNECTION_OK;
}

// ---- Pipeline mode ----

Status PgConnection::Settle() {
  if (broken_) return ErrorFor(ErrorCode::kUnavailable);
  return Flush();
}

Status PgConnection::SendFailed(std::string_view what) {
  spdlog::warn("postgres: cannot send {}: {}", what, Scrub(Trim(PQerrorMessage(conn_)), secrets_));
  // What cannot be sent is a connection that is going or gone (libpq may not have noticed).
  Discard();
  broken_ = true;
  return ErrorFor(ErrorCode::kUnavailable);
}

Status PgConnection::Send(const std::string& name, std::string_view sql,
                          const std::vector<PgParam>& params, Check check) {
  if (broken_) return ErrorFor(ErrorCode::kUnavailable);
  if (PQpipelineStatus(conn_) == PQ_PIPELINE_OFF && PQenterPipelineMode(conn_) != 1) {
    return SendFailed(name);
  }
  if (!IsPrepared(name) && !preparing_.contains(name)) {
    if (PQsendPrepare(conn_, name.c_str(), std::string(sql).c_str(), 0, nullptr) != 1) {
      return SendFailed(name);
    }
    queue_.push_back(Queued{"prepare " + name, name, nullptr});
    preparing_.insert(name);
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const PgParam& p : params) values.push_back(p ? p->c_str() : nullptr);
  if (PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(values.size()), values.data(),
                          nullptr, nullptr, 0) != 1) {
    return SendFailed(name);
  }
  queue_.push_back(Queued{name, "", std::move(check)});
  // Bounded, so that the answers waiting to be read cannot fill the socket buffers both ways.
  if (queue_.size() >= kMaxPipelined) return Flush();
  return OkStatus();
}

Status PgConnection::SendSql(const std::string& sql, Check check) {
  if (broken_) return ErrorFor(ErrorCode::kUnavailable);
  if (PQpipelineStatus(conn_) == PQ_PIPELINE_OFF && PQenterPipelineMode(conn_) != 1) {
    return SendFailed(sql);
  }
  if (PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) != 1) {
    return SendFailed(sql);
  }
  queue_.push_back(Queued{sql, "", std::move(check)});
  if (queue_.size() >= kMaxPipelined) return Flush();
  return OkStatus();
}

bool PgConnection::HasQueuedChecks() const {
  return std::any_of(queue_.begin(), queue_.end(),
                     [](const Queued& q) { return q.check != nullptr; });
}

Status PgConnection::Flush() { return Drain(/*run_checks=*/true); }

void PgConnection::Discard() {
  if (Status st = Drain(/*run_checks=*/false); !st) {
    spdlog::debug("postgres: discarded pipeline had failed: {}", st.error().message);
  }
}

Status PgConnection::Drain(bool run_checks) {
  if (queue_.empty() && PQpipelineStatus(conn_) == PQ_PIPELINE_OFF) return OkStatus();
  std::vector<Queued> queue = std::exchange(queue_, {});
  preparing_.clear();
  std::optional<Error> first;
  std::string first_sqlstate;
  bool out_of_step = PQpipelineSync(conn_) != 1;
  for (Queued& q : queue) {
    if (out_of_step) break;
    PGresult* res = PQgetResult(conn_);
    if (res == nullptr) {
      out_of_step = true;
      break;
    }
    if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED) {
      PQclear(res);  // skipped by the server after an earlier statement's error
    } else if (Result<PgResult> r = Finish(res, q.what, /*quiet=*/first.has_value()); !r) {
      if (!first) {
        first = std::move(r).error();
        first_sqlstate = last_sqlstate_;
      }
    } else if (!q.prepares.empty()) {
      prepared_.insert(q.prepares);
    } else if (run_checks && !first && q.check) {
      if (Status st = q.check(*r); !st) first = std::move(st).error();
    }
    // Each statement's answers end in a null.
    if (PGresult* end = PQgetResult(conn_); end != nullptr) {
      PQclear(end);
      out_of_step = true;
    }
  }
  if (!out_of_step) {
    PGresult* sync = PQgetResult(conn_);
    out_of_step = sync == nullptr || PQresultStatus(sync) != PGRES_PIPELINE_SYNC;
    PQclear(sync);  // null-safe
  }
  if (out_of_step || PQexitPipelineMode(conn_) != 1) {
    broken_ = true;
    const bool connection_ok = PQstatus(conn_) == CONNECTION_OK;
    spdlog::warn("postgres: pipeline answers could not be read{}; closing the connection",
                 connection_ok ? "" : " (connection lost)");
    if (!first) {
      first = ErrorFor(connection_ok ? ErrorCode::kInternal : ErrorCode::kUnavailable);
      first_sqlstate.clear();
    }
  }
  if (!first) {
    last_sqlstate_.clear();
    return OkStatus();
  }
  last_sqlstate_ = first_sqlstate;
  return std::move(*first);
}

PGTransactionStatusType PgConnection::transaction_status() const {
  return PQtransactionStatus(conn_);
}

int PgConnection::backend_pid() const { return PQbackendPID(conn_); }

// ---- PgTransaction ----

Result<PgTransaction> PgTransaction::Begin(PgConnection& conn, Isolation isolation) {
  std::string_view sql = "BEGIN";
  switch (isolation) {
    case Isolation::kReadCommitted:
      break;
    case Isolation::kRepeatableRead:
      sql = "BEGIN ISOLATION LEVEL REPEATABLE READ";
      break;
    case Isolation::kSerializable:
      sql = "BEGIN ISOLATION LEVEL SERIALIZABLE";
      break;
  }
  Result<PgResult> r = conn.Exec(sql);
  if (!r) return std::move(r).error();
  return PgTransaction(&conn);
}

Result<PgTransaction> PgTransaction::Send(PgConnection& conn) {
  if (Status st = conn.SendSql("BEGIN"); !st) return std::move(st).error();
  return PgTransaction(&conn);
}

PgTransaction::~PgTransaction() {
  if (conn_ == nullptr) return;
  if (Status st = Rollback(); !st)
    spdlog::warn("postgres: rollback of an abandoned transaction failed");
}

Status PgTransaction::Commit() {
  PgConnection* conn = std::exchange(conn_, nullptr);
  OVERSEER_CHECK(conn != nullptr);
  // Only statements whose success is all that counts may travel with the COMMIT: a failed
  // check must keep it from being sent.
  if (conn->HasQueuedChecks()) {
    if (Status st = conn->Flush(); !st) {
      conn_ = conn;  // rolled back as the guard goes
      return st;
    }
  }
  if (conn->pipelined() > 0) {
    Status st = conn->SendSql("COMMIT");
    if (st) st = conn->Flush();
    if (!st && conn->CheckAlive() && conn->transaction_status() != PQTRANS_IDLE) conn_ = conn;
    return st;
  }
  // COMMIT of a transaction an earlier statement aborted "succeeds" as a ROLLBACK: say so.
  if (conn->transaction_status() == PQTRANS_INERROR) {
    Result<PgResult> r = conn->Exec("ROLLBACK");
    if (!r) return std::move(r).error();
    spdlog::error("postgres: commit of a transaction an earlier statement failed");
    return MakeError(ErrorCode::kInternal, "database error");
  }
  Result<PgResult> r = conn->Exec("COMMIT");
  if (!r) return std::move(r).error();
  return OkStatus();
}

Status PgTransaction::Rollback() {
  PgConnection* conn = std::exchange(conn_, nullptr);
  OVERSEER_CHECK(conn != nullptr);
  conn->Discard();
  // A lost connection has no transaction left to roll back.
  if (!conn->CheckAlive()) return ErrorFor(ErrorCode::kUnavailable);
  Result<PgResult> r = conn->Exec("ROLLBACK");
  if (!r) return std::move(r).error();
  return OkStatus();
}

// ---- PgSavepoint ----

Result<PgSavepoint> PgSavepoint::Begin(PgConnection& conn, std::string name) {
  if (!IsIdentifier(name)) {
    return MakeError(ErrorCode::kInvalidRequest, "savepoint name must be a plain identifier");
  }
  Result<PgResult> r = conn.Exec("SAVEPOINT " + name);
  if (!r) return std::move(r).error();
  return PgSavepoint(&conn, std::move(name));
}

PgSavepoint::~PgSavepoint() {
  if (conn_ == nullptr) return;
  if (Status st = Rollback(); !st) spdlog::warn("postgres: rollback to savepoint failed");
}

Status PgSavepoint::Release() {
  PgConnection* conn = std::exchange(conn_, nullptr);
  OVERSEER_CHECK(conn != nullptr);
  Result<PgResult> r = conn->Exec("RELEASE SAVEPOINT " + name_);
  if (!r) return std::move(r).error();
  return OkStatus();
}

Status PgSavepoint::Rollback() {
  PgConnection* conn = std::exchange(conn_, nullptr);
  OVERSEER_CHECK(conn != nullptr);
  conn->Discard();
  if (!conn->CheckAlive()) return ErrorFor(ErrorCode::kUnavailable);
  Result<PgResult> r = conn->Exec("ROLLBACK TO SAVEPOINT " + name_);
  if (r) r = conn->Exec("RELEASE SAVEPOINT " + name_);
  if (!r) return std::move(r).error();
  return OkStatus();
}

}  // namespace overseer::store::pg
