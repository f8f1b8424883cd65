// Files compiled into the binary at build time (cmake/embed.cmake): migrations, the
// OpenAPI document, Swagger UI. Each embed set is a function returning its files sorted
// by name. Any thread.
#pragma once

#include <span>
#include <string_view>

namespace overseer::embedded {

struct File {
  std::string_view name;  // base name, e.g. "0001_init.up.sql"
  std::string_view data;
};

// The accessors are named after their resource sets (cmake/embed.cmake generates them).
// NOLINTBEGIN(readability-identifier-naming)
std::span<const File> sqlite_migrations();
// src/store/migrations/postgres/*.sql: the PostgreSQL forms of the same migrations.
std::span<const File> postgres_migrations();
// api/openapi.yaml and its JSON conversion: "openapi.json", "openapi.yaml".
std::span<const File> openapi_docs();
// The Swagger UI page served at /docs: index.html, its initializer, swagger-ui-dist files.
std::span<const File> swagger_ui();
// NOLINTEND(readability-identifier-naming)

}  // namespace overseer::embedded
