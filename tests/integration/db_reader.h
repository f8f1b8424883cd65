// Access to the daemon's database for tests that check what it wrote (the halt events, the
// invariant test's records), read-only unless opened `writable` (a test playing a second
// writer on the same database, e.g. another daemon holding slots): one interface, two backends
// (SQLite through the file, PostgreSQL through libpq). A query is written once: its parameter is $1
// on both, and the column types that differ are read through Ms() and JsonText():
//   time columns  SQLite integer milliseconds | PostgreSQL timestamptz
//   JSON columns  SQLite text                 | PostgreSQL jsonb
//   flags         SQLite 0/1                  | PostgreSQL boolean (Row::Int gives 0/1)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace overseer::it {

class DbRow {
 public:
  virtual ~DbRow() = default;
  virtual bool Null(int col) const = 0;
  virtual std::string Text(int col) const = 0;  // "" for null
  virtual int64_t Int(int col) const = 0;       // 0 for null; booleans 0/1
};

class DbReader {
 public:
  // `db`: a SQLite file path (opened read-only) or a postgresql:// URL (Daemon::db()). Never
  // null; a reader that could not open says so through error() and answers no query.
  static std::unique_ptr<DbReader> Open(const std::string& db, bool writable = false);
  virtual ~DbReader() = default;

  // The SQL expression for time column `col` as integer epoch milliseconds.
  virtual std::string Ms(const std::string& col) const = 0;
  // The SQL value of time column type for `ms` epoch milliseconds (to write one).
  virtual std::string MsValue(int64_t ms) const = 0;
  // The SQL expression for JSON column `col` as its JSON text.
  virtual std::string JsonText(const std::string& col) const = 0;

  // Runs `sql` with $1 bound to `param` (if the query has it), calling `row` per row (none for
  // a write, on a reader opened writable). False (with error() set) on any failure.
  virtual bool Query(const std::string& sql, const std::string& param,
                     const std::function<void(const DbRow&)>& row) = 0;

  const std::string& error() const { return error_; }

 protected:
  std::string error_;
};

}  // namespace overseer::it
