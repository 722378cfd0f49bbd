#include "ctml/core/time.h"

#include <fmt/format.h>

#include <charconv>
#include <chrono>

namespace ctml {
namespace {

bool ReadInt(std::string_view s, size_t pos, size_t len, int* out) {
  if (pos + len > s.size()) return false;
  for (size_t i = pos; i < pos + len; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  auto r = std::from_chars(s.data() + pos, s.data() + pos + len, *out);
  return r.ec == std::errc();
}

Status Bad(std::string_view text, const char* why) {
  return Status::Invalid(fmt::format("invalid ISO-8601 time '{}': {}", text.substr(0, 40), why));
}

}  // namespace

int64_t NowMicros() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

Result<int64_t> ParseIso8601(std::string_view s) {
  using namespace std::chrono;
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!ReadInt(s, 0, 4, &y) || s.size() < 10 || s[4] != '-' || !ReadInt(s, 5, 2, &mo) ||
      s[7] != '-' || !ReadInt(s, 8, 2, &d)) {
    return Bad(s, "expected YYYY-MM-DD");
  }
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return Bad(s, "no such date");
  size_t pos = 10;
  int64_t frac_us = 0;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == ' ')) {
    if (!ReadInt(s, pos + 1, 2, &h) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !ReadInt(s, pos + 4, 2, &mi)) {
      return Bad(s, "expected HH:MM after the date");
    }
    pos += 6;
    if (pos < s.size() && s[pos] == ':') {
      if (!ReadInt(s, pos + 1, 2, &sec)) return Bad(s, "expected seconds");
      pos += 3;
      if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
        ++pos;
        int digits = 0;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
          if (digits < 6) frac_us = frac_us * 10 + (s[pos] - '0');
          ++digits;
          ++pos;
        }
        if (digits == 0) return Bad(s, "empty fraction");
        for (int i = digits; i < 6; ++i) frac_us *= 10;
      }
    }
    if (h > 23 || mi > 59 || sec > 60) return Bad(s, "time of day out of range");
  }
  int64_t offset_s = 0;
  if (pos < s.size()) {
    char c = s[pos];
    if (c == 'Z' || c == 'z') {
      ++pos;
    } else if (c == '+' || c == '-') {
      int oh = 0, om = 0;
      if (!ReadInt(s, pos + 1, 2, &oh)) return Bad(s, "bad zone offset");
      size_t p = pos + 3;
      if (p < s.size() && s[p] == ':') ++p;
      if (p < s.size()) {
        if (!ReadInt(s, p, 2, &om)) return Bad(s, "bad zone offset");
        p += 2;
      }
      if (oh > 18 || om > 59) return Bad(s, "zone offset out of range");
      offset_s = (oh * 3600 + om * 60) * (c == '+' ? 1 : -1);
      pos = p;
    }
    if (pos != s.size()) return Bad(s, "unexpected trailing characters");
  }
  int64_t days = sys_days(ymd).time_since_epoch().count();
  int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
  return secs * kMicrosPerSecond + frac_us;
}

Result<PartialTime> ParsePartialIso8601(std::string_view s) {
  using namespace std::chrono;
  int y = 0, mo = 1;
  if (s.size() == 4 || s.size() == 7) {
    if (!ReadInt(s, 0, 4, &y)) return Bad(s, "expected YYYY");
    TimePrecision p = TimePrecision::kYear;
    if (s.size() == 7) {
      if (s[4] != '-' || !ReadInt(s, 5, 2, &mo) || mo < 1 || mo > 12) {
        return Bad(s, "expected YYYY-MM");
      }
      p = TimePrecision::kMonth;
    }
    year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{1}};
    return PartialTime{sys_days(ymd).time_since_epoch().count() * kMicrosPerDay, p};
  }
  CTML_ASSIGN_OR_RETURN(int64_t t, ParseIso8601(s));
  TimePrecision p = TimePrecision::kSecond;
  if (s.size() == 10) {
    p = TimePrecision::kDay;
  } else if (s.size() >= 16 && (s.size() == 16 || s[16] != ':')) {
    p = TimePrecision::kMinute;
  }
  return PartialTime{t, p};
}

const char* PrecisionName(TimePrecision p) {
  switch (p) {
    case TimePrecision::kYear:
      return "year";
    case TimePrecision::kMonth:
      return "month";
    case TimePrecision::kDay:
      return "day";
    case TimePrecision::kMinute:
      return "minute";
    case TimePrecision::kSecond:
      return "second";
  }
  return "second";
}

std::string FormatPartial(int64_t micros, TimePrecision precision) {
  std::string full = FormatIso8601(micros);  // YYYY-MM-DDTHH:MM:SS.ffffffZ
  switch (precision) {
    case TimePrecision::kYear:
      return full.substr(0, 4);
    case TimePrecision::kMonth:
      return full.substr(0, 7);
    case TimePrecision::kDay:
      return full.substr(0, 10);
    case TimePrecision::kMinute:
      return full.substr(0, 16) + "Z";
    case TimePrecision::kSecond:
      return full;
  }
  return full;
}

std::string FormatIso8601(int64_t micros) {
  using namespace std::chrono;
  int64_t days =
      micros >= 0 ? micros / kMicrosPerDay : (micros - kMicrosPerDay + 1) / kMicrosPerDay;
  int64_t rem = micros - days * kMicrosPerDay;
  year_month_day ymd{sys_days{std::chrono::days{days}}};
  int64_t secs = rem / kMicrosPerSecond;
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:06d}Z", int(ymd.year()),
                     unsigned(ymd.month()), unsigned(ymd.day()), secs / 3600, (secs / 60) % 60,
                     secs % 60, rem % kMicrosPerSecond);
}

std::string FormatDate(int64_t micros) { return FormatIso8601(micros).substr(0, 10); }

int64_t DayStart(int64_t micros) {
  int64_t days =
      micros >= 0 ? micros / kMicrosPerDay : (micros - kMicrosPerDay + 1) / kMicrosPerDay;
  return days * kMicrosPerDay;
}

}  // namespace ctml
