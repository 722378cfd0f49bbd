#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ctml/core/config.h"
#include "ctml/core/crypto.h"
#include "ctml/core/ids.h"
#include "ctml/core/json.h"
#include "ctml/core/log.h"
#include "ctml/core/metrics.h"
#include "ctml/core/status.h"
#include "ctml/core/time.h"
#include "ctml/core/url.h"

namespace ctml {
namespace {

Result<int> Half(int v) {
  if (v % 2) return Status::Invalid("odd", "v");
  return v / 2;
}

Result<int> Quarter(int v) {
  CTML_ASSIGN_OR_RETURN(int h, Half(v));
  return Half(h);
}

TEST(Status, ResultPropagatesErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(r.status().field(), "v");
  EXPECT_EQ(r.status().ToString(), "INVALID_ARGUMENT: odd (field v)");
}

TEST(Config, FlattensInterpolatesResolvesPathsAndAppliesEnv) {
  auto cfg = Config::FromYaml(
      "paths:\n  var: var\nlog:\n  uri: sqlite://${paths.var}/log.db\ngateway:\n  port: 8082\n"
      "  max_body_bytes: 1000\n",
      "/proj");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->GetString("paths.var"), "/proj/var");
  EXPECT_EQ(cfg->GetString("log.uri"), "sqlite:///proj/var/log.db");
  EXPECT_EQ(cfg->GetInt("gateway.port", 0), 8082);

  setenv("CTML_GATEWAY_MAX_BODY_BYTES", "77", 1);
  setenv("CTML_PATHS_VAR", "/tmp/elsewhere", 1);
  auto env_cfg = Config::FromYaml(
      "paths:\n  var: var\nlog:\n  uri: sqlite://${paths.var}/log.db\ngateway:\n"
      "  max_body_bytes: 1000\n",
      "/proj");
  unsetenv("CTML_GATEWAY_MAX_BODY_BYTES");
  unsetenv("CTML_PATHS_VAR");
  ASSERT_TRUE(env_cfg.ok());
  EXPECT_EQ(env_cfg->GetInt("gateway.max_body_bytes", 0), 77);
  EXPECT_EQ(env_cfg->GetString("log.uri"), "sqlite:///tmp/elsewhere/log.db");
}

TEST(Config, ReportsBadYamlLineAndUnknownReference) {
  auto bad = Config::FromYaml("a:\n  b: [1, 2\n", "/x");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("line"), std::string::npos);
  auto ref = Config::FromYaml("a: ${nope}\n", "/x");
  ASSERT_FALSE(ref.ok());
  EXPECT_EQ(ref.status().field(), "a");
}

TEST(Config, ExtendsABaseFileAndKeepsSecretFileReferences) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(::testing::TempDir()) / ("ctml-config-" + HexEncode(RandomBytes(4)));
  fs::create_directories(dir);
  std::ofstream(dir / "base.yaml")
      << "paths:\n  var: var\nlog:\n  uri: sqlite://${paths.var}/l.db\n"
         "gateway:\n  port: 8082\n  threads: 2\n";
  std::ofstream(dir / "dist.yaml")
      << "extends: base.yaml\nlog:\n  uri: kafka://127.0.0.1:19092\ngateway:\n  port: 9000\n"
         "meta:\n  uri: postgresql://ctml:${file:var/pw}@127.0.0.1:15432/ctml\n";
  auto cfg = Config::Load((dir / "dist.yaml").string());
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->GetString("log.uri"), "kafka://127.0.0.1:19092");  // overridden
  EXPECT_EQ(cfg->GetInt("gateway.port", 0), 9000);
  EXPECT_EQ(cfg->GetInt("gateway.threads", 0), 2);  // inherited
  EXPECT_FALSE(cfg->Has("extends"));
  cfg->Set("services.managed", " kafka, redis,,postgres ");
  EXPECT_EQ(cfg->GetList("services.managed"),
            (std::vector<std::string>{"kafka", "redis", "postgres"}));
  EXPECT_TRUE(cfg->GetList("no.such.key").empty());
  // The secret stays a reference (made absolute), never the file's content.
  EXPECT_EQ(cfg->GetString("meta.uri"),
            "postgresql://ctml:${file:" + (dir / "var/pw").string() + "}@127.0.0.1:15432/ctml");
  // References nest: the innermost is resolved first.
  auto nested = Config::FromYaml(
      "paths:\n  services: var/services\nmeta:\n  uri: pg://u:${file:${paths.services}/pw}@h\n",
      "/proj");
  ASSERT_TRUE(nested.ok()) << nested.status().ToString();
  EXPECT_EQ(nested->GetString("meta.uri"), "pg://u:${file:/proj/var/services/pw}@h");

  setenv("CTML_GATEWAY_THREADS", "5", 1);  // the environment overrides inherited keys too
  auto env_cfg = Config::Load((dir / "dist.yaml").string());
  unsetenv("CTML_GATEWAY_THREADS");
  ASSERT_TRUE(env_cfg.ok());
  EXPECT_EQ(env_cfg->GetInt("gateway.threads", 0), 5);

  std::ofstream(dir / "loop.yaml") << "extends: loop.yaml\n";
  auto loop = Config::Load((dir / "loop.yaml").string());
  ASSERT_FALSE(loop.ok());
  EXPECT_NE(loop.status().message().find("extends"), std::string::npos);
  std::ofstream(dir / "orphan.yaml") << "extends: missing.yaml\n";
  auto orphan = Config::Load((dir / "orphan.yaml").string());
  ASSERT_FALSE(orphan.ok());
  EXPECT_NE(orphan.status().message().find("missing.yaml"), std::string::npos);
  fs::remove_all(dir);
}

TEST(Time, ParsesZonesFractionsAndRejectsGarbage) {
  auto t = ParseIso8601("2024-03-01T08:30:00+01:00");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(FormatIso8601(*t), "2024-03-01T07:30:00.000000Z");
  EXPECT_EQ(*ParseIso8601("2024-03-01T07:30:00.123456789Z") - *t, 123456);
  EXPECT_EQ(*ParseIso8601("2024-03-01"), *ParseIso8601("2024-03-01T00:00:00Z"));
  EXPECT_EQ(*ParseIso8601("1970-01-01T00:00:01Z"), kMicrosPerSecond);
  EXPECT_EQ(FormatDate(*ParseIso8601("2023-12-31T23:59:59-05:00")), "2024-01-01");
  EXPECT_FALSE(ParseIso8601("2024-02-30").ok());
  EXPECT_FALSE(ParseIso8601("yesterday").ok());
  EXPECT_FALSE(ParseIso8601("2024-03-01T25:00:00Z").ok());
  EXPECT_FALSE(ParseIso8601("2024-03-01T10:00:00Zjunk").ok());
  EXPECT_EQ(DayStart(*ParseIso8601("2024-03-01T10:00:00Z")), *ParseIso8601("2024-03-01"));
}

TEST(Crypto, KnownAnswers) {
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4648 section 10 (without padding).
  EXPECT_EQ(Base32Encode("foobar"), "MZXW6YTBOI");
  EXPECT_NE(Hash64("a"), Hash64("b"));
}

TEST(Ids, UuidV7IsVersionedAndUnique) {
  std::string a = NewUuidV7(), b = NewUuidV7();
  EXPECT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '7');
  EXPECT_NE(a, b);
}

TEST(Json, RejectsMalformedAndTooDeep) {
  EXPECT_TRUE(ParseJson(R"({"a":[1,2,{"b":null}]})").ok());
  EXPECT_FALSE(ParseJson("{\"a\":").ok());
  std::string deep(100, '[');
  deep += std::string(100, ']');
  auto r = ParseJson(deep, 32);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("deeper"), std::string::npos);
  auto body = Json::parse(ErrorBody(Status::Invalid("too high", "vital_signs.heart_rate")));
  EXPECT_EQ(body["error"]["field"], "vital_signs.heart_rate");
  EXPECT_EQ(body["error"]["code"], "INVALID_ARGUMENT");
}

TEST(Metrics, ExposesCountersGaugesHistograms) {
  MetricsRegistry reg;
  reg.Counter("t_requests_total", "Requests", {{"route", "/x"}}).Inc(3);
  reg.Gauge("t_up", "Up").Set(1);
  auto& h = reg.Histogram("t_latency_seconds", "Latency", {}, {0.1, 1});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  std::string text = reg.Exposition();
  EXPECT_NE(text.find("# TYPE t_requests_total counter"), std::string::npos);
  EXPECT_NE(text.find("t_requests_total{route=\"/x\"} 3"), std::string::npos);
  EXPECT_NE(text.find("t_up 1"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"0.1\"} 1"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"1\"} 2"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_bucket{le=\"+Inf\"} 3"), std::string::npos);
  EXPECT_NE(text.find("t_latency_seconds_count 3"), std::string::npos);
}

TEST(Log, FieldsAreEscapedAndCapped) {
  std::string long_value(500, 'x');
  std::string s = log::FormatFields({{"a", "b c"}, {"long", long_value}});
  EXPECT_NE(s.find("a=\"b c\""), std::string::npos);
  EXPECT_LT(s.size(), 260u);
}

TEST(Url, PercentEncodesAllButUnreservedAndDecodesStrictlyOrLeniently) {
  EXPECT_EQ(PercentEncode("name='a b'/é~x-y_z.1"), "name%3D%27a%20b%27%2F%C3%A9~x-y_z.1");
  EXPECT_EQ(PercentDecode(PercentEncode("p@ss:w/rd?&=%")), "p@ss:w/rd?&=%");
  EXPECT_EQ(PercentDecode("%41%2f%"), "A/%");  // a malformed escape stays as written
  EXPECT_EQ(PercentDecode("a+b%20c"), "a+b c");
  EXPECT_EQ(PercentDecode("a+b%20c", {.plus_is_space = true}), "a b c");
  EXPECT_EQ(PercentDecode("%4", {.strict = true}), std::nullopt);
  EXPECT_EQ(PercentDecode("%zz", {.strict = true}), std::nullopt);
  EXPECT_EQ(PercentDecode("%40x", {.strict = true}), "@x");
}

}  // namespace
}  // namespace ctml
