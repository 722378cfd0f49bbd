#include "ctml/privacy/deidentifier.h"

#include <gtest/gtest.h>

#include <set>

#include "ctml/core/time.h"

namespace ctml::privacy {
namespace {

Deidentifier Make(Policy p) {
  return Deidentifier(Pseudonymizer(std::string(64, 'k')), "shift", p);
}

TEST(Deidentifier, ShiftIsPerSubjectDeterministicAndBackward) {
  Deidentifier d = Make(Policy::kSafeHarbor);
  std::set<int> offsets;
  for (int i = 0; i < 200; ++i) {
    std::string id = "01-701-" + std::to_string(1000 + i);
    int days = d.ShiftDays(id);
    EXPECT_GE(days, 1);
    EXPECT_LE(days, 365);
    EXPECT_EQ(days, d.ShiftDays(id));
    offsets.insert(days);
  }
  EXPECT_GT(offsets.size(), 100u);  // keyed, not constant
  int64_t t = *ParseIso8601("2014-03-05T10:30:00Z");
  EXPECT_EQ(d.ShiftTime("S1", t), t - d.ShiftDays("S1") * kMicrosPerDay);
  Deidentifier other(Pseudonymizer(std::string(64, 'k')), "other-shift", Policy::kSafeHarbor);
  int differ = 0;
  for (int i = 0; i < 20; ++i) {
    differ += d.ShiftDays("S" + std::to_string(i)) != other.ShiftDays("S" + std::to_string(i));
  }
  EXPECT_GT(differ, 10);
}

TEST(Deidentifier, ShiftDateKeepsPrecision) {
  Deidentifier d = Make(Policy::kSafeHarbor);
  int days = d.ShiftDays("S1");
  int64_t day = *ParseIso8601("2014-03-05");
  EXPECT_EQ(*d.ShiftDate("S1", "2014-03-05"), FormatDate(day - days * kMicrosPerDay));
  EXPECT_EQ(d.ShiftDate("S1", "2014-03")->size(), 7u);
  EXPECT_EQ(d.ShiftDate("S1", "2014")->size(), 4u);
  EXPECT_EQ(d.ShiftDate("S1", "2014-03-05T10:30")->size(), 17u);  // 2014-..T10:30Z
  EXPECT_FALSE(d.ShiftDate("S1", "03/05/2014").ok());
  EXPECT_FALSE(d.ShiftDate("S1", "").ok());
  Deidentifier keep = Make(Policy::kLimitedDataset);
  EXPECT_EQ(*keep.ShiftDate("S1", "2014-03-05"), "2014-03-05");
  EXPECT_EQ(keep.ShiftDays("S1"), 0);
}

TEST(Deidentifier, ScrubsContactDetailsAndIdentifiersOnly) {
  std::string s = Deidentifier::ScrubText(
      "Rash; call 555-123-4567 or (617) 555-0100, mail jo.doe@example.org, SSN 123-45-6789, "
      "MRN: A12345, chart 00981234, +44 20 7946 0958");
  for (const char* leaked :
       {"555-123-4567", "555-0100", "jo.doe", "123-45-6789", "A12345", "00981234", "7946"}) {
    EXPECT_EQ(s.find(leaked), std::string::npos) << leaked << " in " << s;
  }
  EXPECT_NE(s.find("Rash"), std::string::npos);
  std::string dated = Deidentifier::ScrubText(
      "Fell on 2024-03-05T10:30Z, again 03/07/2024 and on March 9, 2024 and 12 Apr 2024");
  for (const char* leaked : {"2024-03-05", "03/07/2024", "March 9", "12 Apr"}) {
    EXPECT_EQ(dated.find(leaked), std::string::npos) << leaked << " in " << dated;
  }
  EXPECT_NE(dated.find("Fell on [DATE]"), std::string::npos) << dated;
  EXPECT_EQ(Deidentifier::ScrubText("APPLICATION SITE ERYTHEMA grade 2, 5 mg"),
            "APPLICATION SITE ERYTHEMA grade 2, 5 mg");
}

TEST(Deidentifier, AgeZipAndPolicy) {
  EXPECT_EQ(Deidentifier::CapAge(89), 89);
  EXPECT_EQ(Deidentifier::CapAge(90), 90);
  EXPECT_EQ(Deidentifier::CapAge(104), 90);
  Deidentifier d = Make(Policy::kSafeHarbor);
  EXPECT_EQ(*d.Zip("02139"), "021");
  EXPECT_EQ(*d.Zip("03601-1234"), "000");  // restricted prefix
  EXPECT_EQ(*d.Zip("89301"), "000");
  EXPECT_FALSE(d.Zip("12").has_value());
  EXPECT_EQ(*Make(Policy::kLimitedDataset).Zip("02139-4307"), "02139");
  EXPECT_EQ(AgeAt(*ParseIso8601("1950-06-15"), *ParseIso8601("2020-06-14")), 69);
  EXPECT_EQ(AgeAt(*ParseIso8601("1950-06-15"), *ParseIso8601("2020-06-15")), 70);
  EXPECT_EQ(AgeAt(*ParseIso8601("2030-01-01"), *ParseIso8601("2020-01-01")), -1);
  EXPECT_TRUE(ParsePolicy("safe_harbor").ok());
  EXPECT_TRUE(ParsePolicy("limited_dataset").ok());
  EXPECT_FALSE(ParsePolicy("none").ok());
}

TEST(PartialTime, StartOfPeriodAndPrecision) {
  auto y = ParsePartialIso8601("2014");
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->micros, *ParseIso8601("2014-01-01"));
  EXPECT_EQ(y->precision, TimePrecision::kYear);
  EXPECT_EQ(ParsePartialIso8601("2014-03")->micros, *ParseIso8601("2014-03-01"));
  EXPECT_EQ(ParsePartialIso8601("2014-03-05")->precision, TimePrecision::kDay);
  EXPECT_EQ(ParsePartialIso8601("2014-03-05T10:30")->precision, TimePrecision::kMinute);
  EXPECT_EQ(ParsePartialIso8601("2014-03-05T10:30:01")->precision, TimePrecision::kSecond);
  EXPECT_FALSE(ParsePartialIso8601("2014-13").ok());
  EXPECT_FALSE(ParsePartialIso8601("--03-05").ok());
  EXPECT_FALSE(ParsePartialIso8601("P1D").ok());
  EXPECT_EQ(FormatPartial(*ParseIso8601("2014-03-05T10:30:00Z"), TimePrecision::kMinute),
            "2014-03-05T10:30Z");
}

}  // namespace
}  // namespace ctml::privacy
