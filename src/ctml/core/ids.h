// Identifiers: UUIDv7 (time-ordered) for events, processing ids and runs.
#pragma once

#include <string>

namespace ctml {

std::string NewUuidV7();

}  // namespace ctml
