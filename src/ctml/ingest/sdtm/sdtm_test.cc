#include "ctml/ingest/sdtm/sdtm.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ingest/ingest_core.h"
#include "ctml/ingest/sdtm/domains.h"
#include "ctml/ingest/sdtm/importer.h"
#include "ctml/privacy/deidentifier.h"
#include "ctml/store/factory.h"

namespace ctml::ingest::sdtm {
namespace {

namespace fs = std::filesystem;

const std::string kDir = std::string(CTML_SOURCE_DIR) + "/../shared/data/sdtm/cdiscpilot01";

#define SKIP_WITHOUT_FIXTURES() \
  if (!fs::is_directory(kDir)) GTEST_SKIP() << "no SDTM fixtures at " << kDir

privacy::Deidentifier Deid() {
  return privacy::Deidentifier(privacy::Pseudonymizer(std::string(64, 'k')), std::string(32, 's'),
                               privacy::Policy::kSafeHarbor);
}

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ =
        fs::temp_directory_path() / ("ctml-sdtm-" + std::to_string(rd()) + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  std::string Write(const std::string& name, const std::string& bytes) const {
    std::ofstream(File(name), std::ios::binary) << bytes;
    return File(name);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// All rows of a file as maps (only for small files / spot checks).
struct Collected {
  std::vector<std::map<std::string, std::string>> rows;
  int64_t count = 0;
};

Result<Collected> Collect(const std::string& path, int64_t keep = 1 << 30) {
  Collected c;
  Status st = ReadDataset(
      path,
      [&](const Row& row) -> Status {
        if (static_cast<int64_t>(c.rows.size()) < keep) {
          std::map<std::string, std::string> m;
          for (const auto& n : row.names()) m[n] = std::string(row.String(n));
          c.rows.push_back(std::move(m));
        }
        return Status::OK();
      },
      &c.count);
  if (!st.ok()) return st;
  return c;
}

// Converts the row `index` of a fixture file.
RowOutcome ConvertFixtureRow(const std::string& file, const std::string& domain, int64_t index,
                             const privacy::Deidentifier& deid) {
  RowOutcome out;
  ConvertContext ctx{&deid, "", nullptr, 1'700'000'000'000'000};
  int64_t rows = 0;
  Status st = ReadDataset(
      kDir + "/" + file,
      [&](const Row& row) -> Status {
        if (row.index() == index) {
          out = ConvertRow(domain, row, ctx);
          return Status::Invalid("stop");
        }
        return Status::OK();
      },
      &rows);
  EXPECT_EQ(st.message(), "stop");
  return out;
}

Json Payload(const RowOutcome& out) {
  EXPECT_TRUE(out.event.has_value()) << out.reason << " " << out.field;
  if (!out.event) return Json::object();
  return Json::parse(out.event->payload_json);
}

// ---------------------------------------------------------------- reading

TEST(SdtmRead, EveryFixtureFileRowCountsExactly) {
  SKIP_WITHOUT_FIXTURES();
  const std::map<std::string, int64_t> expected = {
      {"dm.xpt", 306},     {"vs.xpt", 29643},   {"ae.xpt", 961},
      {"ds.xpt", 596},     {"ex.xpt", 591},     {"cm.xpt", 7510},
      {"lbch.xpt", 32740}, {"lbhe.xpt", 21927}, {"lbur.xpt", 4913}};
  int64_t lb = 0;
  for (const auto& [file, n] : expected) {
    int64_t rows = -1, callbacks = 0;
    bool trailing_space = false;
    Status st = ReadDataset(
        kDir + "/" + file,
        [&](const Row& row) -> Status {
          EXPECT_EQ(row.index(), callbacks);
          ++callbacks;
          for (const auto& name : row.names()) {
            auto v = row.String(name);
            if (!v.empty() && v.back() == ' ') trailing_space = true;
          }
          return Status::OK();
        },
        &rows);
    ASSERT_TRUE(st.ok()) << file << ": " << st.ToString();
    EXPECT_EQ(rows, n) << file;
    EXPECT_EQ(callbacks, n) << file;
    EXPECT_FALSE(trailing_space) << file;
    if (file.rfind("lb", 0) == 0) lb += rows;
  }
  EXPECT_EQ(lb, 59580);
}

TEST(SdtmRead, SpotChecksTypedValues) {
  SKIP_WITHOUT_FIXTURES();
  auto dm = Collect(kDir + "/dm.xpt", 1);
  ASSERT_TRUE(dm.ok()) << dm.status().ToString();
  const auto& r = dm->rows[0];
  EXPECT_EQ(r.at("STUDYID"), "CDISCPILOT01");
  EXPECT_EQ(r.at("USUBJID"), "01-701-1015");
  EXPECT_EQ(r.at("SITEID"), "701");
  EXPECT_EQ(r.at("RFSTDTC"), "2014-01-02");
  EXPECT_EQ(r.at("AGE"), "63");
  EXPECT_EQ(r.at("RFICDTC"), "");  // missing character value

  int64_t rows = 0;
  bool checked = false;
  Status st = ReadDataset(
      kDir + "/vs.xpt",
      [&](const Row& row) -> Status {
        if (row.index() != 127) return Status::OK();
        EXPECT_EQ(row.String("VSTESTCD"), "TEMP");
        EXPECT_EQ(row.String("VSORRES"), "96.9");
        EXPECT_EQ(row.String("VSORRESU"), "F");
        EXPECT_EQ(row.Number("VSSEQ"), 128.0);
        EXPECT_EQ(row.String("VSSEQ"), "128");
        EXPECT_NEAR(*row.Number("VSSTRESN"), 36.06, 1e-9);
        EXPECT_EQ(row.Number("VSORRES"), 96.9);  // a character value parsed on request
        EXPECT_EQ(row.Number("VSPOS"), std::nullopt);
        EXPECT_EQ(row.Number("NOSUCHVAR"), std::nullopt);
        EXPECT_EQ(row.String("NOSUCHVAR"), "");
        EXPECT_TRUE(row.Has("VSLOC"));
        EXPECT_FALSE(row.Has("VSLOINC"));
        checked = true;
        return Status::OK();
      },
      &rows);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(checked);

  // A missing SAS numeric is nullopt (AE.AEENDY of an ongoing AE).
  std::optional<double> aeendy = 0.0;
  st = ReadDataset(
      kDir + "/ae.xpt",
      [&](const Row& row) -> Status {
        aeendy = row.Number("AEENDY");
        return Status::Invalid("stop");
      },
      &rows);
  EXPECT_EQ(aeendy, std::nullopt);
}

TEST(SdtmRead, CallbackErrorStopsTheRead) {
  SKIP_WITHOUT_FIXTURES();
  int64_t rows = 0;
  Status st = ReadDataset(
      kDir + "/ds.xpt",
      [&](const Row& row) -> Status {
        return row.index() == 9 ? Status::Unavailable("enough") : Status::OK();
      },
      &rows);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable);
  EXPECT_EQ(rows, 10);
}

TEST(SdtmRead, HelpersParseAndClean) {
  EXPECT_EQ(ParseNumber("5.2"), 5.2);
  EXPECT_EQ(ParseNumber(" -1e3 "), -1000.0);
  EXPECT_EQ(ParseNumber("+4"), 4.0);
  EXPECT_EQ(ParseNumber(".5"), 0.5);
  for (const char* bad : {"", " ", "<0.2", "N", "0x10", "inf", "nan", "1,5", "1.2.3", "5 mg"}) {
    EXPECT_EQ(ParseNumber(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(CleanText("ABC   \r\n"), "ABC");
  EXPECT_EQ(CleanText("  lead"), "  lead");
  EXPECT_EQ(CleanText("caf\xc3\xa9"), "caf\xc3\xa9");                // valid UTF-8 kept
  EXPECT_EQ(CleanText("caf\xe9"), "caf\xc3\xa9");                    // Latin-1 re-encoded
  EXPECT_EQ(CleanText("\xed\xa0\x80"), "\xc3\xad\xc2\xa0\xc2\x80");  // surrogate: not UTF-8
  EXPECT_EQ(FormatNumber(3.0), "3");
  EXPECT_EQ(FormatNumber(3.5), "3.5");
}

TEST(SdtmRead, CsvQuotingBomCrlfAndMissing) {
  TempDir tmp;
  std::string csv =
      "\xEF\xBB\xBFstudyid,USUBJID,AETERM,AESEQ,AESTDTC,note\r\n"
      "S1,01-001,\"HEADACHE, SEVERE\",1,2014-01-03,\"say \"\"hi\"\"\"\r\n"
      "S1,01-002,\"LINE1\nLINE2\",2,,\r\n"
      "\r\n"
      "S1,01-003,RASH   ,3,2014\n"
      "S1,01-004,\"\",4,2014-02,x";  // no final newline
  std::string path = tmp.Write("ae.csv", csv);
  auto c = Collect(path);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->count, 4);
  EXPECT_EQ(c->rows[0].at("STUDYID"), "S1");  // header upper-cased, BOM removed
  EXPECT_EQ(c->rows[0].at("AETERM"), "HEADACHE, SEVERE");
  EXPECT_EQ(c->rows[0].at("NOTE"), "say \"hi\"");
  EXPECT_EQ(c->rows[1].at("AETERM"), "LINE1\nLINE2");
  EXPECT_EQ(c->rows[1].at("AESTDTC"), "");
  EXPECT_EQ(c->rows[2].at("AETERM"), "RASH");  // right-trimmed
  EXPECT_EQ(c->rows[2].at("NOTE"), "");        // short row: missing
  EXPECT_EQ(c->rows[3].at("AETERM"), "");
  EXPECT_EQ(c->rows[3].at("NOTE"), "x");

  // CSV numbers are parsed on request.
  int64_t rows = 0;
  std::vector<std::optional<double>> seqs;
  ASSERT_TRUE(ReadDataset(
                  path,
                  [&](const Row& r) -> Status {
                    seqs.push_back(r.Number("AESEQ"));
                    return Status::OK();
                  },
                  &rows)
                  .ok());
  EXPECT_EQ(seqs, (std::vector<std::optional<double>>{1.0, 2.0, 3.0, 4.0}));
}

TEST(SdtmRead, HostileInputsGiveStatusNotCrash) {
  SKIP_WITHOUT_FIXTURES();
  TempDir tmp;
  auto noop = [](const Row&) { return Status::OK(); };
  std::string dm = ReadBytes(kDir + "/dm.xpt");
  ASSERT_GT(dm.size(), 10000u);
  // Truncated transport files: inside the headers, inside the variable descriptors, mid-data.
  for (size_t n : {size_t{1}, size_t{79}, size_t{81}, size_t{401}, size_t{799}, size_t{1500 + 3},
                   size_t{3001}, dm.size() / 2 + 37, dm.size() - 1}) {
    std::string path = tmp.Write("cut.xpt", dm.substr(0, n));
    int64_t rows = -1;
    Status st = ReadDataset(path, noop, &rows);
    EXPECT_FALSE(st.ok()) << n;
    EXPECT_NE(st.message().find("SAS transport"), std::string::npos) << st.message();
    EXPECT_EQ(rows, 0) << n;
  }
  // Cut on card boundaries inside the headers: ReadStat's own errors.
  for (size_t n : {size_t{80}, size_t{400}, size_t{800}, size_t{1600}, size_t{3200}}) {
    int64_t rows = -1;
    Status st = ReadDataset(tmp.Write("cut.xpt", dm.substr(0, n)), noop, &rows);
    EXPECT_FALSE(st.ok()) << n;
    EXPECT_EQ(rows, 0) << n;
  }
  {
    // Cut on an 80-byte boundary inside the data: ReadStat cannot tell; fewer rows, no crash.
    int64_t rows = -1;
    Status st =
        ReadDataset(tmp.Write("cut80.xpt", dm.substr(0, dm.size() / 160 * 80)), noop, &rows);
    if (st.ok()) {
      EXPECT_LT(rows, 306);
    }
  }
  {
    int64_t rows = -1;
    Status st = ReadDataset(tmp.Write("empty.xpt", ""), noop, &rows);
    EXPECT_FALSE(st.ok());
    EXPECT_EQ(rows, 0);
  }
  {
    std::string text = "USUBJID,AGE\n01-001,63\n";
    text.resize(800, ' ');  // a multiple of 80 bytes: ReadStat itself must refuse it
    Status st = ReadDataset(tmp.Write("text.xpt", text), noop, nullptr);
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.message().find("SAS transport"), std::string::npos) << st.message();
  }
  {
    std::string junk(50000, '\0');
    std::mt19937 rng(7);
    for (char& ch : junk) ch = static_cast<char>(rng());
    // A valid library header followed by garbage.
    std::string path = tmp.Write("junk.xpt", dm.substr(0, 240) + junk);
    EXPECT_FALSE(ReadDataset(path, noop, nullptr).ok());
  }
  // Corrupt variable descriptors (huge lengths / positions) inside an otherwise real file.
  {
    std::string bad = dm;
    for (size_t i = 480; i < 480 + 1400 && i < bad.size(); i += 7) bad[i] = '\xff';
    Status st = ReadDataset(tmp.Write("corrupt.xpt", bad), noop, nullptr);
    (void)st;  // any outcome but a crash
  }
  EXPECT_EQ(ReadDataset(tmp.File("absent.xpt"), noop, nullptr).code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadDataset(tmp.Write("dm.sas7bdat", "x"), noop, nullptr).code(), StatusCode::kInvalid);

  // CSV: empty, unterminated quote, too many fields, NUL bytes, huge field.
  EXPECT_FALSE(ReadDataset(tmp.Write("e.csv", ""), noop, nullptr).ok());
  EXPECT_FALSE(ReadDataset(tmp.Write("q.csv", "A,B\n1,\"open\n"), noop, nullptr).ok());
  EXPECT_FALSE(ReadDataset(tmp.Write("w.csv", "A,B\n1,2,3\n"), noop, nullptr).ok());
  EXPECT_FALSE(ReadDataset(tmp.Write("n.csv", std::string("A,B\n1,\0\n", 8)), noop, nullptr).ok());
  EXPECT_FALSE(ReadDataset(tmp.Write("d.csv", "A,A\n1,2\n"), noop, nullptr).ok());
  EXPECT_FALSE(
      ReadDataset(tmp.Write("h.csv", "A\n\"" + std::string(2 << 20, 'x') + "\"\n"), noop, nullptr)
          .ok());
  std::string wide;
  for (int i = 0; i < 5000; ++i) wide += "C" + std::to_string(i) + ",";
  EXPECT_FALSE(ReadDataset(tmp.Write("c.csv", wide + "\n"), noop, nullptr).ok());
  // The xpt fixture read as CSV: binary, refused cleanly.
  fs::copy_file(kDir + "/dm.xpt", tmp.File("dm_binary.csv"));
  EXPECT_FALSE(ReadDataset(tmp.File("dm_binary.csv"), noop, nullptr).ok());
}

// ---------------------------------------------------------------- domain mapping

TEST(SdtmDomains, FileNamesToDomains) {
  EXPECT_EQ(DomainForFile("dm.xpt"), "DM");
  EXPECT_EQ(DomainForFile("/x/y/VS.XPT"), "VS");
  EXPECT_EQ(DomainForFile("lbch.xpt"), "LB");
  EXPECT_EQ(DomainForFile("LBUR.csv"), "LB");
  EXPECT_EQ(DomainForFile("cm.csv"), "CM");
  EXPECT_EQ(DomainForFile("suppae.xpt"), std::nullopt);
  EXPECT_EQ(DomainForFile("mh.xpt"), std::nullopt);
  EXPECT_EQ(DomainForFile("dm.sas7bdat"), std::nullopt);
  EXPECT_EQ(DomainForFile("lb-old.xpt"), std::nullopt);
  EXPECT_EQ(SdtmEventId("S", "DM", "01-001", "DM").size(), 37u);
  EXPECT_EQ(SdtmEventId("S", "DM", "01-001", "DM").rfind("sdtm-", 0), 0u);
  EXPECT_NE(SdtmEventId("S", "VS", "01-001", "1"), SdtmEventId("S", "VS", "01-001", "2"));
}

TEST(SdtmDomains, VsTemperatureKeepsOriginalUnitsAndText) {
  SKIP_WITHOUT_FIXTURES();
  auto deid = Deid();
  RowOutcome out = ConvertFixtureRow("vs.xpt", "VS", 128, deid);  // TEMP 97.0 F, 2013-12-31
  Json p = Payload(out);
  ASSERT_TRUE(out.event);
  const auto& ev = *out.event;
  EXPECT_EQ(ev.event_type, "vital_signs");
  EXPECT_EQ(ev.source, "sdtm");
  EXPECT_EQ(ev.study_id, "CDISCPILOT01");
  EXPECT_EQ(ev.site_id, "UNKNOWN");  // no DM map given
  EXPECT_EQ(ev.subject_key, deid.SubjectKey("01-701-1015"));
  EXPECT_EQ(ev.event_id, SdtmEventId("CDISCPILOT01", "VS", deid.SubjectKey("01-701-1015"), "129"));
  EXPECT_EQ(ev.event_time_us, deid.ShiftTime("01-701-1015", *ParseIso8601("2013-12-31")));
  EXPECT_LT(ev.event_time_us, *ParseIso8601("2013-12-31"));  // safe_harbor moves dates back
  ASSERT_EQ(p["measurements"].size(), 1u);
  const Json& m = p["measurements"][0];
  EXPECT_EQ(m["test"], "TEMP");
  EXPECT_EQ(m["code_system"], "SDTM");
  EXPECT_EQ(m["value"], 97.0);
  EXPECT_EQ(m["value_text"], "97.0");  // the string as collected
  EXPECT_EQ(m["unit"], "F");           // never the standardized C
  EXPECT_EQ(p["location"], "ORAL CAVITY");
  EXPECT_EQ(p["visit"], "SCREENING 2");
  EXPECT_EQ(p["visit_num"], 2.0);
  EXPECT_EQ(p["precision"], "day");
  EXPECT_EQ(ev.payload_json.find("36.1"), std::string::npos);  // no STRESN
  EXPECT_EQ(ev.ToJson().find("01-701-1015"), std::string::npos);
}

TEST(SdtmDomains, VsNotDoneHasNullValue) {
  SKIP_WITHOUT_FIXTURES();
  auto deid = Deid();
  int64_t rows = 0;
  int not_done = 0;
  ConvertContext ctx{&deid, "", nullptr, 1};
  ASSERT_TRUE(ReadDataset(
                  kDir + "/vs.xpt",
                  [&](const Row& row) -> Status {
                    if (!row.String("VSORRES").empty()) return Status::OK();
                    RowOutcome out = ConvertRow("VS", row, ctx);
                    EXPECT_TRUE(out.event) << out.reason;
                    Json p = Json::parse(out.event->payload_json);
                    EXPECT_TRUE(p["measurements"][0]["value"].is_null());
                    EXPECT_FALSE(p["measurements"][0].contains("value_text"));
                    ++not_done;
                    return Status::OK();
                  },
                  &rows)
                  .ok());
  EXPECT_EQ(not_done, 8);
}

TEST(SdtmDomains, LabResultFromOriginalResult) {
  SKIP_WITHOUT_FIXTURES();
  auto deid = Deid();
  RowOutcome out = ConvertFixtureRow("lbch.xpt", "LB", 0, deid);
  Json p = Payload(out);
  EXPECT_EQ(out.event->event_type, "lab_result");
  EXPECT_EQ(p["test"], "ALB");
  EXPECT_EQ(p["code_system"], "SDTM");
  EXPECT_EQ(p["test_name"], "Albumin");
  EXPECT_EQ(p["value"], 3.8);
  EXPECT_EQ(p["value_text"], "3.8");
  EXPECT_EQ(p["unit"], "g/dL");  // LBSTRESU would be g/L
  EXPECT_EQ(p["ref_low"], 3.3);
  EXPECT_EQ(p["ref_high"], 4.9);
  EXPECT_EQ(p["ref_text"], "3.3-4.9");
  EXPECT_EQ(p["abnormal_flag"], "NORMAL");
  EXPECT_EQ(p["is_abnormal"], false);
  EXPECT_EQ(p["category"], "CHEMISTRY");
  EXPECT_EQ(p["visit_num"], 1.0);
  EXPECT_EQ(p["precision"], "minute");  // 2013-12-26T14:45
  EXPECT_EQ(out.event->event_time_us,
            deid.ShiftTime("01-701-1015", *ParseIso8601("2013-12-26T14:45:00Z")));
  EXPECT_EQ(out.event->event_id,
            SdtmEventId("CDISCPILOT01", "LB", deid.SubjectKey("01-701-1015"), "1"));
}

TEST(SdtmDomains, DemographicsAndScreenFailure) {
  SKIP_WITHOUT_FIXTURES();
  auto deid = Deid();
  RowOutcome out = ConvertFixtureRow("dm.xpt", "DM", 0, deid);
  Json p = Payload(out);
  EXPECT_EQ(out.event->event_type, "demographics");
  EXPECT_EQ(out.event->site_id, "701");
  EXPECT_EQ(out.event->event_id,
            SdtmEventId("CDISCPILOT01", "DM", deid.SubjectKey("01-701-1015"), "DM"));
  EXPECT_EQ(p["age"], 63);
  EXPECT_EQ(p["age_unit"], "YEARS");
  EXPECT_EQ(p["sex"], "F");
  EXPECT_EQ(p["gender"], "female");
  EXPECT_EQ(p["race"], "WHITE");
  EXPECT_EQ(p["ethnicity"], "HISPANIC OR LATINO");
  EXPECT_EQ(p["arm"], "Placebo");
  EXPECT_EQ(p["arm_code"], "Pbo");
  EXPECT_EQ(p["country"], "USA");
  EXPECT_EQ(p["deceased"], false);
  EXPECT_EQ(p["enrollment_date"], *deid.ShiftDate("01-701-1015", "2014-01-02"));
  EXPECT_NE(p["enrollment_date"], "2014-01-02");
  EXPECT_EQ(p["precision"], "day");
  EXPECT_EQ(out.event->event_time_us, deid.ShiftTime("01-701-1015", *ParseIso8601("2014-01-02")));
  std::string all = out.event->ToJson();
  EXPECT_EQ(all.find("1015"), std::string::npos);  // neither USUBJID nor SUBJID

  // Row 6 is a screen failure: no RFSTDTC, no RFICDTC -> DMDTC (2013-12-20), no enrollment.
  out = ConvertFixtureRow("dm.xpt", "DM", 6, deid);
  p = Payload(out);
  EXPECT_EQ(p["arm_code"], "Scrnfail");
  EXPECT_FALSE(p.contains("enrollment_date"));
  EXPECT_EQ(out.event->event_time_us, deid.ShiftTime("01-701-1057", *ParseIso8601("2013-12-20")));
}

TEST(SdtmDomains, PartialDatesAndFallbacks) {
  SKIP_WITHOUT_FIXTURES();
  auto deid = Deid();
  // AE row 37: AESTDTC "2003" (year only).
  RowOutcome out = ConvertFixtureRow("ae.xpt", "AE", 37, deid);
  Json p = Payload(out);
  EXPECT_EQ(p["precision"], "year");
  EXPECT_EQ(p["start_date"], *deid.ShiftDate("01-701-1118", "2003"));
  EXPECT_EQ(p["start_date"].get<std::string>().size(), 4u);
  EXPECT_EQ(out.event->event_time_us, deid.ShiftTime("01-701-1118", *ParseIso8601("2003-01-01")));
  EXPECT_EQ(p["serious"], false);
  // CM row 2681: no CMSTDTC -> placed at CMDTC 2013-05-09, start_date absent.
  out = ConvertFixtureRow("cm.xpt", "CM", 2681, deid);
  p = Payload(out);
  EXPECT_FALSE(p.contains("start_date"));
  EXPECT_EQ(p["name"], "LUPRON");
  EXPECT_EQ(p["dose"], 7.5);
  EXPECT_EQ(p["dose_text"], "7.5");
  EXPECT_EQ(p["dose_unit"], "mg");
  EXPECT_EQ(p["category"], "concomitant");
  EXPECT_EQ(out.event->event_time_us, deid.ShiftTime("01-705-1382", *ParseIso8601("2013-05-09")));
}

TEST(SdtmDomains, RejectionsNameReasonAndVariable) {
  TempDir tmp;
  auto deid = Deid();
  std::string path =
      tmp.Write("ae.csv",
                "STUDYID,DOMAIN,USUBJID,AESEQ,AETERM,AESEV,AESER,AESTDTC,AEENDTC,AEDTC\n"
                ",AE,,1,HEADACHE,MILD,N,2014-01-03,,\n"                // no USUBJID
                "S,AE,01-001,2,HEADACHE,MILD,N,P1D,,\n"                // duration
                "S,AE,01-001,3,HEADACHE,MILD,N,--01-03,,\n"            // no year
                "S,AE,01-001,4,HEADACHE,MILD,N,,,\n"                   // no date at all
                "S,AE,01-001,5,HEADACHE,MILD,N,2014-01-03,2014-13,\n"  // bad end date
                "S,AE,01-001,6,\"call 617-555-0100, MRN 12345678\",severe,Y,2014-01-03T10:30,,\n"
                "S,AE,01-001,7,HEADACHE,,N,,,2014-02\n");  // start missing: collection date
  ConvertContext ctx{&deid, "OVERRIDE", nullptr, 5};
  std::vector<RowOutcome> outs;
  int64_t rows = 0;
  ASSERT_TRUE(ReadDataset(
                  path,
                  [&](const Row& row) -> Status {
                    outs.push_back(ConvertRow("AE", row, ctx));
                    return Status::OK();
                  },
                  &rows)
                  .ok());
  ASSERT_EQ(outs.size(), 7u);
  auto reason = [&](size_t i) { return outs[i].reason + "(" + outs[i].field + ")"; };
  EXPECT_EQ(reason(0), "MISSING_FIELD(USUBJID)");
  EXPECT_EQ(reason(1), "INVALID_DATE(AESTDTC)");
  EXPECT_EQ(reason(2), "INVALID_DATE(AESTDTC)");
  EXPECT_EQ(reason(3), "MISSING_FIELD(AESTDTC)");
  EXPECT_EQ(reason(4), "INVALID_DATE(AEENDTC)");
  for (size_t i = 0; i < 5; ++i) EXPECT_FALSE(outs[i].event) << i;
  ASSERT_TRUE(outs[5].event) << reason(5);
  Json p = Json::parse(outs[5].event->payload_json);
  EXPECT_EQ(outs[5].event->study_id, "OVERRIDE");
  EXPECT_EQ(p["severity"], "SEVERE");  // normalized
  EXPECT_EQ(p["serious"], true);
  EXPECT_EQ(p["precision"], "minute");
  EXPECT_EQ(p["term"].get<std::string>().find("617-555-0100"), std::string::npos);
  EXPECT_EQ(p["term"].get<std::string>().find("12345678"), std::string::npos);
  EXPECT_NE(p["term"].get<std::string>().find("[REDACTED]"), std::string::npos);
  ASSERT_TRUE(outs[6].event) << reason(6);
  p = Json::parse(outs[6].event->payload_json);
  EXPECT_EQ(p["precision"], "month");
  EXPECT_FALSE(p.contains("start_date"));
  // Unknown domain.
  Row no_row(nullptr, nullptr);
  EXPECT_EQ(ConvertRow("MH", no_row, ctx).reason, "UNSUPPORTED_DOMAIN");
}

TEST(SdtmDomains, OverlongValueIsRejectedNotCrashing) {
  TempDir tmp;
  auto deid = Deid();
  std::string path = tmp.Write("cm.csv", "USUBJID,CMSEQ,CMTRT,CMINDC,CMSTDTC\n01-001,1,X,\"" +
                                             std::string(500000, '9') + "\",2014-01-01\n");
  ConvertContext ctx{&deid, "", nullptr, 5};
  RowOutcome out;
  ASSERT_TRUE(ReadDataset(
                  path,
                  [&](const Row& row) -> Status {
                    out = ConvertRow("CM", row, ctx);
                    return Status::OK();
                  },
                  nullptr)
                  .ok());
  EXPECT_EQ(out.reason, "INVALID_VALUE");
  EXPECT_EQ(out.field, "CMINDC");
}

// ---------------------------------------------------------------- importer

TEST(SdtmImport, FindsDomainFilesDmFirst) {
  SKIP_WITHOUT_FIXTURES();
  std::vector<std::string> ignored;
  auto files = FindDomainFiles(kDir, &ignored);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  std::vector<std::string> domains;
  for (const auto& [d, names] : *files) domains.push_back(d);
  EXPECT_EQ(domains, (std::vector<std::string>{"DM", "VS", "LB", "AE", "DS", "EX", "CM"}));
  EXPECT_EQ((*files)[2].second, (std::vector<std::string>{"lbch.xpt", "lbhe.xpt", "lbur.xpt"}));
  EXPECT_NE(std::find(ignored.begin(), ignored.end(), "suppae.xpt"), ignored.end());
  EXPECT_NE(std::find(ignored.begin(), ignored.end(), "mh.xpt"), ignored.end());
  EXPECT_EQ(FindDomainFiles("/nonexistent/ctml", nullptr).status().code(), StatusCode::kNotFound);
}

TEST(SdtmImport, DmAndDsIntoSqliteWithChunkedAudit) {
  SKIP_WITHOUT_FIXTURES();
  TempDir tmp;
  fs::create_directories(tmp.path() / "study");
  fs::copy_file(kDir + "/dm.xpt", tmp.File("study/DM.XPT"));  // case-insensitive discovery
  fs::copy_file(kDir + "/ds.xpt", tmp.File("study/ds.xpt"));
  tmp.Write("study/notes.txt", "ignored");
  auto log = store::OpenEventLog("sqlite://" + tmp.File("log.db"));
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  auto meta = store::OpenMetaStore("sqlite://" + tmp.File("meta.db"));
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  IngestCore core(**log, meta->get());
  auto deid = Deid();

  ImportOptions opts;
  opts.dir = tmp.File("study");
  opts.actor = "cli:test";
  opts.chunk_events = 100;
  std::vector<std::string> progress;
  opts.progress = [&](const std::string& line) { progress.push_back(line); };
  auto report = ImportSdtm(opts, deid, &core);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_TRUE(report->ok());
  ASSERT_EQ(report->domains.size(), 2u);
  EXPECT_EQ(report->domains[0].domain, "DM");
  EXPECT_EQ(report->domains[0].rows_read, 306);
  EXPECT_EQ(report->domains[0].accepted, 306);
  EXPECT_EQ(report->domains[1].domain, "DS");
  EXPECT_EQ(report->domains[1].accepted, 596);
  EXPECT_EQ(report->domains[1].rejected, 0);
  EXPECT_EQ(report->submits, 4 + 6);  // ceil(306/100) + ceil(596/100)
  ASSERT_FALSE(progress.empty());
  EXPECT_NE(progress.back().find("done rows=596"), std::string::npos) << progress.back();
  std::string table = FormatImportReport(*report);
  EXPECT_NE(table.find("DS"), std::string::npos);
  EXPECT_NE(table.find("596"), std::string::npos);

  auto count = [&](const std::string& topic) {
    int64_t n = 0;
    auto parts = (*log)->Partitions(topic);
    if (parts.ok()) {
      for (const auto& p : *parts) n += p.end_offset;
    }
    return n;
  };
  EXPECT_EQ(count("demographics"), 306);
  EXPECT_EQ(count("disposition"), 596);

  auto audit = (*meta)->ListAudit(1, 1000);
  ASSERT_TRUE(audit.ok());
  ASSERT_EQ(audit->size(), 10u);
  EXPECT_TRUE(store::VerifyAuditChain(*audit).ok());
  EXPECT_EQ((*audit)[0].actor, "cli:test");
  EXPECT_NE((*audit)[0].object.find("DM.XPT"), std::string::npos);
  EXPECT_NE((*audit)[9].object.find("ds.xpt"), std::string::npos);

  // No USUBJID (nor SUBJID) appears anywhere in what was stored.
  std::set<std::string> usubjids;
  int64_t rows = 0;
  ASSERT_TRUE(ReadDataset(
                  kDir + "/dm.xpt",
                  [&](const Row& row) -> Status {
                    usubjids.insert(std::string(row.String("USUBJID")));
                    return Status::OK();
                  },
                  &rows)
                  .ok());
  ASSERT_EQ(usubjids.size(), 306u);
  auto consumer = (*log)->Subscribe("sdtm-test", {"demographics", "disposition"});
  ASSERT_TRUE(consumer.ok());
  int64_t seen = 0, with_site = 0;
  std::set<std::string> event_ids;
  for (;;) {
    auto batch = (*consumer)->Poll(1000, std::chrono::milliseconds(50));
    ASSERT_TRUE(batch.ok());
    if (batch->empty()) break;
    for (const auto& rec : *batch) {
      ++seen;
      for (const auto& u : usubjids) ASSERT_EQ(rec.value.find(u), std::string::npos);
      auto ev = CanonicalEvent::FromJson(rec.value);
      ASSERT_TRUE(ev.ok());
      EXPECT_EQ(ev->source, "sdtm");
      if (ev->site_id != "UNKNOWN") ++with_site;
      event_ids.insert(ev->event_id);
    }
  }
  EXPECT_EQ(seen, 902);
  EXPECT_EQ(with_site, 902);  // DS got SITEID through the DM map
  EXPECT_EQ(event_ids.size(), 902u);
  for (const auto& rec : *audit) {
    for (const auto& u : usubjids) ASSERT_EQ(rec.detail.find(u), std::string::npos);
  }
}

TEST(SdtmImport, DryRunAllDomainsAcceptsEveryRow) {
  SKIP_WITHOUT_FIXTURES();
  auto deid = Deid();
  ImportOptions opts;
  opts.dir = kDir;
  opts.dry_run = true;
  auto report = ImportSdtm(opts, deid, nullptr);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const std::map<std::string, int64_t> expected = {{"DM", 306}, {"VS", 29643}, {"LB", 59580},
                                                   {"AE", 961}, {"DS", 596},   {"EX", 591},
                                                   {"CM", 7510}};
  ASSERT_EQ(report->domains.size(), expected.size());
  for (const auto& d : report->domains) {
    EXPECT_EQ(d.rows_read, expected.at(d.domain)) << d.domain;
    EXPECT_EQ(d.accepted, expected.at(d.domain)) << d.domain;
    EXPECT_EQ(d.rejected, 0) << d.domain;
  }
  EXPECT_EQ(report->submits, 0);

  // --domains and an unknown domain.
  opts.domains = {"ds"};
  auto only = ImportSdtm(opts, deid, nullptr);
  ASSERT_TRUE(only.ok());
  ASSERT_EQ(only->domains.size(), 1u);
  EXPECT_EQ(only->domains[0].domain, "DS");
  opts.domains = {"XX"};
  EXPECT_EQ(ImportSdtm(opts, deid, nullptr).status().code(), StatusCode::kInvalid);
  opts.domains = {};
  opts.dry_run = false;
  EXPECT_FALSE(ImportSdtm(opts, deid, nullptr).ok());  // needs a core
}

TEST(SdtmImport, UnreadableFileIsReportedOthersStillImported) {
  SKIP_WITHOUT_FIXTURES();
  TempDir tmp;
  fs::copy_file(kDir + "/dm.xpt", tmp.File("dm.xpt"));
  std::string ae = ReadBytes(kDir + "/ae.xpt");
  tmp.Write("ae.xpt", ae.substr(0, ae.size() / 2 + 13));
  tmp.Write("ex.xpt", "this is not a transport file");
  auto deid = Deid();
  ImportOptions opts;
  opts.dir = tmp.path().string();
  opts.dry_run = true;
  auto report = ImportSdtm(opts, deid, nullptr);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->ok());
  ASSERT_EQ(report->domains.size(), 3u);
  EXPECT_EQ(report->domains[0].accepted, 306);
  EXPECT_TRUE(report->domains[0].error.empty());
  EXPECT_FALSE(report->domains[2].error.empty());  // EX
  EXPECT_NE(FormatImportReport(*report).find("ERROR"), std::string::npos);
}

}  // namespace
}  // namespace ctml::ingest::sdtm
