// Tests of the HL7 v2 parser, the ORU^R01 conversion, the ACK builder and the MLLP decoder.
#include "ctml/ingest/hl7/hl7.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ingest/hl7/mllp.h"
#include "ctml/ingest/hl7/oru.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::ingest::hl7 {
namespace {

namespace fs = std::filesystem;

privacy::Deidentifier TestDeid() {
  return privacy::Deidentifier(privacy::Pseudonymizer(std::string(64, 'k')), "shift",
                               privacy::Policy::kSafeHarbor);
}

fs::path FixtureDir() { return fs::path(CTML_SOURCE_DIR) / ".." / "shared" / "data" / "hl7"; }

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An independent count: lines "OBX|<set id>|<type>|..." whose type is NM, SN or ST.
int CountSupportedObx(const std::string& text) {
  int n = 0;
  std::string line;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == '\r' || text[i] == '\n') {
      if (line.rfind("OBX|", 0) == 0) {
        size_t a = line.find('|', 4);
        size_t b = line.find('|', a + 1);
        std::string type = line.substr(a + 1, b - a - 1);
        n += type == "NM" || type == "SN" || type == "ST";
      }
      line.clear();
    } else {
      line.push_back(text[i]);
    }
  }
  return n;
}

Json Payload(const CanonicalEvent& ev) { return Json::parse(ev.payload_json); }

// A small ORU^R01 with the given OBX lines; segments joined with CR.
std::string Oru(const std::vector<std::string>& obx,
                const std::string& pid = "PID|1||PAT123^^^HOSP^MR||Doe^Jane||19600101|F",
                const std::string& msh_tail = "ORU^R01^ORU_R01|CTRL1|P|2.5.1",
                const std::string& obr = "OBR|1||ORD1|GLU^Glucose^L|||20240301083000") {
  std::string m = "MSH|^~\\&|LABAPP|LABFAC|CTML|CTMLFAC|20240301090000||" + msh_tail + "\r";
  if (!pid.empty()) m += pid + "\r";
  if (!obr.empty()) m += obr + "\r";
  for (const auto& o : obx) m += o + "\r";
  return m;
}

// ---------------------------------------------------------------------------------------------
// Parser

TEST(Hl7Parse, FixtureHeaders) {
  if (!fs::exists(FixtureDir())) GTEST_SKIP() << "no fixtures";
  auto msg = Message::Parse(ReadFile(FixtureDir() / "ORU_R01_2.5.1_SampleTestCase1.hl7"));
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->MessageType(), "ORU^R01");
  EXPECT_EQ(msg->ControlId(), "NIST-100929110701660");
  EXPECT_EQ(msg->Version(), "2.5.1");
  EXPECT_EQ(msg->SendingApplication(), "EHR Application");
  EXPECT_EQ(msg->SendingFacility(), "EHR Facility");
  EXPECT_EQ(msg->ReceivingFacility(), "PH Facility");
  EXPECT_EQ(msg->MessageTime(), "20100929110702");
  EXPECT_EQ(msg->msh().Get(1), "|");
  EXPECT_EQ(msg->msh().Get(2), "^~\\&");
  EXPECT_EQ(msg->msh().Get(4, 2), "2.16.840.1.113883.3.72.7.2");
  ASSERT_NE(msg->First("OBX"), nullptr);
  EXPECT_EQ(msg->First("OBX")->Get(3, 3), "LN");
  ASSERT_NE(msg->First("PID"), nullptr);
  EXPECT_EQ(msg->First("PID")->Get(3, 4, 2), "2.16.840.1.113883.19.3.2.1");  // subcomponent
  EXPECT_EQ(msg->segments().size(), 7u);
}

TEST(Hl7Parse, AllFixturesParse) {
  if (!fs::exists(FixtureDir())) GTEST_SKIP() << "no fixtures";
  int files = 0;
  for (const auto& e : fs::directory_iterator(FixtureDir())) {
    auto msg = Message::Parse(ReadFile(e.path()));
    EXPECT_TRUE(msg.ok()) << e.path() << ": " << msg.status().ToString();
    ++files;
  }
  EXPECT_GE(files, 5);
}

TEST(Hl7Parse, AcceptsCrLfAndCrlf) {
  std::string cr = Oru({"OBX|1|NM|GLU^Glucose^L||5.5|mmol/L"});
  std::string lf = cr, crlf;
  for (char& c : lf) c = c == '\r' ? '\n' : c;
  for (char c : cr) crlf += c == '\r' ? std::string("\r\n") : std::string(1, c);
  for (const std::string& text : {cr, lf, crlf}) {
    auto msg = Message::Parse(text);
    ASSERT_TRUE(msg.ok());
    ASSERT_EQ(msg->segments().size(), 4u);
    EXPECT_EQ(msg->All("OBX").size(), 1u);
    EXPECT_EQ(msg->First("OBX")->Get(5), "5.5");
  }
}

TEST(Hl7Parse, CustomEncodingCharacters) {
  std::string text =
      "MSH#$*!@#APP$X#FAC###20240101##ORU$R01#ID#P#2.4\rPID###A1$$$Z*B2\rOBX#1#ST#T1$Name##a!F!b";
  auto msg = Message::Parse(text);
  ASSERT_TRUE(msg.ok()) << msg.status().ToString();
  EXPECT_EQ(msg->encoding().field, '#');
  EXPECT_EQ(msg->encoding().component, '$');
  EXPECT_EQ(msg->encoding().repetition, '*');
  EXPECT_EQ(msg->encoding().escape, '!');
  EXPECT_EQ(msg->encoding().subcomponent, '@');
  EXPECT_EQ(msg->MessageType(), "ORU^R01");
  EXPECT_EQ(msg->SendingApplication(), "APP");
  EXPECT_EQ(msg->First("PID")->Get(3, 1), "A1");
  EXPECT_EQ(msg->First("PID")->Get(3, 1, 1, 1), "B2");
  EXPECT_EQ(msg->First("PID")->Repetitions(3), 2u);
  EXPECT_EQ(msg->First("OBX")->Get(5), "a#b");  // \F\ decodes to this message's field separator
}

TEST(Hl7Parse, EscapeSequences) {
  EncodingChars e;
  EXPECT_EQ(Unescape("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f", e), "a|b^c&d~e\\f");
  EXPECT_EQ(Unescape("\\X41424344\\", e), "ABCD");
  EXPECT_EQ(Unescape("x\\X0D0A\\y", e), "x\r\ny");
  EXPECT_EQ(Unescape("line1\\.br\\line2", e), "line1\nline2");
  EXPECT_EQ(Unescape("\\H\\bold\\N\\", e), "bold");
  EXPECT_EQ(Unescape("\\Q\\", e), "\\Q\\");      // unknown: kept
  EXPECT_EQ(Unescape("\\XZZ\\", e), "\\XZZ\\");  // bad hex: kept
  EXPECT_EQ(Unescape("tail\\F", e), "tail\\F");  // unterminated: kept
  EXPECT_EQ(Unescape("\\\\", e), "\\\\");        // empty sequence: kept
  EXPECT_EQ(Unescape("plain", e), "plain");
  // Escape then unescape gives the original back, for any bytes.
  std::mt19937 rng(1);
  for (int i = 0; i < 500; ++i) {
    std::string s;
    int n = static_cast<int>(rng() % 40);
    for (int k = 0; k < n; ++k) s.push_back(static_cast<char>("|^~\\&\r\nab1 "[rng() % 12]));
    EXPECT_EQ(Unescape(Escape(s, e), e), s);
    EXPECT_EQ(Escape(s, e).find_first_of("|^~&\r\n"), std::string::npos);
  }
  // Escaped separators inside a field do not split it.
  auto msg = Message::Parse(Oru({"OBX|1|ST|T^x\\S\\y^L||a\\F\\b\\S\\c\\R\\d"}));
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(msg->First("OBX")->Get(3, 2), "x^y");
  EXPECT_EQ(msg->First("OBX")->Get(3, 3), "L");
  EXPECT_EQ(msg->First("OBX")->Get(5), "a|b^c~d");
}

TEST(Hl7Parse, MissingPartsAreEmpty) {
  auto msg = Message::Parse(Oru({"OBX|1"}));
  ASSERT_TRUE(msg.ok());
  const Segment* obx = msg->First("OBX");
  EXPECT_EQ(obx->Get(99), "");
  EXPECT_EQ(obx->Get(1, 5), "");
  EXPECT_EQ(obx->Get(1, 1, 9), "");
  EXPECT_EQ(obx->Get(1, 1, 1, 3), "");
  EXPECT_EQ(obx->Get(1, 0), "");
  EXPECT_EQ(obx->Repetitions(5), 0u);
  EXPECT_EQ(msg->First("ZZZ"), nullptr);
}

TEST(Hl7Parse, RejectsMalformedHeaders) {
  for (const std::string& bad : std::vector<std::string>{
           "", "   ", "\r\n", "MSH", "MSH|", "MSH|^~", "MSH|^~\\&", "PID|1||X\rMSH|^~\\&|A",
           "MSH|^^\\&|A|B", "MSH|^~\\&|A\rMSH|^~\\&|B", "MSHX^~\\&|A", "MSH|^~\\&|A\rp!d|x",
           std::string("MSH\0^~\\&|A", 10), "garbage that is not hl7 at all"}) {
    auto msg = Message::Parse(bad);
    EXPECT_FALSE(msg.ok()) << "accepted: " << bad;
  }
  ParseLimits limits;
  limits.max_segments = 3;
  EXPECT_FALSE(Message::Parse(Oru({"OBX|1", "OBX|2"}), limits).ok());
  limits = {};
  limits.max_fields_per_segment = 20;
  EXPECT_FALSE(Message::Parse(Oru({"OBX" + std::string(50, '|')}), limits).ok());
  limits = {};
  limits.max_bytes = 20;
  EXPECT_FALSE(Message::Parse(Oru({}), limits).ok());
}

TEST(Hl7Parse, DeepComponentNestingAndHugeFields) {
  std::string nest;
  for (int i = 0; i < 100000; ++i) nest += "^&~\\";
  auto msg = Message::Parse(Oru({"OBX|1|ST|T^N^L||" + nest}));
  ASSERT_TRUE(msg.ok());
  EXPECT_EQ(msg->First("OBX")->Get(5, 1, 1, 0), "");
  std::string huge(2 << 20, 'x');
  auto big = Message::Parse(Oru({"OBX|1|ST|T^N^L||" + huge}));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->First("OBX")->Get(5).size(), huge.size());
}

TEST(Hl7Time, ParsesPrecisionsAndZones) {
  auto y = ParseHl7Time("2008");
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->precision, TimePrecision::kYear);
  EXPECT_EQ(FormatIso8601(y->micros), "2008-01-01T00:00:00.000000Z");
  auto mo = ParseHl7Time("200808");
  ASSERT_TRUE(mo.ok());
  EXPECT_EQ(mo->precision, TimePrecision::kMonth);
  EXPECT_EQ(FormatDate(mo->micros), "2008-08-01");
  auto d = ParseHl7Time("20080815-0700");  // a date keeps its date whatever the zone
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->precision, TimePrecision::kDay);
  EXPECT_EQ(FormatIso8601(d->micros), "2008-08-15T00:00:00.000000Z");
  auto h = ParseHl7Time("2008081510");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->precision, TimePrecision::kMinute);
  EXPECT_EQ(FormatIso8601(h->micros), "2008-08-15T10:00:00.000000Z");
  auto m = ParseHl7Time("200808151030-0700");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->precision, TimePrecision::kMinute);
  EXPECT_EQ(FormatIso8601(m->micros), "2008-08-15T17:30:00.000000Z");
  auto s = ParseHl7Time("20080815103015.1234+0100");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->precision, TimePrecision::kSecond);
  EXPECT_EQ(FormatIso8601(s->micros), "2008-08-15T09:30:15.123400Z");
  for (const char* bad : {"", "200", "2008-08-15", "20081315", "20080230", "abc", "20080815103",
                          "200808151030-07", "200808151030+07000", "20080815253000", "20080815.5",
                          "00010101", "99991231", "20080815103015.", "20080815 1030"}) {
    EXPECT_FALSE(ParseHl7Time(bad).ok()) << bad;
  }
}

TEST(Hl7Values, NumbersAndRanges) {
  EXPECT_EQ(ParseNumber("5.5"), 5.5);
  EXPECT_EQ(ParseNumber(" -3 "), -3.0);
  EXPECT_EQ(ParseNumber("+.5"), 0.5);
  EXPECT_EQ(ParseNumber("7."), 7.0);
  for (const char* bad : {"", "abc", "1e5", "1.2.3", "-", ".", "5 mg", "0x10", "inf", "nan"}) {
    EXPECT_FALSE(ParseNumber(bad).has_value()) << bad;
  }
  auto r = ParseRefRange("3.5-5.0");
  EXPECT_EQ(r.low, 3.5);
  EXPECT_EQ(r.high, 5.0);
  r = ParseRefRange("-1.5-2");
  EXPECT_EQ(r.low, -1.5);
  EXPECT_EQ(r.high, 2.0);
  r = ParseRefRange("<10 ug/dl");
  EXPECT_FALSE(r.low.has_value());
  EXPECT_EQ(r.high, 10.0);
  r = ParseRefRange(">=60");
  EXPECT_EQ(r.low, 60.0);
  EXPECT_FALSE(r.high.has_value());
  r = ParseRefRange("<9 mcg/dL:  Acceptable background lead exposure");
  EXPECT_EQ(r.high, 9.0);
  r = ParseRefRange("negative");
  EXPECT_FALSE(r.low.has_value());
  EXPECT_FALSE(r.high.has_value());
}

// ---------------------------------------------------------------------------------------------
// ORU^R01 conversion

TEST(Oru, EveryFixtureFile) {
  if (!fs::exists(FixtureDir())) GTEST_SKIP() << "no fixtures";
  auto deid = TestDeid();
  int valid = 0, invalid = 0;
  for (const auto& e : fs::directory_iterator(FixtureDir())) {
    std::string text = ReadFile(e.path());
    Hl7Outcome out = ProcessHl7(text, deid, OruOptions{}, 1'700'000'000'000'000);
    std::string name = e.path().filename().string();
    if (name.rfind("invalid", 0) == 0) {
      ++invalid;
      EXPECT_NE(out.ack, AckCode::kAA) << name;
      ASSERT_TRUE(out.error.has_value()) << name;
      EXPECT_FALSE(out.error->reason.empty());
      EXPECT_FALSE(out.error->message.empty());
      EXPECT_TRUE(out.events.empty());
      // The ACK still answers the original control id.
      std::string ack = BuildAck(out.header, out.ack, &*out.error, "ACK1", 0);
      EXPECT_NE(ack.find("|FA0DC9EA-5446-42E6-G6D5-A8414B663676"), std::string::npos) << ack;
      EXPECT_NE(ack.find("\rERR|"), std::string::npos);
    } else {
      ++valid;
      ASSERT_EQ(out.ack, AckCode::kAA) << name << ": " << (out.error ? out.error->message : "");
      EXPECT_EQ(static_cast<int>(out.events.size()), CountSupportedObx(text)) << name;
      for (const auto& ev : out.events) {
        EXPECT_EQ(ev.event_type, "lab_result");
        EXPECT_EQ(ev.source, "hl7");
        EXPECT_EQ(ev.event_id.rfind("hl7-", 0), 0u);
        EXPECT_EQ(ev.event_id.size(), 36u);
        EXPECT_EQ(ev.subject_key.size(), 26u);
        Json p = Payload(ev);
        EXPECT_TRUE(p.contains("test") && p["test"].is_string());
        EXPECT_TRUE(p.contains("precision"));
      }
    }
  }
  EXPECT_EQ(valid, 4);
  EXPECT_EQ(invalid, 1);
}

TEST(Oru, NistCase1Event) {
  if (!fs::exists(FixtureDir())) GTEST_SKIP() << "no fixtures";
  auto deid = TestDeid();
  std::string text = ReadFile(FixtureDir() / "ORU_R01_2.5.1_SampleTestCase1.hl7");
  Hl7Outcome out = ProcessHl7(text, deid, OruOptions{.study_id = "S1"}, 42);
  ASSERT_EQ(out.ack, AckCode::kAA);
  ASSERT_EQ(out.events.size(), 1u);
  const CanonicalEvent& ev = out.events[0];
  EXPECT_EQ(ev.event_id, Hl7EventId("EHR Facility", "NIST-100929110701660", 1));
  EXPECT_EQ(ev.study_id, "S1");
  EXPECT_EQ(ev.site_id, "EHR Facility");
  EXPECT_EQ(ev.subject_key, deid.SubjectKey("9817566735"));
  EXPECT_EQ(ev.received_at_us, deid.ShiftTime("9817566735", 42));
  EXPECT_EQ(ev.event_time_us, deid.ShiftTime("9817566735", *ParseIso8601("2008-08-15T17:30Z")));
  EXPECT_LT(ev.event_time_us, *ParseIso8601("2008-08-15T17:30Z"));  // safe_harbor shifts back
  Json p = Payload(ev);
  EXPECT_EQ(p["test"], "10368-9");
  EXPECT_EQ(p["code_system"], "LN");
  EXPECT_EQ(p["test_name"], "Lead BldC-mCnc");
  EXPECT_EQ(p["value"], 50.0);
  EXPECT_EQ(p["value_text"], "50");
  EXPECT_EQ(p["unit"], "ug/dL");
  EXPECT_EQ(p["ref_text"], "<9 mcg/dL:  Acceptable background lead exposure");
  EXPECT_TRUE(p["ref_low"].is_null());
  EXPECT_EQ(p["ref_high"], 9.0);
  EXPECT_EQ(p["abnormal_flag"], "H");
  EXPECT_EQ(p["is_abnormal"], true);
  EXPECT_EQ(p["status"], "F");
  EXPECT_EQ(p["precision"], "minute");
  // No PID name, birth date, address, phone or raw identifier anywhere in the event.
  std::string all = ev.ToJson();
  for (const char* phi : {"Johnson", "Philip", "20070526", "2007-05-26", "9817566735", "Elm Street",
                          "5548889", "Aurora"}) {
    EXPECT_EQ(all.find(phi), std::string::npos) << phi;
  }
  // A re-send gives the same event ids.
  Hl7Outcome again = ProcessHl7(text, deid, OruOptions{.study_id = "S1"}, 43);
  ASSERT_EQ(again.events.size(), 1u);
  EXPECT_EQ(again.events[0].event_id, ev.event_id);
}

TEST(Oru, OruExampleWithoutObxIsAcceptedWithNoEvents) {
  if (!fs::exists(FixtureDir())) GTEST_SKIP() << "no fixtures";
  auto out = ProcessHl7(ReadFile(FixtureDir() / "oru-example.hl7"), TestDeid(), {}, 0);
  EXPECT_EQ(out.ack, AckCode::kAA);
  EXPECT_TRUE(out.events.empty());
  EXPECT_EQ(out.obx_total, 0);
  EXPECT_EQ(out.header.control_id, "20087.3");
}

TEST(Oru, BadPhoneExampleIsUnsupportedType) {
  if (!fs::exists(FixtureDir())) GTEST_SKIP() << "no fixtures";
  auto out =
      ProcessHl7(ReadFile(FixtureDir() / "invalid-bad-phone-example.hl7"), TestDeid(), {}, 0);
  EXPECT_EQ(out.ack, AckCode::kAR);
  ASSERT_TRUE(out.error.has_value());
  EXPECT_EQ(out.error->code, kUnsupportedMessageType);
  EXPECT_EQ(out.error->reason, "UNSUPPORTED_MESSAGE");
  EXPECT_EQ(out.error->field, 9);
  // The error never quotes patient data.
  for (const char* phi : {"Someone", "Gloria", "19501104", "1434768", "Dallas", "123-1234"}) {
    EXPECT_EQ(out.error->message.find(phi), std::string::npos);
  }
}

TEST(Oru, ValueTypes) {
  auto deid = TestDeid();
  auto out = ProcessHl7(
      Oru({"OBX|1|NM|GLU^Glucose^LN||5.5|mmol/L|3.9-6.1|N|||F|||20240301081500",
           "OBX|2|SN|CRP^CRP^L||>^100|mg/L", "OBX|3|SN|RAT^Ratio^L||^1^:^2",
           "OBX|4|ST|COM^Comment^L||call 555-123-4567 now",
           "OBX|5|CE|ORG^Organism^L||E.COLI^E coli^SCT", "OBX|6|TX|NOTE^Note^L||free text",
           "OBX|7|NM|K^Potassium^L||||||||X", "OBX|8|FT|NOTE^Note^L||formatted"}),
      deid, {}, 0);
  ASSERT_EQ(out.ack, AckCode::kAA) << (out.error ? out.error->message : "");
  ASSERT_EQ(out.events.size(), 5u);
  EXPECT_EQ(out.obx_total, 8);
  EXPECT_EQ(out.obx_skipped, 3);
  EXPECT_EQ(out.skipped_by_type["CE"], 1);
  EXPECT_EQ(out.skipped_by_type["TX"], 1);
  EXPECT_EQ(out.skipped_by_type["FT"], 1);
  Json nm = Payload(out.events[0]);
  EXPECT_EQ(nm["value"], 5.5);
  EXPECT_EQ(nm["ref_low"], 3.9);
  EXPECT_EQ(nm["ref_high"], 6.1);
  EXPECT_EQ(nm["is_abnormal"], false);
  EXPECT_EQ(nm["precision"], "second");
  EXPECT_EQ(out.events[0].event_time_us,
            deid.ShiftTime("PAT123", *ParseIso8601("2024-03-01T08:15:00Z")));  // OBX-14
  Json sn = Payload(out.events[1]);
  EXPECT_EQ(sn["value"], 100.0);
  EXPECT_EQ(sn["value_text"], ">100");
  EXPECT_EQ(out.events[1].event_time_us,
            deid.ShiftTime("PAT123", *ParseIso8601("2024-03-01T08:30:00Z")));  // OBR-7
  Json ratio = Payload(out.events[2]);
  EXPECT_TRUE(ratio["value"].is_null());
  EXPECT_EQ(ratio["value_text"], "1:2");
  Json st = Payload(out.events[3]);
  EXPECT_TRUE(st["value"].is_null());
  EXPECT_EQ(st["value_text"].get<std::string>().find("555-123-4567"), std::string::npos);
  EXPECT_NE(st["value_text"].get<std::string>().find("[REDACTED]"), std::string::npos);
  Json empty_nm = Payload(out.events[4]);
  EXPECT_TRUE(empty_nm["value"].is_null());
  EXPECT_EQ(empty_nm["status"], "X");
  // Event ids follow the OBX ordinal (skipped ones included), so a re-send maps 1:1.
  EXPECT_EQ(out.events[4].event_id, Hl7EventId("LABFAC", "CTRL1", 7));
  for (const auto& ev : out.events) {
    EXPECT_EQ(ev.subject_key, deid.SubjectKey("PAT123"));
    EXPECT_EQ(ev.ToJson().find("Doe"), std::string::npos);
    EXPECT_EQ(ev.ToJson().find("1960"), std::string::npos);
  }
}

TEST(Oru, TimeFallsBackToMsh7AndSubjectToPid2) {
  auto deid = TestDeid();
  auto out =
      ProcessHl7(Oru({"OBX|1|NM|A^A^L||1"}, "PID|1|ALT9||", "ORU^R01|C2|P|2.3", "OBR|1||O|X^X^L"),
                 deid, {}, 0);
  ASSERT_EQ(out.ack, AckCode::kAA) << (out.error ? out.error->message : "");
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].subject_key, deid.SubjectKey("ALT9"));
  EXPECT_EQ(out.events[0].event_time_us,
            deid.ShiftTime("ALT9", *ParseIso8601("2024-03-01T09:00:00Z")));
}

TEST(Oru, SeveralPatientsInOneMessage) {
  auto deid = TestDeid();
  std::string m =
      Oru({"OBX|1|NM|A^A^L||1"}) + "PID|2||OTHER7\rOBR|1||O|X^X^L|||2024\rOBX|1|NM|A^A^L||2\r";
  auto out = ProcessHl7(m, deid, {}, 0);
  ASSERT_EQ(out.ack, AckCode::kAA) << (out.error ? out.error->message : "");
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].subject_key, deid.SubjectKey("PAT123"));
  EXPECT_EQ(out.events[1].subject_key, deid.SubjectKey("OTHER7"));
  EXPECT_EQ(Payload(out.events[1])["precision"], "year");
  EXPECT_NE(out.events[0].event_id, out.events[1].event_id);
}

struct RejectCase {
  std::string name;
  std::string text;
  AckCode ack;
  int code;
  std::string reason;
  std::string segment;
  int field;
};

TEST(Oru, RejectsWholeMessageWithReason) {
  const std::string obx = "OBX|1|NM|GLU^Glucose^L||5.5|mmol/L";
  std::vector<RejectCase> cases = {
      {"missing MSH-10", Oru({obx}, "PID|1||P1", "ORU^R01||P|2.5.1"), AckCode::kAE,
       kRequiredFieldMissing, "MISSING_FIELD", "MSH", 10},
      {"ADT", Oru({obx}, "PID|1||P1", "ADT^A01|C|P|2.5.1"), AckCode::kAR, kUnsupportedMessageType,
       "UNSUPPORTED_MESSAGE", "MSH", 9},
      {"ORU^R30", Oru({obx}, "PID|1||P1", "ORU^R30|C|P|2.5.1"), AckCode::kAR,
       kUnsupportedMessageType, "UNSUPPORTED_MESSAGE", "MSH", 9},
      {"version 2.6", Oru({obx}, "PID|1||P1", "ORU^R01|C|P|2.6"), AckCode::kAR,
       kUnsupportedVersionId, "UNSUPPORTED_MESSAGE", "MSH", 12},
      {"no version", Oru({obx}, "PID|1||P1", "ORU^R01|C|P|"), AckCode::kAE, kRequiredFieldMissing,
       "MISSING_FIELD", "MSH", 12},
      {"no PID", Oru({obx}, ""), AckCode::kAE, kSegmentSequenceError, "MISSING_FIELD", "OBX", 0},
      {"no PID no OBX", Oru({}, ""), AckCode::kAE, kSegmentSequenceError, "MISSING_FIELD", "PID",
       0},
      {"PID without id", Oru({obx}, "PID|1||^^^HOSP||Doe^Jane"), AckCode::kAE,
       kRequiredFieldMissing, "MISSING_FIELD", "PID", 3},
      {"OBX before OBR", Oru({obx}, "PID|1||P1", "ORU^R01|C|P|2.5.1", ""), AckCode::kAE,
       kSegmentSequenceError, "MALFORMED", "OBX", 0},
      {"bad NM", Oru({obx, "OBX|2|NM|K^K^L||abc123secret|mmol/L"}), AckCode::kAE, kDataTypeError,
       "INVALID_VALUE", "OBX", 5},
      {"bad SN", Oru({"OBX|1|SN|K^K^L||^x"}), AckCode::kAE, kDataTypeError, "INVALID_VALUE", "OBX",
       5},
      {"bad SN comparator", Oru({"OBX|1|SN|K^K^L||!!^5"}), AckCode::kAE, kDataTypeError,
       "INVALID_VALUE", "OBX", 5},
      {"no OBX-3", Oru({"OBX|1|NM|||5"}), AckCode::kAE, kRequiredFieldMissing, "MISSING_FIELD",
       "OBX", 3},
      {"no OBX-2", Oru({"OBX|1||K^K^L||5"}), AckCode::kAE, kRequiredFieldMissing, "MISSING_FIELD",
       "OBX", 2},
      {"bad OBX-14", Oru({"OBX|1|NM|K^K^L||5||||||F|||2024-03-01"}), AckCode::kAE, kDataTypeError,
       "INVALID_DATE", "OBX", 14},
      {"bad OBR-7", Oru({obx}, "PID|1||P1", "ORU^R01|C|P|2.5.1", "OBR|1||O|X|||20241399"),
       AckCode::kAE, kDataTypeError, "INVALID_DATE", "OBR", 7},
      {"bad MSH-7",
       "MSH|^~\\&|A|F|||2024-03-01||ORU^R01|C|P|2.5.1\rPID|1||P1\rOBR|1\r" + obx + "\r",
       AckCode::kAE, kDataTypeError, "INVALID_DATE", "MSH", 7},
      {"huge ST", Oru({"OBX|1|ST|K^K^L||" + std::string(100000, 'a')}), AckCode::kAE,
       kDataTypeError, "INVALID_VALUE", "OBX", 5},
      {"huge NM", Oru({"OBX|1|NM|K^K^L||" + std::string(100000, '9')}), AckCode::kAE,
       kDataTypeError, "INVALID_VALUE", "OBX", 5},
      {"huge unit", Oru({"OBX|1|NM|K^K^L||5|" + std::string(5000, 'u')}), AckCode::kAE,
       kDataTypeError, "INVALID_VALUE", "OBX", 6},
      {"huge patient id", Oru({obx}, "PID|1||" + std::string(500, '7')), AckCode::kAE,
       kDataTypeError, "INVALID_VALUE", "PID", 3},
      {"no MSH", "PID|1||P1\r" + obx, AckCode::kAE, kSegmentSequenceError, "MALFORMED", "MSH", 0},
      {"empty", "", AckCode::kAE, kSegmentSequenceError, "MALFORMED", "MSH", 0},
  };
  auto deid = TestDeid();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto out = ProcessHl7(c.text, deid, {}, 0);
    EXPECT_EQ(out.ack, c.ack);
    EXPECT_TRUE(out.events.empty());
    ASSERT_TRUE(out.error.has_value());
    EXPECT_EQ(out.error->code, c.code);
    EXPECT_EQ(out.error->reason, c.reason);
    EXPECT_EQ(out.error->segment, c.segment);
    EXPECT_EQ(out.error->field, c.field);
    EXPECT_EQ(out.error->message.find("secret"), std::string::npos);
    EXPECT_EQ(out.error->message.find("Doe"), std::string::npos);
    std::string ack = BuildAck(out.header, out.ack, &*out.error, "A1", 0);
    auto parsed = Message::Parse(ack);
    ASSERT_TRUE(parsed.ok()) << ack;
    const Segment* err = parsed->First("ERR");
    ASSERT_NE(err, nullptr);
    EXPECT_EQ(err->Get(3, 1), std::to_string(c.code));
    EXPECT_EQ(err->Get(3, 3), "HL70357");
    EXPECT_EQ(err->Get(4), "E");
    EXPECT_FALSE(err->Get(8).empty());
    EXPECT_EQ(parsed->First("MSA")->Get(1), AckCodeName(c.ack));
    if (!c.segment.empty() && c.field > 0) {
      EXPECT_EQ(err->Get(2, 1), c.segment);
      EXPECT_EQ(err->Get(2, 3), std::to_string(c.field));
    }
  }
}

TEST(Oru, RandomAndMutatedInputNeverCrash) {
  auto deid = TestDeid();
  std::mt19937 rng(7);
  std::string base = Oru({"OBX|1|NM|GLU^Glucose^LN||5.5|mmol/L|3.9-6.1|N|||F|||20240301081500",
                          "OBX|2|SN|CRP^CRP^L||>^100|mg/L", "OBX|3|ST|C^C^L||text"});
  const std::string alphabet = "|^~\\&\r\nMSHPIDOBXR0123456789.-+<>: \x0b\x1c\xff";
  int accepted = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    if (i % 2 == 0) {
      size_t n = rng() % 300;
      for (size_t k = 0; k < n; ++k) s.push_back(static_cast<char>(rng() % 256));
      if (i % 4 == 0) s = "MSH|^~\\&|" + s;
    } else {
      s = base;
      int edits = 1 + static_cast<int>(rng() % 8);
      for (int k = 0; k < edits && !s.empty(); ++k) {
        size_t at = rng() % s.size();
        switch (rng() % 3) {
          case 0:
            s[at] = alphabet[rng() % alphabet.size()];
            break;
          case 1:
            s.erase(at, 1 + rng() % 10);
            break;
          default:
            s.insert(at, 1, alphabet[rng() % alphabet.size()]);
        }
      }
    }
    auto out = ProcessHl7(s, deid, {}, 0);
    if (out.ack == AckCode::kAA) {
      ++accepted;
      EXPECT_FALSE(out.error.has_value());
      EXPECT_LE(static_cast<int64_t>(out.events.size()), out.obx_total);
      for (const auto& ev : out.events) EXPECT_NO_THROW(Json::parse(ev.payload_json));
    } else {
      EXPECT_TRUE(out.events.empty());
      ASSERT_TRUE(out.error.has_value());
    }
    std::string ack = BuildAck(out.header, out.ack, out.error ? &*out.error : nullptr, "A", 0);
    EXPECT_TRUE(Message::Parse(ack).ok()) << ack;
  }
  EXPECT_GT(accepted, 0);
}

TEST(Oru, InvalidUtf8AndControlBytesStayValidJson) {
  auto out = ProcessHl7(Oru({"OBX|1|ST|C^C\xff\xfe^L||caf\xe9 \\X00\\ ok"}), TestDeid(), {}, 0);
  ASSERT_EQ(out.ack, AckCode::kAA);
  ASSERT_EQ(out.events.size(), 1u);
  Json p = Payload(out.events[0]);
  EXPECT_TRUE(p["value_text"].is_string());
}

// ---------------------------------------------------------------------------------------------
// ACK

TEST(Ack, AcceptSwapsSendersAndEchoesControlId) {
  auto msg = Message::Parse(Oru({}, "PID|1||P1", "ORU^R01^ORU_R01|CTRL-9|T|2.4"));
  ASSERT_TRUE(msg.ok());
  std::string ack = BuildAck(HeaderOf(*msg), AckCode::kAA, nullptr, "ACKID1",
                             *ParseIso8601("2024-03-01T10:11:12Z"));
  auto a = Message::Parse(ack);
  ASSERT_TRUE(a.ok()) << ack;
  EXPECT_EQ(a->SendingApplication(), "CTML");
  EXPECT_EQ(a->SendingFacility(), "CTMLFAC");
  EXPECT_EQ(a->ReceivingApplication(), "LABAPP");
  EXPECT_EQ(a->ReceivingFacility(), "LABFAC");
  EXPECT_EQ(a->MessageTime(), "20240301101112+0000");
  EXPECT_EQ(a->msh().Raw(9), "ACK^R01^ACK");
  EXPECT_EQ(a->ControlId(), "ACKID1");
  EXPECT_EQ(a->ProcessingId(), "T");
  EXPECT_EQ(a->Version(), "2.4");
  const Segment* msa = a->First("MSA");
  ASSERT_NE(msa, nullptr);
  EXPECT_EQ(msa->Get(1), "AA");
  EXPECT_EQ(msa->Get(2), "CTRL-9");
  EXPECT_EQ(a->First("ERR"), nullptr);
  EXPECT_EQ(ack.back(), '\r');
}

TEST(Ack, KeepsComponentsAndEscapesSeparators) {
  if (!fs::exists(FixtureDir())) GTEST_SKIP() << "no fixtures";
  auto msg = Message::Parse(ReadFile(FixtureDir() / "ORU_R01_2.5.1_SampleTestCase1.hl7"));
  ASSERT_TRUE(msg.ok());
  AckHeader h = HeaderOf(*msg);
  EXPECT_EQ(h.sending_facility, "EHR Facility^2.16.840.1.113883.3.72.7.2^HL7");
  h.control_id = "a|b^c";
  std::string ack = BuildAck(h, AckCode::kAA, nullptr, "X", 0);
  auto a = Message::Parse(ack);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->First("MSA")->Get(2), "a|b^c");
  EXPECT_EQ(a->msh().Get(6, 2), "2.16.840.1.113883.3.72.7.2");
  EXPECT_NE(NewAckControlId(), NewAckControlId());
  EXPECT_LE(NewAckControlId().size(), 20u);
}

TEST(Ack, PeekHeaderReadsControlIdFromPrefix) {
  std::string m = Oru({"OBX|1|ST|C^C^L||" + std::string(10000, 'x')});
  auto h = PeekHeader(m.substr(0, MllpDecoder::kOversizePrefixBytes));
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->control_id, "CTRL1");
  EXPECT_EQ(h->sending_application, "LABAPP");
  // Cut inside MSH-10: the id might be incomplete, so no header.
  size_t at = m.find("CTRL1");
  EXPECT_FALSE(PeekHeader(m.substr(0, at + 3)).has_value());
  EXPECT_FALSE(PeekHeader("garbage").has_value());
  EXPECT_FALSE(PeekHeader("").has_value());
}

// ---------------------------------------------------------------------------------------------
// MLLP framing

std::vector<MllpEvent> FeedAll(MllpDecoder& d, std::string_view bytes, size_t chunk) {
  std::vector<MllpEvent> out;
  for (size_t i = 0; i < bytes.size(); i += chunk) d.Feed(bytes.substr(i, chunk), &out);
  return out;
}

TEST(Mllp, FramesAndDecodesByteAtATime) {
  std::string stream = MllpDecoder::Frame("MSH|one") + MllpDecoder::Frame("MSH|two");
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{5}, stream.size()}) {
    MllpDecoder d(1 << 20);
    auto ev = FeedAll(d, stream, chunk);
    ASSERT_EQ(ev.size(), 2u) << chunk;
    EXPECT_EQ(ev[0].kind, MllpEvent::kMessage);
    EXPECT_EQ(ev[0].data, "MSH|one");
    EXPECT_EQ(ev[1].data, "MSH|two");
    EXPECT_FALSE(d.in_frame());
    EXPECT_EQ(d.garbage_bytes_total(), 0u);
  }
  EXPECT_EQ(MllpDecoder::Frame("x"), std::string("\x0bx\x1c\r"));
}

TEST(Mllp, GarbageBeforeStartIsCountedAndSkipped) {
  MllpDecoder d(1 << 20);
  std::vector<MllpEvent> ev;
  d.Feed("GET / HTTP/1.1\r\n\r\n", &ev);
  EXPECT_TRUE(ev.empty());
  EXPECT_EQ(d.pending_garbage(), 14u);  // line ends between frames are tolerated
  d.Feed(MllpDecoder::Frame("MSH|a"), &ev);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].kind, MllpEvent::kGarbage);
  EXPECT_EQ(ev[0].bytes, 14u);
  EXPECT_EQ(ev[1].kind, MllpEvent::kMessage);
  EXPECT_EQ(ev[1].data, "MSH|a");
  EXPECT_EQ(d.pending_garbage(), 0u);
  EXPECT_EQ(d.garbage_bytes_total(), 14u);
}

TEST(Mllp, OversizeFrameIsReportedOnceAndSkipped) {
  MllpDecoder d(100);
  std::string big = "MSH|^~\\&|A|F|||2024||ORU^R01|BIG1|P|2.5.1\r" + std::string(10000, 'z');
  std::string stream = MllpDecoder::Frame(big) + MllpDecoder::Frame("MSH|small");
  for (size_t chunk : {size_t{1}, size_t{7}, stream.size()}) {
    MllpDecoder dec(100);
    auto ev = FeedAll(dec, stream, chunk);
    ASSERT_EQ(ev.size(), 2u) << chunk;
    EXPECT_EQ(ev[0].kind, MllpEvent::kOversize);
    EXPECT_GT(ev[0].bytes, 100u);
    EXPECT_LE(ev[0].data.size(), MllpDecoder::kOversizePrefixBytes);
    EXPECT_EQ(ev[0].data.substr(0, 4), "MSH|");
    auto h = PeekHeader(ev[0].data);
    ASSERT_TRUE(h.has_value());
    EXPECT_EQ(h->control_id, "BIG1");
    EXPECT_EQ(ev[1].kind, MllpEvent::kMessage);
    EXPECT_EQ(ev[1].data, "MSH|small");
  }
}

TEST(Mllp, RestartedFrameEndWithoutCrAndTruncatedFrame) {
  MllpDecoder d(1 << 20);
  std::vector<MllpEvent> ev;
  // A frame abandoned by a new start byte, then a frame ended by FS alone, then another.
  d.Feed(std::string("\x0bpartial\x0bMSH|x\x1c\x0bMSH|y\x1c\r\x0btrunc"), &ev);
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].kind, MllpEvent::kGarbage);
  EXPECT_EQ(ev[0].bytes, 8u);
  EXPECT_EQ(ev[1].data, "MSH|x");
  EXPECT_EQ(ev[2].data, "MSH|y");
  EXPECT_TRUE(d.in_frame());
  d.Finish(&ev);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[3].kind, MllpEvent::kGarbage);
  EXPECT_EQ(ev[3].bytes, 6u);
  EXPECT_FALSE(d.in_frame());
}

TEST(Mllp, RandomChunkingGivesTheSameEvents) {
  std::mt19937 rng(3);
  std::string stream;
  for (int i = 0; i < 50; ++i) {
    if (rng() % 4 == 0) stream += "junk";
    std::string msg = "MSH|" + std::to_string(i) + std::string(rng() % 300, 'p');
    stream += MllpDecoder::Frame(msg);
  }
  MllpDecoder whole(200);
  std::vector<MllpEvent> expected;
  whole.Feed(stream, &expected);
  for (int round = 0; round < 20; ++round) {
    MllpDecoder d(200);
    std::vector<MllpEvent> got;
    size_t i = 0;
    while (i < stream.size()) {
      size_t n = 1 + rng() % 64;
      d.Feed(std::string_view(stream).substr(i, n), &got);
      i += n;
    }
    ASSERT_EQ(got.size(), expected.size());
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].kind, expected[k].kind);
      if (got[k].kind != MllpEvent::kOversize) {  // an oversize prefix depends on the chunking
        EXPECT_EQ(got[k].data, expected[k].data);
        EXPECT_EQ(got[k].bytes, expected[k].bytes);
      }
    }
  }
  size_t messages = 0, oversize = 0;
  for (const auto& e : expected) {
    messages += e.kind == MllpEvent::kMessage;
    oversize += e.kind == MllpEvent::kOversize;
  }
  EXPECT_EQ(messages + oversize, 50u);
  EXPECT_GT(oversize, 0u);
}

}  // namespace
}  // namespace ctml::ingest::hl7
