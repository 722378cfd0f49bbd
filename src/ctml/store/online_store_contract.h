// The OnlineStore contract suite: every OnlineStore adapter must pass it. An adapter's test file
// instantiates it with a factory (see event_log_contract.h):
//
//   INSTANTIATE_TEST_SUITE_P(X, OnlineStoreContract,
//                            ::testing::Values(OnlineStoreFactory{"x", open}), AdapterName());
#pragma once

#include "ctml/store/contract_testing.h"
#include "ctml/store/online_store.h"

namespace ctml::store::testing {

using OnlineStoreFactory = AdapterFactory<OnlineStore>;

class OnlineStoreContract : public ContractTest<OnlineStore> {};

}  // namespace ctml::store::testing
