// Deterministic demo patient ids, so that the manager can show a user an id to query without the
// generator ever writing raw ids anywhere.
//
//   std::string id = ctml::ingest::DemoPatientId(/*seed=*/7, /*index=*/0);  // "PT" + 8 [A-Z0-9]
#pragma once

#include <cstdint>
#include <string>

namespace ctml::ingest {

std::string DemoPatientId(uint64_t seed, int index);

}  // namespace ctml::ingest
