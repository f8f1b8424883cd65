// Versioned schema migrations, backend-neutral: parsing the embedded NNNN_name.{up,down}.sql
// files and planning which steps to run. The backends (sqlite/, later postgres/) execute the
// plan, each step in its own transaction, and record it in schema_migrations. Pure; any thread.
#pragma once

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/embedded.h"
#include "common/result.h"
#include "common/time.h"
#include "store/store.h"

namespace overseer::store {

struct Migration {
  int version = 0;
  std::string name;    // "init" for 0001_init.up.sql
  std::string up_sql;  // script, may hold several statements
  std::string down_sql;
};

// Parses file names "NNNN_name.up.sql" / "NNNN_name.down.sql" (NNNN: decimal digits, name:
// [a-z0-9_]+) into migrations sorted by version. kInternal if a name is malformed, a version
// lacks its up or down file, a file is repeated, or one version carries two names.
Result<std::vector<Migration>> ParseMigrations(std::span<const embedded::File> files);

// Applied versions as recorded in schema_migrations: version -> {name, applied_at}.
struct AppliedMigration {
  std::string name;
  TimeMs applied_at = 0;
};
using AppliedMap = std::map<int, AppliedMigration>;

// The migrations not yet applied, ascending by version.
std::vector<const Migration*> PlanUp(const std::vector<Migration>& known,
                                     const AppliedMap& applied);

// The newest `steps` applied migrations, newest first (fewer if fewer are applied).
// kInvalidRequest if steps < 0; kInternal if one of them is unknown to this binary (the
// database was migrated by a newer overseer), since its down script is missing.
Result<std::vector<const Migration*>> PlanDown(const std::vector<Migration>& known,
                                               const AppliedMap& applied, int steps);

// Every known migration with its applied flag, plus applied versions unknown to this binary
// (by their recorded name), ascending by version.
std::vector<MigrationInfo> DescribeMigrations(const std::vector<Migration>& known,
                                              const AppliedMap& applied);

}  // namespace overseer::store
