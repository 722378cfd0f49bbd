// The Cache contract suite: every Cache adapter must pass it. An adapter's test file
// instantiates it with a factory (see event_log_contract.h):
//
//   INSTANTIATE_TEST_SUITE_P(X, CacheContract, ::testing::Values(CacheFactory{"x", open}),
//                            AdapterName());
#pragma once

#include "ctml/store/cache.h"
#include "ctml/store/contract_testing.h"

namespace ctml::store::testing {

using CacheFactory = AdapterFactory<Cache>;

class CacheContract : public ContractTest<Cache> {};

}  // namespace ctml::store::testing
