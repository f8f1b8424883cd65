// The Store conformance suite: every backend must pass the same TEST_Ps, which assert only
// what store.h promises (no backend's wording, file or SQL: those go to the backend's own
// test, e.g. sqlite_store_test.cc). A backend joins by providing a factory of StoreBackend
// (a fresh, empty database per test, opened as often as a test asks) and instantiating
//   INSTANTIATE_TEST_SUITE_P(Name, StoreConformanceTest, testing::Values(BackendFactory{...}),
//                            BackendName);
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "common/result.h"
#include "common/time.h"
#include "core/types.h"
#include "store/store.h"

namespace overseer::store::testing_support {

// The time rows of the suite are stamped with.
inline constexpr TimeMs kT0 = 1'764'000'000'000;

// Minimal valid rows (store_conformance_test.cc): a job of `ws` in `status` at `depth` under
// `parent`, a worker of `job_id` in `status`.
core::Job MakeJob(const std::string& ws, core::JobState status = core::JobState::kSubmitted,
                  const std::string& parent = "", int depth = 0);
core::Worker MakeWorker(const std::string& ws, const std::string& job_id,
                        core::WorkerState status = core::WorkerState::kIdle);

// One fresh database for one test.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // A new connection to this test's database (not migrated).
  virtual Result<std::unique_ptr<Store>> Open() = 0;
  // True if a second Open() sees what the first one wrote (false for SQLite :memory:).
  virtual bool Persistent() const = 0;
  // Rows in `table`, to check what Apply wrote where the interface has no reader (events).
  virtual Result<int64_t> CountRows(Store& store, const std::string& table) = 0;
};

struct BackendFactory {
  std::string name;
  std::function<std::unique_ptr<StoreBackend>()> make;
};

inline void PrintTo(const BackendFactory& f, std::ostream* os) { *os << f.name; }

inline std::string BackendName(const ::testing::TestParamInfo<BackendFactory>& info) {
  return info.param.name;
}

class StoreConformanceTest : public ::testing::TestWithParam<BackendFactory> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make();
    ASSERT_NE(backend_, nullptr);
    Result<std::unique_ptr<Store>> opened = backend_->Open();
    ASSERT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(*opened);
    Status st = store_->MigrateUp();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  void TearDown() override {
    store_.reset();
    backend_.reset();
  }

  int64_t Rows(const std::string& table) {
    Result<int64_t> n = backend_->CountRows(*store_, table);
    EXPECT_TRUE(n.ok()) << (n.ok() ? "" : n.error().message);
    return n.ok() ? *n : -1;
  }

  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

}  // namespace overseer::store::testing_support
