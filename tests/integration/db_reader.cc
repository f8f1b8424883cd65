// DbReader's two backends: SQLite (the file, read-only unless writable; busy timeout) and
// PostgreSQL (libpq, text results).
#include "integration/db_reader.h"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <cstdlib>
#include <string>

namespace overseer::it {
namespace {

class SqliteRow final : public DbRow {
 public:
  explicit SqliteRow(sqlite3_stmt* st) : st_(st) {}
  bool Null(int col) const override { return sqlite3_column_type(st_, col) == SQLITE_NULL; }
  std::string Text(int col) const override {
    const unsigned char* t = sqlite3_column_text(st_, col);
    return t == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(t));
  }
  int64_t Int(int col) const override { return Null(col) ? 0 : sqlite3_column_int64(st_, col); }

 private:
  sqlite3_stmt* st_;
};

class SqliteReader final : public DbReader {
 public:
  SqliteReader(const std::string& path, bool writable) {
    const int flags = writable ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
      error_ = "open " + path + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory");
      return;
    }
    sqlite3_busy_timeout(db_, 5000);
  }
  ~SqliteReader() override { sqlite3_close(db_); }
  SqliteReader(const SqliteReader&) = delete;
  SqliteReader& operator=(const SqliteReader&) = delete;

  std::string Ms(const std::string& col) const override { return col; }
  std::string MsValue(int64_t ms) const override { return std::to_string(ms); }
  std::string JsonText(const std::string& col) const override { return col; }

  bool Query(const std::string& sql, const std::string& param,
             const std::function<void(const DbRow&)>& row) override {
    if (!error_.empty()) return false;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      error_ = "prepare: " + std::string(sqlite3_errmsg(db_)) + " in " + sql;
      return false;
    }
    if (sqlite3_bind_parameter_count(st) > 0) {
      sqlite3_bind_text(st, 1, param.c_str(), -1, SQLITE_TRANSIENT);
    }
    int rc = 0;
    const SqliteRow r(st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) row(r);
    if (rc != SQLITE_DONE) error_ = "step: " + std::string(sqlite3_errmsg(db_)) + " in " + sql;
    sqlite3_finalize(st);
    return error_.empty();
  }

 private:
  sqlite3* db_ = nullptr;
};

class PgRow final : public DbRow {
 public:
  PgRow(const PGresult* res, int row) : res_(res), row_(row) {}
  bool Null(int col) const override { return PQgetisnull(res_, row_, col) != 0; }
  std::string Text(int col) const override {
    return Null(col) ? std::string() : std::string(PQgetvalue(res_, row_, col));
  }
  int64_t Int(int col) const override {
    if (Null(col)) return 0;
    const std::string v = PQgetvalue(res_, row_, col);
    if (v == "t") return 1;
    if (v == "f") return 0;
    return std::strtoll(v.c_str(), nullptr, 10);
  }

 private:
  const PGresult* res_;
  int row_;
};

class PgReader final : public DbReader {
 public:
  PgReader(const std::string& url, bool writable) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) {
      error_ = "connect: " + std::string(PQerrorMessage(conn_));
      return;
    }
    if (!writable) {
      PGresult* res = PQexec(conn_, "SET default_transaction_read_only = on");
      if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        error_ = "read-only: " + std::string(PQresultErrorMessage(res));
      }
      PQclear(res);
    }
  }
  ~PgReader() override { PQfinish(conn_); }
  PgReader(const PgReader&) = delete;
  PgReader& operator=(const PgReader&) = delete;

  std::string Ms(const std::string& col) const override {
    return "(extract(epoch from " + col + ") * 1000)::bigint";
  }
  std::string MsValue(int64_t ms) const override {
    return "to_timestamp(" + std::to_string(ms) + " / 1000.0)";
  }
  std::string JsonText(const std::string& col) const override { return col + "::text"; }

  bool Query(const std::string& sql, const std::string& param,
             const std::function<void(const DbRow&)>& row) override {
    if (!error_.empty()) return false;
    const bool has_param = sql.find("$1") != std::string::npos;
    const char* values[1] = {param.c_str()};
    PGresult* res = PQexecParams(conn_, sql.c_str(), has_param ? 1 : 0, nullptr,
                                 has_param ? values : nullptr, nullptr, nullptr, 0);
    const ExecStatusType status = PQresultStatus(res);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
      error_ = "query: " + std::string(PQresultErrorMessage(res)) + " in " + sql;
    } else {
      for (int i = 0; i < PQntuples(res); ++i) row(PgRow(res, i));
    }
    PQclear(res);
    return error_.empty();
  }

 private:
  PGconn* conn_;
};

}  // namespace

std::unique_ptr<DbReader> DbReader::Open(const std::string& db, bool writable) {
  if (db.rfind("postgresql://", 0) == 0 || db.rfind("postgres://", 0) == 0) {
    return std::make_unique<PgReader>(db, writable);
  }
  return std::make_unique<SqliteReader>(db, writable);
}

}  // namespace overseer::it
