// Test-only helpers shared by the port contract suites (*_contract.cc) and adapter tests.
// Include only from test files: it pulls in gtest.
//
//   ctml::store::testing::ScopedTempDir dir;            // removed with its content at scope end
//   std::string db = dir.path() + "/log.db";
//   std::string topic = ctml::store::testing::Unique("vitals");   // "vitals-3f9a1c2e"
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>

#include "ctml/core/crypto.h"
#include "ctml/core/status.h"

namespace ctml::store::testing {

// A name with a random suffix: keeps tests independent on shared distributed stores.
inline std::string Unique(const std::string& prefix) {
  return prefix + "-" + HexEncode(RandomBytes(4));
}

// The URI of a real service for the distributed adapters' suites: the environment variable
// `env` when set, else `fallback`, the address scripts/services/<name>.sh starts it on.
// scripts/test.sh starts every service before the tests; run alone, start it first, e.g.
// `scripts/services/redis.sh start`. A service that is down fails the tests (never skips them).
inline std::string ServiceUri(const char* env, const std::string& fallback) {
  const char* v = std::getenv(env);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// A fresh directory under ::testing::TempDir(), removed recursively on destruction.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    path_ = (std::filesystem::path(::testing::TempDir()) / Unique("ctml-store")).string();
    std::filesystem::create_directories(path_);
  }
  ~ScopedTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// How a contract suite opens the adapter under test. `open(location)` gets a fresh temp dir per
// test (file adapters put their files there; distributed adapters may ignore it and isolate by
// unique names). Opening the same location twice must give two independent instances of ONE
// store, as two processes would have.
template <typename Port>
struct AdapterFactory {
  std::string name;  // a gtest-safe name: letters, digits, '_'
  std::function<Result<std::unique_ptr<Port>>(const std::string& location)> open;
};

template <typename Port>
void PrintTo(const AdapterFactory<Port>& f, std::ostream* os) {
  *os << f.name;
}

// Names instantiations after the adapter:
//   INSTANTIATE_TEST_SUITE_P(X, Suite, ::testing::Values(...), AdapterName());
struct AdapterName {
  template <typename Param>
  std::string operator()(const ::testing::TestParamInfo<Param>& info) const {
    return info.param.name;
  }
};

// Base fixture of the contract suites: a temp dir per test and Open() on it.
template <typename Port>
class ContractTest : public ::testing::TestWithParam<AdapterFactory<Port>> {
 protected:
  Result<std::unique_ptr<Port>> Open() { return this->GetParam().open(dir_.path()); }
  const std::string& location() const { return dir_.path(); }

 private:
  ScopedTempDir dir_;
};

}  // namespace ctml::store::testing

// Unwraps a Result<T> in a test, failing the test with the status when it is an error.
#define CTML_TEST_ASSIGN(lhs, rexpr)                        \
  auto CTML_CONCAT(_tres_, __LINE__) = (rexpr);             \
  ASSERT_TRUE(CTML_CONCAT(_tres_, __LINE__).ok())           \
      << CTML_CONCAT(_tres_, __LINE__).status().ToString(); \
  lhs = std::move(CTML_CONCAT(_tres_, __LINE__)).value()

#define CTML_TEST_OK(expr)                     \
  do {                                         \
    ::ctml::Status _tst = (expr);              \
    ASSERT_TRUE(_tst.ok()) << _tst.ToString(); \
  } while (false)
