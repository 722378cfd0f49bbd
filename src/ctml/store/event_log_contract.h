// The EventLog contract suite: every EventLog adapter must pass it. An adapter's test file
// instantiates it with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, EventLogContract,
//       ::testing::Values(EventLogFactory{"sqlite", [](const std::string& dir) {
//         return OpenEventLog("sqlite://" + dir + "/eventlog.db"); }}),
//       AdapterName());
#pragma once

#include "ctml/store/contract_testing.h"
#include "ctml/store/event_log.h"

namespace ctml::store::testing {

using EventLogFactory = AdapterFactory<EventLog>;

class EventLogContract : public ContractTest<EventLog> {};

}  // namespace ctml::store::testing
