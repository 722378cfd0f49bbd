// The MetaStore contract suite: every MetaStore adapter must pass it. An adapter's test file
// instantiates it with a factory (see event_log_contract.h). Each location must be a FRESH store
// (its audit chain starts at seq 1): a PostgreSQL adapter maps it to a new schema or database.
//
//   INSTANTIATE_TEST_SUITE_P(X, MetaStoreContract, ::testing::Values(MetaStoreFactory{"x", open}),
//                            AdapterName());
#pragma once

#include "ctml/store/contract_testing.h"
#include "ctml/store/meta_store.h"

namespace ctml::store::testing {

using MetaStoreFactory = AdapterFactory<MetaStore>;

class MetaStoreContract : public ContractTest<MetaStore> {};

}  // namespace ctml::store::testing
