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

// A one-row table with one int64 column "x" holding `v`: the smallest real Parquet content, for
// adapter tests beside the contract.
std::shared_ptr<arrow::Table> OneColumn(int64_t v);

}  // namespace ctml::store::testing
