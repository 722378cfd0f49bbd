// The Lake contract suite: every Lake adapter must pass it. An adapter's test file
// instantiates it with a factory (see event_log_contract.h):
//
//   INSTANTIATE_TEST_SUITE_P(X, LakeContract, ::testing::Values(LakeFactory{"x", open}),
//                            AdapterName());
#pragma once

#include "ctml/store/contract_testing.h"
#include "ctml/store/lake.h"

namespace ctml::store::testing {

using LakeFactory = AdapterFactory<Lake>;

class LakeContract : public ContractTest<Lake> {};

}  // namespace ctml::store::testing
