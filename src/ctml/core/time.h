// UTC time in microseconds since the Unix epoch, ISO-8601 parsing and formatting.
//
//   CTML_ASSIGN_OR_RETURN(int64_t t, ctml::ParseIso8601("2024-03-01T08:30:00+01:00"));
//   ctml::FormatIso8601(t) == "2024-03-01T07:30:00.000000Z"; ctml::FormatDate(t) == "2024-03-01"
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "ctml/core/status.h"

namespace ctml {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerHour = 3600 * kMicrosPerSecond;
constexpr int64_t kMicrosPerDay = 24 * kMicrosPerHour;

int64_t NowMicros();

// Accepts YYYY-MM-DD, YYYY-MM-DDTHH:MM, YYYY-MM-DDTHH:MM:SS with an optional fraction (up to
// 9 digits, truncated to µs) and an optional zone (Z, +HH:MM, +HHMM, -HH). No zone means UTC.
// A space may stand for the 'T'.
Result<int64_t> ParseIso8601(std::string_view text);

// A possibly partial ISO-8601 date/time ("2014", "2014-03", "2014-03-05", "2014-03-05T10:30",
// full date-times as above) placed at the start of the period it names (docs/data/
// canonical-events.md, "Partial dates"). `precision` says what was given.
enum class TimePrecision { kYear, kMonth, kDay, kMinute, kSecond };
struct PartialTime {
  int64_t micros = 0;
  TimePrecision precision = TimePrecision::kSecond;
};
Result<PartialTime> ParsePartialIso8601(std::string_view text);
// "year" | "month" | "day" | "minute" | "second"
const char* PrecisionName(TimePrecision p);
// Prints `micros` with only the components `precision` covers: "2014", "2014-03",
// "2014-03-05", "2014-03-05T10:30Z", or FormatIso8601 for kSecond.
std::string FormatPartial(int64_t micros, TimePrecision precision);

std::string FormatIso8601(int64_t micros);  // 2024-03-01T07:30:00.000000Z
std::string FormatDate(int64_t micros);     // 2024-03-01
// Start of the UTC day containing `micros`.
int64_t DayStart(int64_t micros);

}  // namespace ctml
