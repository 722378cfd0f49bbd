#include "ctml/manager/manager.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "ctml/core/config.h"
#include "ctml/manager/levels.h"
#include "ctml/manager/options.h"
#include "ctml/manager/probes.h"
#include "ctml/manager/supervisor.h"
#include "ctml/net/http.h"
#include "ctml/store/factory.h"

namespace ctml::manager {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "ctml_manager_test_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Polls `pred` (no wall-clock assertions: the bound only keeps a broken test from hanging).
template <typename Pred>
bool Eventually(Pred pred) {
  for (int i = 0; i < 2000; ++i) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

SpawnOptions Opts(std::vector<std::string> argv, std::string log = "", std::string cwd = "") {
  SpawnOptions o;
  o.argv = std::move(argv);
  o.log_path = std::move(log);
  o.cwd = std::move(cwd);
  return o;
}

// Kills a spawned daemon at the end of a test whatever happens.
struct Reaper {
  pid_t pid = 0;
  ~Reaper() {
    if (pid > 0 && IsProcessAlive(pid)) ::kill(-pid, SIGKILL);
  }
};

// ------------------------------------------------------------------ level table

TEST(LevelsTest, TableRowsAreOrderedAndNamesUnique) {
  std::set<std::string> names;
  int last_level = 0;
  for (const auto& row : ServiceTable()) {
    EXPECT_GE(row.level, last_level) << row.name;
    last_level = row.level;
    EXPECT_TRUE(names.insert(row.name).second) << "duplicate " << row.name;
    if (row.kind == RowKind::kStore) {
      EXPECT_EQ(row.level, 0) << row.name;
      EXPECT_TRUE(row.command.empty()) << row.name;
    } else {
      EXPECT_GE(row.level, 1) << row.name;
      EXPECT_FALSE(row.command.empty()) << row.name;
    }
  }
  EXPECT_EQ(last_level, kMaxLevel);
}

TEST(LevelsTest, LookupsByLevelAndName) {
  std::vector<std::string> names;
  for (const auto& r : RowsInLevels(1, 2, RowKind::kService)) names.push_back(r.name);
  EXPECT_THAT(names, ElementsAre("gateway", "mllp", "bronze-sink", "process"));
  names.clear();
  for (const auto& r : RowsInLevels(0, 0)) names.push_back(r.name);
  EXPECT_THAT(names, ElementsAre("event-log", "lake", "online-store", "meta-store"));
  names.clear();
  for (const auto& r : RowsInLevels(4, 4, RowKind::kJob)) names.push_back(r.name);
  EXPECT_THAT(names, ElementsAre("generate", "train"));
  names.clear();
  for (const auto& r : RowsInLevels(4, 4, RowKind::kService)) names.push_back(r.name);
  EXPECT_THAT(names, ElementsAre("serve", "registry"));
  EXPECT_TRUE(RowsInLevels(1, 0).empty());

  const ServiceRow* serve = FindRow("serve");
  ASSERT_NE(serve, nullptr);
  EXPECT_EQ(serve->level, 4);
  EXPECT_TRUE(serve->has_ready);
  EXPECT_EQ(serve->PortKey(), "serve.port");
  const ServiceRow* registry = FindRow("registry");
  ASSERT_NE(registry, nullptr);
  EXPECT_EQ(registry->level, 4);
  EXPECT_TRUE(registry->has_ready);
  EXPECT_EQ(registry->PortKey(), "registry.port");
  const ServiceRow* sink = FindRow("bronze-sink");
  ASSERT_NE(sink, nullptr);
  EXPECT_EQ(sink->PortKey(), "bronze_sink.port");
  EXPECT_EQ(sink->command, "bronze-sink");
  EXPECT_TRUE(FindRow("gateway")->has_ready);  // not ready while its stores are down
  EXPECT_FALSE(FindRow("mllp")->has_ready);
  EXPECT_EQ(FindRow("kafka"), nullptr);
  // mllp speaks MLLP on mllp.port; its /health is on mllp.http_port.
  auto cfg = Config::FromYaml("mllp: {host: 127.0.0.1, port: 2575, http_port: 8086}\n", "/");
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(ServiceEndpoint(*FindRow("mllp"), *cfg).port, 8086);
  EXPECT_EQ(LevelTitle(0), "infrastructure");
  EXPECT_EQ(LevelTitle(5), "");
}

TEST(LevelsTest, EveryServicePortAndStoreUriIsInTheShippedConfig) {
  auto cfg = Config::Load(std::string(CTML_SOURCE_DIR) + "/ctml.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  std::set<int64_t> ports;
  for (const auto& row : ServiceTable()) {
    if (row.kind == RowKind::kService) {
      int64_t port = cfg->GetInt(row.PortKey(), 0);
      EXPECT_GT(port, 0) << row.PortKey();
      EXPECT_TRUE(ports.insert(port).second) << "port " << port << " used twice";
      EXPECT_EQ(cfg->GetString(row.HostKey()), "127.0.0.1") << row.HostKey();
    } else if (row.kind == RowKind::kStore) {
      EXPECT_TRUE(cfg->Require(row.config_key).ok()) << row.config_key;
    }
  }
  EXPECT_EQ(ports.size(), 7u);
}

TEST(LevelsTest, ParseLevel) {
  EXPECT_EQ(ParseLevel("all"), kMaxLevel);
  EXPECT_EQ(ParseLevel("0"), 0);
  EXPECT_EQ(ParseLevel("3"), 3);
  EXPECT_EQ(ParseLevel("4"), 4);
  EXPECT_EQ(ParseLevel("5"), std::nullopt);
  EXPECT_EQ(ParseLevel("-1"), std::nullopt);
  EXPECT_EQ(ParseLevel("2a"), std::nullopt);
  EXPECT_EQ(ParseLevel(""), std::nullopt);
  EXPECT_EQ(ParseLevel("ALL"), std::nullopt);
}

TEST(LevelsTest, DrainChecksCoverTheStreamingConsumers) {
  std::vector<std::string> pairs;
  for (const auto& c : DrainChecks()) pairs.push_back(c.group + "@" + c.topic);
  // Both Level 2 consumers on every raw topic, then the features service.
  for (const std::string group : {"bronze-sink", "process"}) {
    for (const std::string topic : {"patient-vitals", "lab-results", "adverse-events",
                                    "medications", "demographics", "exposure", "disposition"}) {
      EXPECT_THAT(pairs, Contains(group + "@" + topic));
    }
  }
  for (const std::string table :
       {"subjects", "vitals", "labs", "adverse_events", "medications", "exposure", "disposition"}) {
    EXPECT_THAT(pairs, Contains("features@silver." + table));
  }
  for (const auto& c : DrainChecks()) EXPECT_NE(FindRow(c.group), nullptr) << c.group;
}

// ------------------------------------------------------------------ flags

Result<ManagerOptions> Parse(const std::string& args) {
  CLI::App app{"test", "ctml-manager"};
  ManagerFlags flags;
  AddManagerFlags(&app, &flags);
  app.parse(args, false);
  return ValidateManagerFlags(flags);
}

TEST(OptionsTest, StartWithLevel) {
  auto o = Parse("--start --level 2");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->action, Action::kStart);
  EXPECT_EQ(o->level, 2);
  EXPECT_FALSE(o->Empty());
}

TEST(OptionsTest, DefaultsToAllLevels) {
  auto o = Parse("--stop");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->action, Action::kStop);
  EXPECT_EQ(o->level, kMaxLevel);
  EXPECT_TRUE(Parse("")->Empty());
  EXPECT_EQ(Parse("--level 3")->action, Action::kNone);
  EXPECT_TRUE(Parse("--level 3")->Empty());
}

TEST(OptionsTest, ShortHIsHealthNotHelp) {
  auto o = Parse("-s -h --level 4");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->action, Action::kNone);
  EXPECT_TRUE(o->summary);
  EXPECT_TRUE(o->health);
  EXPECT_FALSE(o->logs);
  EXPECT_FALSE(o->Empty());
  EXPECT_THROW(Parse("--help"), CLI::CallForHelp);
}

TEST(OptionsTest, ViewsCombineWithAnAction) {
  auto o = Parse("--start --level all -s -h -l -n 5 -o -v -d");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->action, Action::kStart);
  EXPECT_EQ(o->level, 4);
  EXPECT_TRUE(o->summary && o->health && o->logs && o->urls && o->topology && o->demo);
  EXPECT_EQ(o->log_lines, 5);
  auto bundled = Parse("-shlov");
  ASSERT_TRUE(bundled.ok());
  EXPECT_TRUE(bundled->summary && bundled->health && bundled->logs && bundled->urls &&
              bundled->topology);
  EXPECT_EQ(bundled->log_lines, 20);
}

TEST(OptionsTest, RejectsBadCombinations) {
  auto two = Parse("--start --stop");
  EXPECT_EQ(two.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(two.status().field(), "action");
  auto level = Parse("--start --level 7");
  EXPECT_EQ(level.status().code(), StatusCode::kInvalid);
  EXPECT_EQ(level.status().field(), "--level");
  EXPECT_EQ(Parse("--start --level x").status().field(), "--level");
  EXPECT_EQ(Parse("--stop --all-data").status().field(), "--all-data");
  EXPECT_TRUE(Parse("--clean --all-data").ok());
  EXPECT_TRUE(Parse("--clean --all-data")->all_data);
  EXPECT_EQ(Parse("-l -n 0").status().field(), "-n");
  EXPECT_THROW(Parse("--bogus"), CLI::ParseError);
  EXPECT_THROW(Parse("--level"), CLI::ParseError);
}

TEST(OptionsTest, Level3UtilitiesBecomeFeaturesCommands) {
  using Args = std::vector<std::string>;
  auto o = Parse("--level 3 --compare-stores");
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_FALSE(o->Empty());
  EXPECT_THAT(o->feature_tools, ElementsAre(Args{"compare-stores"}));
  o = Parse("--level 3 --compare-stores 2014-01-02 --query-online-features 01-701-1015");
  ASSERT_TRUE(o.ok());
  EXPECT_THAT(o->feature_tools, ElementsAre(Args{"compare-stores", "--date", "2014-01-02"},
                                            Args{"query-online", "--", "01-701-1015"}));
  o = Parse(
      "--query-offline-features 2014-01-02 --monitor-feature-pipeline "
      "--inspect-feature-volume clinical -s");
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o->summary);
  EXPECT_THAT(o->feature_tools, ElementsAre(Args{"query-offline", "--date", "2014-01-02"},
                                            Args{"monitor"}, Args{"volume", "--", "clinical"}));
  // The patient id is required.
  EXPECT_THROW(Parse("--query-online-features"), CLI::ParseError);
  EXPECT_TRUE(Parse("-s")->feature_tools.empty());
}

TEST(OptionsTest, RestartRebuildAndClean) {
  EXPECT_EQ(Parse("--restart-rebuild --level 3")->action, Action::kRestartRebuild);
  EXPECT_EQ(Parse("--clean")->action, Action::kClean);
  EXPECT_STREQ(ActionName(Action::kRestartRebuild), "restart-rebuild");
}

// ------------------------------------------------------------------ pid files

TEST(PidFileTest, RoundTripMissingAndGarbage) {
  TempDir dir;
  const std::string path = dir.path() + "/run/svc.pid";
  auto missing = ReadPidFile(path);
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  ASSERT_TRUE(WritePidFile(path, 4242).ok());  // creates run/
  EXPECT_EQ(ReadAll(path), "4242\n");
  auto got = ReadPidFile(path);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->value(), 4242);
  std::ofstream(path) << "not-a-pid\n";
  EXPECT_EQ(ReadPidFile(path).status().code(), StatusCode::kInvalid);
  std::ofstream(path) << "0\n";
  EXPECT_EQ(ReadPidFile(path).status().code(), StatusCode::kInvalid);
  ASSERT_TRUE(RemovePidFile(path).ok());
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(RemovePidFile(path).ok());  // absent is fine
  EXPECT_EQ(InspectPidFile(path, "x").state, ProcessState::kStopped);
}

// ------------------------------------------------------------------ supervisor with real children

TEST(SupervisorTest, SpawnsADetachedDaemonAndStopsItWithSigterm) {
  TempDir dir;
  const std::string pid_path = dir.path() + "/run/sleeper.pid";
  auto pid = SpawnDetached(Opts({"sleep", "300.125"}, dir.path() + "/logs/s.log"));
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  Reaper reaper{*pid};
  EXPECT_TRUE(IsProcessAlive(*pid));
  EXPECT_TRUE(fs::exists(dir.path() + "/logs/s.log"));
  // Own session and process group; not our child (double fork), so never our zombie.
  EXPECT_EQ(::getsid(*pid), *pid);
  EXPECT_EQ(::getpgid(*pid), *pid);
  int st = 0;
  EXPECT_EQ(::waitpid(*pid, &st, WNOHANG), -1);
  EXPECT_TRUE(CommandLineHas(*pid, "sleep"));
  EXPECT_TRUE(CommandLineHas(*pid, "300.125"));
  EXPECT_FALSE(CommandLineHas(*pid, "gateway"));
  EXPECT_TRUE(CommandLineHas(*pid, "sleep 300.125"));  // a subcommand path: consecutive args
  EXPECT_FALSE(CommandLineHas(*pid, "300.125 sleep"));
  EXPECT_FALSE(CommandLineHas(*pid, "sleep 300"));

  ASSERT_TRUE(WritePidFile(pid_path, *pid).ok());
  ProcessInfo info = InspectPidFile(pid_path, "sleep");
  EXPECT_EQ(info.state, ProcessState::kRunning);
  EXPECT_EQ(info.pid, *pid);
  EXPECT_GT(info.since_us, 0);
  // A live pid running something else is not "our" service: treated as stale.
  EXPECT_EQ(InspectPidFile(pid_path, "gateway").state, ProcessState::kStale);

  auto how = StopProcess(*pid, std::chrono::seconds(10));
  ASSERT_TRUE(how.ok()) << how.status().ToString();
  EXPECT_EQ(*how, StopOutcome::kTerminated);
  EXPECT_FALSE(IsProcessAlive(*pid));
  EXPECT_EQ(InspectPidFile(pid_path, "sleep").state, ProcessState::kStale);
  auto again = StopProcess(*pid, std::chrono::seconds(1));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, StopOutcome::kNotRunning);
}

TEST(SupervisorTest, EscalatesToSigkillWhenSigtermIsIgnored) {
  TempDir dir;
  const std::string log = dir.path() + "/stubborn.log";
  auto pid = SpawnDetached(Opts({"sh", "-c", "trap '' TERM; echo ready; exec sleep 300"}, log));
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  Reaper reaper{*pid};
  ASSERT_TRUE(Eventually([&] { return ReadAll(log).find("ready") != std::string::npos; }));
  auto how = StopProcess(*pid, std::chrono::milliseconds(300));
  ASSERT_TRUE(how.ok()) << how.status().ToString();
  EXPECT_EQ(*how, StopOutcome::kKilled);
  EXPECT_FALSE(IsProcessAlive(*pid));
}

TEST(SupervisorTest, DaemonOutputGoesToTheLogAndStdinIsDevNull) {
  TempDir dir;
  const std::string log = dir.path() + "/out.log";
  std::ofstream(log) << "previous line\n";
  auto pid = SpawnDetached(Opts({"sh", "-c",
                                 "if read x; then echo got-input; else echo stdin-eof; fi; "
                                 "echo to-stdout; echo to-stderr >&2; pwd"},
                                log, dir.path()));
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  Reaper reaper{*pid};
  ASSERT_TRUE(Eventually([&] { return !IsProcessAlive(*pid); }));
  std::string text = ReadAll(log);
  EXPECT_THAT(text, HasSubstr("previous line\n"));  // appended, not truncated
  EXPECT_THAT(text, HasSubstr("stdin-eof"));
  EXPECT_THAT(text, HasSubstr("to-stdout"));
  EXPECT_THAT(text, HasSubstr("to-stderr"));
  EXPECT_THAT(text, HasSubstr(fs::canonical(dir.path()).string()));
}

TEST(SupervisorTest, SpawnReportsExecFailure) {
  TempDir dir;
  auto pid = SpawnDetached(Opts({"/nonexistent/ctml-no-such-binary"}, dir.path() + "/x.log"));
  EXPECT_FALSE(pid.ok());
  EXPECT_EQ(pid.status().code(), StatusCode::kIOError);
  EXPECT_THAT(pid.status().message(), HasSubstr("ctml-no-such-binary"));
  EXPECT_FALSE(SpawnDetached(Opts({})).ok());
}

TEST(SupervisorTest, RunJobReturnsTheExitCode) {
  auto ok = RunJob({"true"});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 0);
  auto three = RunJob({"sh", "-c", "exit 3"});
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(*three, 3);
  auto killed = RunJob({"sh", "-c", "kill -KILL $$"});
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(*killed, 128 + SIGKILL);
  auto missing = RunJob({"/nonexistent/ctml-no-such-binary"});
  EXPECT_EQ(missing.status().code(), StatusCode::kIOError);
}

TEST(SupervisorTest, RunJobCapturesOutputAndSetsTheJobsEnvironmentOnly) {
  ::setenv("CTML_TEST_RUNJOB_A", "ours", 1);
  ::unsetenv("CTML_TEST_RUNJOB_B");
  std::string output;
  auto rc = RunJob({"sh", "-c", "echo \"$CTML_TEST_RUNJOB_A/$CTML_TEST_RUNJOB_B/${HOME:+home}\""},
                   &output, {"CTML_TEST_RUNJOB_A=replaced", "CTML_TEST_RUNJOB_B=added"});
  ASSERT_TRUE(rc.ok()) << rc.status().message();
  EXPECT_EQ(*rc, 0);
  // Replaced and added for the job; the rest (HOME) inherited.
  EXPECT_EQ(output, std::string("replaced/added/") + (::getenv("HOME") ? "home" : "") + "\n");
  EXPECT_STREQ(::getenv("CTML_TEST_RUNJOB_A"), "ours");
  EXPECT_EQ(::getenv("CTML_TEST_RUNJOB_B"), nullptr);
  ::unsetenv("CTML_TEST_RUNJOB_A");
}

TEST(SupervisorTest, TailFile) {
  TempDir dir;
  const std::string path = dir.path() + "/log";
  EXPECT_TRUE(TailFile(path, 20).empty());
  {
    std::ofstream out(path);
    for (int i = 1; i <= 100; ++i) out << "line " << i << "\n";
  }
  auto tail = TailFile(path, 3);
  EXPECT_THAT(tail, ElementsAre("line 98", "line 99", "line 100"));
  EXPECT_EQ(TailFile(path, 1000).size(), 100u);
  EXPECT_TRUE(TailFile(path, 0).empty());
  // Longer than the first read window (64 KiB).
  {
    std::ofstream out(path);
    for (int i = 1; i <= 20000; ++i) out << "a fairly long log line number " << i << "\n";
  }
  auto big = TailFile(path, 5000);
  ASSERT_EQ(big.size(), 5000u);
  EXPECT_EQ(big.front(), "a fairly long log line number 15001");
  EXPECT_EQ(big.back(), "a fairly long log line number 20000");
}

TEST(SupervisorTest, SelfExePathIsThisTestBinary) {
  std::string self = SelfExePath();
  EXPECT_THAT(self, HasSubstr("ctml_manager_test"));
}

// ------------------------------------------------------------------ manager without services

Config TestConfig(const std::string& dir) {
  auto cfg = Config::FromYaml(
      "profile: embedded\npaths:\n  var: var\ngateway:\n  host: 127.0.0.1\n  port: 1\n"
      "bronze_sink:\n  port: 2\nprocess:\n  port: 3\nfeatures:\n  port: 4\nserve:\n  port: 5\n",
      dir, /*apply_env=*/false);
  EXPECT_TRUE(cfg.ok()) << cfg.status().ToString();
  return *cfg;
}

ManagerEnv TestEnv(std::ostream* out) {
  ManagerEnv env;
  env.self_exe = "/opt/ctml/bin/ctml";
  env.config_path = "/etc/ctml-test.yaml";
  env.source_dir = "/nonexistent-src";
  env.out = out;
  env.stop_grace = std::chrono::milliseconds(300);
  return env;
}

TEST(ManagerTest, PathsAndCommandLines) {
  TempDir dir;
  std::ostringstream out;
  Manager m(TestConfig(dir.path()), ManagerOptions{}, TestEnv(&out));
  EXPECT_EQ(m.var_dir(), dir.path() + "/var");
  EXPECT_EQ(m.PidPath("bronze-sink"), dir.path() + "/var/run/bronze-sink.pid");
  EXPECT_EQ(m.LogPath("serve"), dir.path() + "/var/logs/serve.log");
  EXPECT_THAT(m.CommandFor(*FindRow("bronze-sink")),
              ElementsAre("/opt/ctml/bin/ctml", "--config", "/etc/ctml-test.yaml", "bronze-sink"));
  // A subcommand path becomes one argument per word.
  EXPECT_THAT(
      m.CommandFor(*FindRow("registry")),
      ElementsAre("/opt/ctml/bin/ctml", "--config", "/etc/ctml-test.yaml", "registry", "serve"));
}

TEST(ManagerTest, StopStopsServicesOfTheLevelsAndCleansPidFiles) {
  TempDir dir;
  std::ostringstream out;
  Manager m(TestConfig(dir.path()), ManagerOptions{}, TestEnv(&out));
  // A stand-in "gateway" (argv[0] = gateway) that ignores SIGTERM, a stale "process" pid file,
  // and a "features" that is not ours to stop with --level 2.
  auto gw = SpawnDetached(
      Opts({"bash", "-c", "trap '' TERM; exec -a gateway sleep 300"}, m.LogPath("gateway")));
  ASSERT_TRUE(gw.ok()) << gw.status().ToString();
  Reaper gw_reaper{*gw};
  ASSERT_TRUE(Eventually([&] { return CommandLineHas(*gw, "gateway"); }));
  ASSERT_TRUE(WritePidFile(m.PidPath("gateway"), *gw).ok());
  auto feat =
      SpawnDetached(Opts({"bash", "-c", "exec -a features sleep 300"}, m.LogPath("features")));
  ASSERT_TRUE(feat.ok());
  Reaper feat_reaper{*feat};
  ASSERT_TRUE(Eventually([&] { return CommandLineHas(*feat, "features"); }));
  ASSERT_TRUE(WritePidFile(m.PidPath("features"), *feat).ok());
  ASSERT_TRUE(WritePidFile(m.PidPath("process"), 999999).ok());

  Status st = m.Stop(2);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(IsProcessAlive(*gw));
  EXPECT_FALSE(fs::exists(m.PidPath("gateway")));
  EXPECT_FALSE(fs::exists(m.PidPath("process")));
  EXPECT_TRUE(IsProcessAlive(*feat));  // level 3 untouched
  EXPECT_TRUE(fs::exists(m.PidPath("features")));
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("killed"));  // escalated
  EXPECT_THAT(text, HasSubstr("stale pid file removed"));
  // Reverse level order: process (2) is handled before gateway (1).
  EXPECT_LT(text.find("process"), text.find("gateway"));

  ASSERT_TRUE(m.Stop(4).ok());
  EXPECT_FALSE(IsProcessAlive(*feat));
  EXPECT_FALSE(fs::exists(m.PidPath("features")));
}

TEST(ManagerTest, CleanKeepsSecretsUnlessAllData) {
  TempDir dir;
  std::ostringstream out;
  Manager m(TestConfig(dir.path()), ManagerOptions{}, TestEnv(&out));
  const std::string var = m.var_dir();
  fs::create_directories(var + "/lake/bronze");
  fs::create_directories(var + "/secrets");
  fs::create_directories(var + "/logs");
  std::ofstream(var + "/secrets/privacy.key") << "k";
  std::ofstream(var + "/eventlog.db") << "x";
  std::ofstream(var + "/lake/bronze/f.parquet") << "x";
  std::ofstream(dir.path() + "/ctml.yaml") << "# outside var\n";

  ASSERT_TRUE(m.Clean(false).ok());
  EXPECT_TRUE(fs::exists(var + "/secrets/privacy.key"));
  EXPECT_FALSE(fs::exists(var + "/eventlog.db"));
  EXPECT_FALSE(fs::exists(var + "/lake"));
  EXPECT_FALSE(fs::exists(var + "/logs"));
  EXPECT_TRUE(fs::exists(dir.path() + "/ctml.yaml"));

  ASSERT_TRUE(m.Clean(true).ok());
  EXPECT_FALSE(fs::exists(var + "/secrets"));
  EXPECT_TRUE(fs::exists(dir.path() + "/ctml.yaml"));
  EXPECT_TRUE(m.Clean(false).ok());  // nothing left: still fine
}

TEST(ManagerTest, CleanRefusesAVarDirThatHoldsTheProject) {
  TempDir dir;
  auto cfg = TestConfig(dir.path());
  cfg.Set("paths.var", dir.path());  // var == config dir
  std::ofstream(dir.path() + "/ctml.yaml") << "# keep me\n";
  std::ostringstream out;
  Manager m(cfg, ManagerOptions{}, TestEnv(&out));
  Status st = m.Clean(true);
  EXPECT_EQ(st.code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(fs::exists(dir.path() + "/ctml.yaml"));
}

TEST(ManagerTest, UrlsTopologyAndDemoUseConfiguredPorts) {
  TempDir dir;
  std::ostringstream out;
  ManagerEnv env = TestEnv(&out);
  env.demo_patient_id = [](uint64_t seed, int index) {
    return "PT-" + std::to_string(seed) + "-" + std::to_string(index);
  };
  auto cfg = TestConfig(dir.path());
  cfg.Set("demo.seed", "11");
  Manager m(cfg, ManagerOptions{}, env);
  m.Urls(4);
  m.Topology(4);
  m.Demo();
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("http://127.0.0.1:1/health"));
  EXPECT_THAT(text, HasSubstr("http://127.0.0.1:1/api/clinical/data"));
  EXPECT_THAT(text, HasSubstr("http://127.0.0.1:2/metrics"));
  EXPECT_THAT(text, HasSubstr("http://127.0.0.1:5/v1/predict"));
  EXPECT_THAT(text, HasSubstr("Level 3  features"));
  EXPECT_THAT(text, HasSubstr("silver.<table>"));
  EXPECT_THAT(text, HasSubstr("\"patient_id\":\"PT-11-0\""));
  std::ostringstream urls_only;
  Manager m2(cfg, ManagerOptions{}, TestEnv(&urls_only));
  m2.Urls(1);
  EXPECT_THAT(urls_only.str(), HasSubstr(":1/health"));
  EXPECT_THAT(urls_only.str(), ::testing::Not(HasSubstr(":5/")));
}

TEST(ManagerTest, HealthProbesStoresAndServices) {
  TempDir dir;
  net::ServerOptions so;
  so.port = 0;
  so.service = "fake-gateway";
  so.handle_signals = false;
  std::atomic<bool> store_up{true};  // what the gateway's /ready reports
  so.ready = [&store_up] {
    return store_up ? Status::OK() : Status::Unavailable("event log: broker down");
  };
  net::HttpServer gateway(so);
  ASSERT_TRUE(gateway.Start().ok());
  auto cfg = TestConfig(dir.path());
  const std::string var = dir.path() + "/var";
  fs::create_directories(var);
  cfg.Set("log.uri", "sqlite://" + var + "/eventlog.db");
  cfg.Set("lake.uri", "file://" + var + "/lake");
  cfg.Set("online.uri", "sqlite://" + var + "/online.db");
  cfg.Set("meta.uri", "sqlite://" + var + "/meta.db");
  cfg.Set("gateway.port", std::to_string(gateway.port()));
  net::ServerOptions mo = so;
  mo.service = "fake-mllp";
  mo.ready = nullptr;
  net::HttpServer mllp(mo);
  ASSERT_TRUE(mllp.Start().ok());
  cfg.Set("mllp.http_port", std::to_string(mllp.port()));
  // Level 2 points at a port nobody listens on: the gateway's port + 0 is taken, so pick an
  // ephemeral port by binding and closing a second server.
  uint16_t closed_port = 0;
  {
    net::HttpServer tmp(so);
    ASSERT_TRUE(tmp.Start().ok());
    closed_port = tmp.port();
    tmp.Stop();
    tmp.Wait();
  }
  cfg.Set("bronze_sink.port", std::to_string(closed_port));
  std::ostringstream out;
  Manager m(cfg, ManagerOptions{}, TestEnv(&out));
  EXPECT_TRUE(m.Health(1)) << out.str();
  EXPECT_THAT(out.str(), HasSubstr("UP    event-log"));
  EXPECT_THAT(out.str(), HasSubstr("UP    gateway"));
  out.str("");
  EXPECT_FALSE(m.Health(2));
  EXPECT_THAT(out.str(), HasSubstr("DOWN  bronze-sink"));
  // A running gateway whose store is down: alive, but not ready.
  store_up = false;
  out.str("");
  EXPECT_FALSE(m.Health(1));
  EXPECT_THAT(out.str(), HasSubstr("UP    gateway "));
  EXPECT_THAT(out.str(), HasSubstr("DOWN  gateway ready"));
  EXPECT_THAT(out.str(), HasSubstr("HTTP 503"));
  store_up = true;

  // A store that cannot open is DOWN too.
  cfg.Set("meta.uri", "nosuchscheme://x");
  std::ostringstream out2;
  Manager bad(cfg, ManagerOptions{}, TestEnv(&out2));
  EXPECT_FALSE(bad.Health(1));
  EXPECT_THAT(out2.str(), HasSubstr("DOWN  meta-store"));
  gateway.Stop();
  gateway.Wait();
}

TEST(ManagerTest, SummaryReportsTopicsLagAndServiceState) {
  TempDir dir;
  auto cfg = TestConfig(dir.path());
  const std::string var = dir.path() + "/var";
  fs::create_directories(var);
  cfg.Set("log.uri", "sqlite://" + var + "/eventlog.db");
  cfg.Set("lake.uri", "file://" + var + "/lake");
  cfg.Set("online.uri", "sqlite://" + var + "/online.db");
  cfg.Set("meta.uri", "sqlite://" + var + "/meta.db");
  {
    auto log = store::OpenEventLog(cfg.GetString("log.uri"));
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE((*log)->Append("patient-vitals", "k1", "{}").ok());
    ASSERT_TRUE((*log)->Append("patient-vitals", "k2", "{}").ok());
    auto consumer = (*log)->Subscribe("bronze-sink", {"patient-vitals"});
    ASSERT_TRUE(consumer.ok());
    auto batch = (*consumer)->Poll(1, std::chrono::milliseconds(100));
    ASSERT_TRUE(batch.ok());
    ASSERT_EQ(batch->size(), 1u);
    ASSERT_TRUE((*consumer)->Commit(*batch).ok());
  }
  std::ostringstream out;
  Manager m(cfg, ManagerOptions{}, TestEnv(&out));
  ASSERT_TRUE(WritePidFile(m.PidPath("process"), 999999).ok());
  EXPECT_TRUE(m.Summary(2));
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("topic patient-vitals"));
  EXPECT_THAT(text, HasSubstr("records 2"));
  EXPECT_THAT(text, HasSubstr("group bronze-sink"));
  EXPECT_THAT(text, HasSubstr("lag 1"));
  EXPECT_THAT(text, HasSubstr("(no models yet)"));
  EXPECT_THAT(text, HasSubstr("stale pid file 999999"));
  EXPECT_THAT(text, HasSubstr("gateway       stopped"));
}

}  // namespace
}  // namespace ctml::manager
