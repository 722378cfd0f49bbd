#include "ctml/manager/manager.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/manager/probes.h"
#include "ctml/store/factory.h"

namespace ctml::manager {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::string FormatUptime(int64_t micros) {
  int64_t s = std::max<int64_t>(0, micros / kMicrosPerSecond);
  std::ostringstream out;
  if (s >= 86400) {
    out << s / 86400 << "d" << std::setw(2) << std::setfill('0') << (s % 86400) / 3600 << "h";
  } else if (s >= 3600) {
    out << s / 3600 << "h" << std::setw(2) << std::setfill('0') << (s % 3600) / 60 << "m";
  } else if (s >= 60) {
    out << s / 60 << "m" << std::setw(2) << std::setfill('0') << s % 60 << "s";
  } else {
    out << s << "s";
  }
  return out.str();
}

std::string Seconds(Clock::duration d) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1)
      << std::chrono::duration_cast<milliseconds>(d).count() / 1000.0 << " s";
  return out.str();
}

constexpr std::string_view kStartMarker = "====";

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s + " " : s + std::string(width - s.size(), ' ');
}

// Records ever appended to `topic` (0 when the topic does not exist yet).
int64_t TopicEnd(store::EventLog& log, const std::string& topic) {
  auto parts = log.Partitions(topic);
  if (!parts.ok()) return 0;
  int64_t total = 0;
  for (const auto& p : *parts) total += p.end_offset;
  return total;
}

std::vector<std::string> SplitApi(const std::string& api) {
  std::vector<std::string> out;
  std::stringstream ss(api);
  std::string item;
  while (std::getline(ss, item, ';')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

Manager::Manager(Config cfg, ManagerOptions options, ManagerEnv env)
    : cfg_(std::move(cfg)), options_(options), env_(std::move(env)) {
  var_dir_ = cfg_.GetString("paths.var", "");
  if (var_dir_.empty()) var_dir_ = (fs::path(cfg_.dir()) / "var").string();
  if (fs::path(var_dir_).is_relative()) var_dir_ = (fs::path(cfg_.dir()) / var_dir_).string();
  var_dir_ = fs::path(var_dir_).lexically_normal().string();
  while (var_dir_.size() > 1 && var_dir_.back() == '/') var_dir_.pop_back();
  if (env_.self_exe.empty()) env_.self_exe = SelfExePath();
  if (env_.config_path.empty()) env_.config_path = cfg_.path();
  if (env_.source_dir.empty()) env_.source_dir = CTML_SOURCE_DIR;
}

std::ostream& Manager::out() const { return env_.out ? *env_.out : std::cout; }

std::string Manager::PidPath(const std::string& service) const {
  return var_dir_ + "/run/" + service + ".pid";
}

std::string Manager::LogPath(const std::string& service) const {
  return var_dir_ + "/logs/" + service + ".log";
}

std::vector<std::string> Manager::CommandFor(const ServiceRow& row) const {
  std::vector<std::string> argv = {env_.self_exe};
  if (!env_.config_path.empty()) {
    argv.push_back("--config");
    argv.push_back(env_.config_path);
  }
  // The command column may name a subcommand path ("registry serve"): one argument per word.
  size_t start = 0;
  while (start < row.command.size()) {
    size_t end = row.command.find(' ', start);
    if (end == std::string::npos) end = row.command.size();
    if (end > start) argv.push_back(row.command.substr(start, end - start));
    start = end + 1;
  }
  return argv;
}

std::string Manager::DemoId(int index) const {
  if (!env_.demo_patient_id) return "<patient-id>";
  return env_.demo_patient_id(static_cast<uint64_t>(cfg_.GetInt("demo.seed", 7)), index);
}

int Manager::Run() {
  const int level = options_.level;
  Status st;
  switch (options_.action) {
    case Action::kNone:
      break;
    case Action::kStart:
      st = Start(level);
      break;
    case Action::kStop:
      st = Stop(level);
      break;
    case Action::kRestartRebuild:
      st = RestartRebuild(level);
      break;
    case Action::kClean:
      st = Clean(options_.all_data);
      break;
  }
  if (!st.ok()) {
    out() << "\nmanager: " << ActionName(options_.action) << " failed: " << st.message()
          << std::endl;
    return st.code() == StatusCode::kInvalid ? 2 : 1;
  }
  int rc = 0;
  if (options_.topology) Topology(level);
  if (options_.summary) Summary(level);
  if (options_.health && !Health(level)) rc = 1;
  if (options_.logs) Logs(level, options_.log_lines);
  if (options_.urls) Urls(level);
  if (options_.demo) Demo();
  for (const auto& args : options_.feature_tools) {
    std::vector<std::string> argv = {env_.self_exe};
    if (!env_.config_path.empty()) {
      argv.push_back("--config");
      argv.push_back(env_.config_path);
    }
    argv.push_back("features");
    argv.insert(argv.end(), args.begin(), args.end());
    out() << std::flush;
    auto job = RunJob(argv);
    if (!job.ok()) {
      out() << "manager: ctml features " << args.front() << ": " << job.status().message()
            << std::endl;
      rc = 1;
    } else if (*job != 0) {
      rc = 1;
    }
  }
  return rc;
}

// ---------------------------------------------------------------------------------- start

Status Manager::Start(int level) {
  if (env_.self_exe.empty()) return Status::FailedPrecondition("cannot find the ctml executable");
  out() << "Starting levels 0-" << level << " (config " << env_.config_path << ")" << std::endl;
  std::error_code ec;
  fs::create_directories(var_dir_ + "/run", ec);
  fs::create_directories(var_dir_ + "/logs", ec);
  if (ec) return Status::IOError("cannot create " + var_dir_ + ": " + ec.message());

  CTML_RETURN_NOT_OK(StartLevel0());
  for (int l = 1; l <= level; ++l) {
    out() << "Level " << l << "  " << LevelTitle(l) << std::endl;
    for (const auto& row : RowsInLevels(l, l, RowKind::kService)) {
      CTML_RETURN_NOT_OK(StartService(row));
    }
  }
  if (level >= kMaxLevel) {
    CTML_RETURN_NOT_OK(LoadDemoData());
    CTML_RETURN_NOT_OK(LoadPilotData());
    CTML_RETURN_NOT_OK(WaitDrained());
    CTML_RETURN_NOT_OK(EnsureOfflineFeatures());
    CTML_RETURN_NOT_OK(EnsureModel(cfg_.GetString("train.model", "vitals_risk"), {}));
    EnsureExtraModels();
    CTML_RETURN_NOT_OK(MakeServingReady());
    PrintReadyBlock();
  } else {
    out() << "\nLevels 0-" << level << " are up." << std::endl;
  }
  return Status::OK();
}

std::vector<std::string> Manager::ManagedServices() const {
  return cfg_.GetList("services.managed");
}

Result<int> Manager::ServiceScript(const std::string& name, const std::string& command,
                                   std::string* output) const {
  const bool safe_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
  const std::string script = env_.source_dir + "/scripts/services/" + name + ".sh";
  if (!safe_name || !fs::exists(script)) {
    return Status::Invalid("services.managed names '" + name + "', but there is no " + script +
                               " (known: kafka, redis, postgres, s3, activemq)",
                           "services.managed");
  }
  if (command != "status" && command != "uri") service_status_.clear();
  // The scripts keep data and secrets where the config's URIs expect them (${paths.services}).
  std::vector<std::string> env;
  if (const std::string dir = cfg_.GetString("paths.services"); !dir.empty()) {
    env.push_back("CTML_SERVICES_DIR=" + dir);
  }
  if (output == nullptr) out() << std::flush;
  return RunJob({"bash", script, command}, output, env);
}

const Manager::ScriptStatus& Manager::ServiceStatus(const std::string& name) const {
  auto it = service_status_.find(name);
  if (it != service_status_.end()) return it->second;
  ScriptStatus status;
  auto rc = ServiceScript(name, "status", &status.text);
  status.up = rc.ok() && *rc == 0;
  if (!rc.ok()) status.text = rc.status().message();
  return service_status_.emplace(name, std::move(status)).first->second;
}

Status Manager::StartManagedServices() {
  for (const auto& name : ManagedServices()) {
    out() << "  " << Pad(name, 14) << "scripts/services/" << name << ".sh start" << std::endl;
    std::string output;
    CTML_ASSIGN_OR_RETURN(int rc, ServiceScript(name, "start", &output));
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) out() << "      " << line << std::endl;
    if (rc != 0) {
      return Status::Unavailable("service " + name + " did not start (exit " + std::to_string(rc) +
                                 "); see scripts/services/" + name + ".sh logs");
    }
  }
  return Status::OK();
}

Status Manager::StopManagedServices() {
  auto names = ManagedServices();
  std::reverse(names.begin(), names.end());
  Status first_error;
  for (const auto& name : names) {
    std::string output;
    auto rc = ServiceScript(name, "stop", &output);
    std::string last = output;
    while (!last.empty() && last.back() == '\n') last.pop_back();
    if (auto nl = last.rfind('\n'); nl != std::string::npos) last = last.substr(nl + 1);
    out() << "  " << Pad(name, 14) << (rc.ok() ? last : rc.status().message()) << std::endl;
    if (first_error.ok() && (!rc.ok() || *rc != 0)) {
      first_error = rc.ok() ? Status::Internal("could not stop " + name) : rc.status();
    }
  }
  return first_error;
}

Status Manager::StartLevel0() {
  out() << "Level 0  " << LevelTitle(0) << std::endl;
  CTML_RETURN_NOT_OK(StartManagedServices());
  for (const auto& row : RowsInLevels(0, 0, RowKind::kStore)) {
    Status st = ProbeStore(row, cfg_);
    out() << "  " << Pad(row.name, 14) << (st.ok() ? "ok    " : "FAILED") << "  "
          << RedactUri(cfg_.GetString(row.config_key)) << std::endl;
    if (!st.ok()) return st.WithContext(row.name);
  }
  return Status::OK();
}

Status Manager::StartService(const ServiceRow& row) {
  const std::string pid_path = PidPath(row.name);
  const Endpoint ep = ServiceEndpoint(row, cfg_);
  if (ep.port == 0) return Status::Invalid("no port configured", HealthPortKey(row, cfg_));
  ProcessInfo info = InspectPidFile(pid_path, row.command);
  if (info.state == ProcessState::kRunning) {
    if (HttpGetStatus(ep, "/health", milliseconds(2000)) == 200) {
      out() << "  " << Pad(row.name, 14) << "running  pid " << info.pid << "  :" << ep.port
            << " (already up)" << std::endl;
      return Status::OK();
    }
    out() << "  " << Pad(row.name, 14) << "pid " << info.pid << " not healthy yet, waiting"
          << std::flush;
    return WaitHealthy(row, info.pid);
  }
  if (info.state == ProcessState::kStale) {
    out() << "  " << Pad(row.name, 14) << "removing stale pid file (pid " << info.pid << ")"
          << std::endl;
    CTML_RETURN_NOT_OK(RemovePidFile(pid_path));
  }
  // Only the pid file identifies our processes: another platform may run the same binary with
  // the same config but another var/ (CTML_PATHS_VAR), so command lines prove nothing.
  if (HttpGetStatus(ep, "/health", milliseconds(1000)) != 0) {
    return Status::FailedPrecondition(
        "port " + std::to_string(ep.port) + " (" + HealthPortKey(row, cfg_) +
        ") is already used by another process (another ctml with a different var/, or a "
        "service whose pid file was deleted); stop it or set " +
        Config::EnvName(HealthPortKey(row, cfg_)));
  }
  {
    // A marker, so that a failed start shows only this run's lines of the log.
    std::ofstream log(LogPath(row.name), std::ios::app);
    log << kStartMarker << " " << FormatIso8601(NowMicros()) << " ctml manager: starting "
        << row.name << "\n";
  }
  SpawnOptions spawn;
  spawn.argv = CommandFor(row);
  spawn.log_path = LogPath(row.name);
  spawn.cwd = cfg_.dir();
  CTML_ASSIGN_OR_RETURN(pid_t pid, SpawnDetached(spawn));
  CTML_RETURN_NOT_OK(WritePidFile(pid_path, pid));
  out() << "  " << Pad(row.name, 14) << "starting pid " << pid << "  :" << ep.port << " "
        << std::flush;
  return WaitHealthy(row, pid);
}

Status Manager::WaitHealthy(const ServiceRow& row, pid_t pid) {
  const Endpoint ep = ServiceEndpoint(row, cfg_);
  const auto begin = Clock::now();
  const auto deadline = begin + env_.health_timeout;
  auto next_dot = begin + std::chrono::seconds(1);
  for (;;) {
    if (!IsProcessAlive(pid)) {
      out() << " exited" << std::endl;
      PrintLogTail(row.name, 20, "    | ", /*since_start=*/true);
      (void)RemovePidFile(PidPath(row.name));
      return Status::Unavailable(row.name + " exited during startup; see " + LogPath(row.name));
    }
    if (HttpGetStatus(ep, "/health", milliseconds(1000)) == 200) {
      out() << " healthy (" << Seconds(Clock::now() - begin) << ")" << std::endl;
      return Status::OK();
    }
    auto now = Clock::now();
    if (now >= deadline) {
      out() << " timeout" << std::endl;
      PrintLogTail(row.name, 20, "    | ", /*since_start=*/true);
      return Status::Unavailable(row.name + " did not answer GET /health on port " +
                                 std::to_string(ep.port) + " within " +
                                 Seconds(env_.health_timeout) + "; see " + LogPath(row.name));
    }
    if (now >= next_dot) {
      out() << "." << std::flush;
      next_dot += std::chrono::seconds(1);
    }
    std::this_thread::sleep_for(milliseconds(250));
  }
}

Status Manager::LoadDemoData() {
  const std::string topic(kDemoTopic);
  int64_t records = 0;
  {
    CTML_ASSIGN_OR_RETURN(std::string uri, cfg_.Require("log.uri"));
    CTML_ASSIGN_OR_RETURN(auto log, store::OpenEventLog(uri));
    records = TopicEnd(*log, topic);
  }
  if (records > 0) {
    out() << "Demo data: " << topic << " already has " << records << " records" << std::endl;
    return Status::OK();
  }
  const ServiceRow* gen = FindRow("generate");
  out() << "Demo data: generating " << cfg_.GetInt("demo.patients", 0) << " patients x "
        << cfg_.GetInt("demo.hours", 0) << " h through the gateway (ctml generate)" << std::endl;
  CTML_ASSIGN_OR_RETURN(int rc, RunJob(CommandFor(*gen)));
  if (rc != 0) return Status::Internal("ctml generate failed (exit " + std::to_string(rc) + ")");
  return Status::OK();
}

Status Manager::WaitDrained() {
  CTML_ASSIGN_OR_RETURN(std::string uri, cfg_.Require("log.uri"));
  CTML_ASSIGN_OR_RETURN(auto log, store::OpenEventLog(uri));
  out() << "Waiting for the pipeline to drain (bronze-sink, process, features)" << std::endl;
  const auto begin = Clock::now();
  const auto deadline = begin + env_.drain_timeout;
  auto next_report = begin;
  int zero_rounds = 0;
  for (;;) {
    std::ostringstream progress;
    int64_t behind_total = 0;
    std::vector<std::pair<std::string, int64_t>> by_group;  // in DrainChecks order
    for (const auto& check : DrainChecks()) {
      CTML_ASSIGN_OR_RETURN(auto lags, log->Lag(check.topic));
      int64_t behind = TopicEnd(*log, check.topic);  // a group that never committed
      for (const auto& g : lags) {
        if (g.group == check.group) behind = g.lag;
      }
      behind_total += behind;
      if (by_group.empty() || by_group.back().first != check.group)
        by_group.emplace_back(check.group, 0);
      by_group.back().second += behind;
    }
    for (const auto& [group, behind] : by_group) progress << "  " << group << " " << behind;
    if (behind_total == 0) {
      // Twice in a row: a consumer may be between its commit and its next append.
      if (++zero_rounds >= 2) {
        out() << "  drained (" << Seconds(Clock::now() - begin) << ")" << std::endl;
        return Status::OK();
      }
    } else {
      zero_rounds = 0;
    }
    for (const auto& row : RowsInLevels(1, 3, RowKind::kService)) {
      if (InspectPidFile(PidPath(row.name), row.command).state != ProcessState::kRunning) {
        PrintLogTail(row.name, 20, "    | ");
        return Status::Unavailable(row.name + " stopped while the pipeline was draining");
      }
    }
    auto now = Clock::now();
    if (now >= deadline) {
      return Status::Unavailable("the pipeline did not drain within " +
                                 Seconds(env_.drain_timeout) +
                                 "; records behind:" + progress.str());
    }
    if (now >= next_report && behind_total > 0) {
      out() << "  records behind:" << progress.str() << "  (" << Seconds(now - begin) << ")"
            << std::endl;
      next_report = now + std::chrono::seconds(5);
    }
    std::this_thread::sleep_for(milliseconds(1000));
  }
}

Status Manager::EnsureOfflineFeatures() {
  CTML_ASSIGN_OR_RETURN(std::string uri, cfg_.Require("lake.uri"));
  CTML_ASSIGN_OR_RETURN(auto lake, store::OpenLake(uri));
  // The feature set's own folder: snapshots of an older set (another name) do not count.
  const std::string dir =
      "features/offline/" + cfg_.GetString("serve.view", std::string(kOnlineView));
  CTML_ASSIGN_OR_RETURN(auto files, lake->List(dir));
  if (!files.empty()) {
    out() << "Offline features: " << files.size() << " snapshot files already in " << dir
          << std::endl;
    return Status::OK();
  }
  out() << "Offline features: writing daily as-of snapshots (ctml features --batch --all)"
        << std::endl;
  const ServiceRow* features = FindRow("features");
  std::vector<std::string> argv = CommandFor(*features);
  argv.push_back("--batch");
  argv.push_back("--all");
  CTML_ASSIGN_OR_RETURN(int rc, RunJob(argv));
  if (rc != 0) {
    return Status::Internal("ctml features --batch --all failed (exit " + std::to_string(rc) + ")");
  }
  return Status::OK();
}

// A path from the config, relative to the config file's directory.
std::string Manager::ConfigPath(const std::string& value) const {
  if (value.empty() || value[0] == '/') return value;
  return (fs::path(cfg_.dir()) / value).lexically_normal().string();
}

Status Manager::LoadPilotData() {
  const std::string dir = ConfigPath(cfg_.GetString("pilot.sdtm_dir", ""));
  if (dir.empty()) return Status::OK();
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    out() << "Pilot data: " << dir << " not found; skipping it (and the models trained on it)"
          << std::endl;
    return Status::OK();
  }
  CTML_ASSIGN_OR_RETURN(std::string uri, cfg_.Require("meta.uri"));
  const std::string key = "manager.pilot_imported";
  {
    CTML_ASSIGN_OR_RETURN(auto meta, store::OpenMetaStore(uri));
    CTML_ASSIGN_OR_RETURN(auto done, meta->GetState(key));
    if (done.has_value() && *done == dir) {
      out() << "Pilot data: " << dir << " already imported" << std::endl;
      return Status::OK();
    }
  }
  out() << "Pilot data: importing the SDTM study " << dir << " (ctml import sdtm)" << std::endl;
  std::vector<std::string> argv = {env_.self_exe};
  if (!env_.config_path.empty()) {
    argv.push_back("--config");
    argv.push_back(env_.config_path);
  }
  argv.insert(argv.end(), {"import", "sdtm", dir});
  CTML_ASSIGN_OR_RETURN(int rc, RunJob(argv));
  if (rc != 0) {
    return Status::Internal("ctml import sdtm " + dir + " failed (exit " + std::to_string(rc) +
                            "); see the lines above");
  }
  // Re-imports would be deduplicated downstream anyway (stable event ids); this saves the time.
  CTML_ASSIGN_OR_RETURN(auto meta, store::OpenMetaStore(uri));
  return meta->PutState(key, dir);
}

Status Manager::EnsureModel(const std::string& model, const std::vector<std::string>& train_args) {
  CTML_ASSIGN_OR_RETURN(std::string uri, cfg_.Require("meta.uri"));
  {
    CTML_ASSIGN_OR_RETURN(auto meta, store::OpenMetaStore(uri));
    auto prod = meta->GetAlias(model, "production");
    if (prod.ok()) {
      out() << "Model: " << model << " v" << prod->version << " is production" << std::endl;
      return Status::OK();
    }
    if (prod.status().code() != StatusCode::kNotFound) return prod.status();
  }
  out() << "Model: no production version of " << model << " yet; training (ctml train)"
        << std::endl;
  const ServiceRow* train = FindRow("train");
  std::vector<std::string> argv = CommandFor(*train);
  argv.insert(argv.end(), train_args.begin(), train_args.end());
  CTML_ASSIGN_OR_RETURN(int rc, RunJob(argv));
  if (rc != 0) return Status::Internal("ctml train failed (exit " + std::to_string(rc) + ")");
  trained_now_ = true;
  CTML_ASSIGN_OR_RETURN(auto meta, store::OpenMetaStore(uri));
  auto prod = meta->GetAlias(model, "production");
  if (!prod.ok()) {
    return Status::FailedPrecondition(
        "ctml train finished but " + model +
        " has no 'production' alias: the promotion gate failed (reason above; "
        "`ctml registry list` shows it)");
  }
  out() << "Model: " << model << " v" << prod->version << " is production" << std::endl;
  return Status::OK();
}

// True (and says so) when `model` has versions but none is production: its last training failed
// the gate. Retraining on every start would only add versions of the same data.
bool Manager::AlreadyRejected(const std::string& model, const std::string& config_path) {
  auto uri = cfg_.Require("meta.uri");
  if (!uri.ok()) return false;
  auto meta = store::OpenMetaStore(*uri);
  if (!meta.ok()) return false;
  if ((*meta)->GetAlias(model, "production").ok()) return false;
  auto versions = (*meta)->ListModelVersions(model);
  if (!versions.ok() || versions->empty()) return false;
  const store::ModelVersion* last = &versions->front();
  for (const auto& v : *versions) {
    if (v.version > last->version) last = &v;
  }
  std::string reason = "see ctml registry show " + model;
  auto doc = ParseJson(last->manifest_json, 64);
  if (doc.ok() && doc->contains("promotion") && (*doc)["promotion"].is_object()) {
    reason = (*doc)["promotion"].value("reason", reason);
  }
  out() << "Model: " << model << " v" << last->version << " was registered but not promoted ("
        << reason << "); not retraining. Promote it "
        << "(ctml registry promote " << model << " " << last->version
        << ") or train again (ctml train --config " << config_path << ")" << std::endl;
  return true;
}

void Manager::EnsureExtraModels() {
  for (const auto& item : cfg_.GetList("train.extra")) {
    const std::string path = ConfigPath(item);
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    auto file = in ? Config::FromYaml(text.str(), fs::path(path).parent_path().string(), false)
                   : Result<Config>(Status::NotFound("cannot read " + path));
    if (!file.ok() || file->GetString("model").empty()) {
      out() << "Model: skipping train.extra " << item << ": "
            << (file.ok() ? "it names no model" : file.status().message()) << std::endl;
      continue;
    }
    const std::string study = file->GetString("study", "");
    const std::string model = file->GetString("model");
    if (AlreadyRejected(model, path)) continue;
    Status st = EnsureModel(model, {"--config", path});
    if (!st.ok()) {
      out() << "Model: " << file->GetString("model") << " not served: " << st.message()
            << (study.empty() ? "" : " (it trains on study " + study + ")") << std::endl;
      continue;
    }
    extra_served_.push_back({model, study});
  }
}

Status Manager::MakeServingReady() {
  const ServiceRow* serve = FindRow("serve");
  const Endpoint ep = ServiceEndpoint(*serve, cfg_);
  if (!trained_now_ && HttpGetStatus(ep, "/ready") == 200) {
    out() << "Serving: ready" << std::endl;
    return Status::OK();
  }
  out() << "Serving: POST /model/reload" << std::flush;
  auto reload = HttpPostStatus(ep, "/model/reload", "{}");
  if (!reload.ok()) {
    out() << " failed (" << reload.status().message() << ")";
  } else if (*reload >= 400) {
    out() << " answered HTTP " << *reload;
  }
  out() << ", waiting for /ready " << std::flush;
  const auto begin = Clock::now();
  auto next_dot = begin + std::chrono::seconds(1);
  for (;;) {
    if (HttpGetStatus(ep, "/ready") == 200) {
      out() << " ready (" << Seconds(Clock::now() - begin) << ")" << std::endl;
      return Status::OK();
    }
    auto now = Clock::now();
    if (now - begin >= env_.ready_timeout) {
      out() << " timeout" << std::endl;
      PrintLogTail(serve->name, 20, "    | ");
      return Status::Unavailable("serve did not become ready within " +
                                 Seconds(env_.ready_timeout));
    }
    if (now >= next_dot) {
      out() << "." << std::flush;
      next_dot += std::chrono::seconds(1);
    }
    std::this_thread::sleep_for(milliseconds(500));
  }
}

void Manager::PrintReadyBlock() {
  const ServiceRow* serve = FindRow("serve");
  const Endpoint ep = ServiceEndpoint(*serve, cfg_);
  out() << "\n================================================================\n"
        << " ctml is up: levels 0-" << kMaxLevel << " (" << cfg_.GetString("profile", "embedded")
        << " profile)\n"
        << "================================================================" << std::endl;
  Urls(kMaxLevel);
  // The demo id goes to the terminal only (never to var/ or a log).
  out() << "\nPredict for a demo patient:\n"
        << "  curl -s -X POST " << BaseUrl(ep) << "/v1/predict \\\n"
        << "    -H 'Content-Type: application/json' \\\n"
        << "    -d '{\"records\":[{\"patient_id\":\"" << DemoId(0) << "\"}]}'\n";
  for (const auto& served : extra_served_) {
    // A subject to try: for the CDISC pilot one of its USUBJIDs (public data, dm.xpt); for
    // other studies the user knows their own ids.
    const bool pilot = served.study == "CDISCPILOT01";
    const std::string who = pilot                  ? "A CDISC pilot subject"
                            : served.study.empty() ? "A subject"
                                                   : "A subject of study " + served.study;
    out() << who << " with the " << served.model << " model"
          << (pilot ? " (USUBJID from dm.xpt)" : "") << ":\n"
          << "  curl -s -X POST " << BaseUrl(ep) << "/v1/predict \\\n"
          << "    -H 'Content-Type: application/json' \\\n"
          << "    -d '{\"model\":\"" << served.model << "\",\"explain\":true,"
          << "\"records\":[{\"patient_id\":\"" << (pilot ? "01-701-1015" : "<subject id>")
          << "\"}]}'\n";
  }
  out() << "\nStatus: ./pipeline-manager.sh -s -h   Stop: ./pipeline-manager.sh --stop"
        << std::endl;
}

// ---------------------------------------------------------------------------------- stop

Status Manager::Stop(int level) {
  const bool infra = level >= kMaxLevel && !ManagedServices().empty();
  out() << "Stopping levels " << (infra ? 0 : std::min(level, 1)) << "-" << level
        << (level == 0 ? " (level 0 stops only with every level)" : "") << std::endl;
  auto rows = RowsInLevels(1, level, RowKind::kService);
  std::reverse(rows.begin(), rows.end());
  Status first_error;
  for (const auto& row : rows) {
    Status st = StopService(row);
    if (!st.ok() && first_error.ok()) first_error = st;
  }
  // The infrastructure this profile runs itself stops last, and only when every level stops.
  if (level >= kMaxLevel && !ManagedServices().empty()) {
    out() << "Level 0  " << LevelTitle(0) << std::endl;
    Status st = StopManagedServices();
    if (!st.ok() && first_error.ok()) first_error = st;
  }
  return first_error;
}

Status Manager::StopService(const ServiceRow& row) {
  const std::string pid_path = PidPath(row.name);
  ProcessInfo info = InspectPidFile(pid_path, row.command);
  std::vector<pid_t> pids;
  if (info.state == ProcessState::kRunning) pids.push_back(info.pid);
  if (pids.empty()) {
    out() << "  " << Pad(row.name, 14)
          << (info.state == ProcessState::kStale ? "not running (stale pid file removed)"
                                                 : "not running")
          << std::endl;
    return RemovePidFile(pid_path);
  }
  Status result;
  for (pid_t pid : pids) {
    out() << "  " << Pad(row.name, 14) << "stopping pid " << pid << " " << std::flush;
    auto how = StopProcess(pid, env_.stop_grace);
    if (!how.ok()) {
      out() << "FAILED" << std::endl;
      result = how.status().WithContext(row.name);
      continue;
    }
    out() << StopOutcomeName(*how) << std::endl;
  }
  if (result.ok()) CTML_RETURN_NOT_OK(RemovePidFile(pid_path));
  return result;
}

Status Manager::RestartRebuild(int level) {
  CTML_RETURN_NOT_OK(Stop(level));
  const std::string script = env_.source_dir + "/scripts/build.sh";
  out() << "Rebuilding: " << script << std::endl;
  CTML_ASSIGN_OR_RETURN(int rc, RunJob({"bash", script}));
  if (rc != 0) return Status::Internal("build failed (exit " + std::to_string(rc) + ")");
  return Start(level);
}

Status Manager::Clean(bool all_data) {
  CTML_RETURN_NOT_OK(Stop(kMaxLevel));
  std::error_code ec;
  fs::path var = fs::weakly_canonical(var_dir_, ec);
  if (ec) var = fs::path(var_dir_);
  // Refuse anything that is not a dedicated data folder below the project.
  auto is_within = [](const fs::path& inner, const fs::path& outer) {
    auto rel = inner.lexically_relative(outer);
    return !rel.empty() && *rel.begin() != "..";
  };
  const fs::path cfg_dir = fs::weakly_canonical(cfg_.dir(), ec);
  const fs::path src_dir = fs::weakly_canonical(env_.source_dir, ec);
  const char* home = std::getenv("HOME");
  if (var.empty() || var == var.root_path() || is_within(cfg_dir, var) || is_within(src_dir, var) ||
      (home != nullptr && fs::path(home) == var)) {
    return Status::FailedPrecondition("refusing to delete '" + var.string() +
                                      "' (paths.var must be a dedicated data folder)");
  }
  if (!fs::exists(var)) {
    out() << "Clean: " << var.string() << " does not exist; nothing to delete" << std::endl;
    return Status::OK();
  }
  out() << "Clean: deleting data under " << var.string()
        << (all_data ? " (including secrets/)" : " (keeping secrets/)") << std::endl;
  std::vector<fs::path> entries;
  for (const auto& entry : fs::directory_iterator(var, ec)) entries.push_back(entry.path());
  if (ec) return Status::IOError("cannot list " + var.string() + ": " + ec.message());
  std::sort(entries.begin(), entries.end());
  for (const auto& p : entries) {
    if (!all_data && p.filename() == "secrets") {
      out() << "  kept     " << p.filename().string() << "/" << std::endl;
      continue;
    }
    fs::remove_all(p, ec);
    if (ec) return Status::IOError("cannot delete " + p.string() + ": " + ec.message());
    out() << "  deleted  " << p.filename().string() << std::endl;
  }
  return Status::OK();
}

// ---------------------------------------------------------------------------------- views

bool Manager::Summary(int level) {
  bool ok = true;
  out() << "\n== Summary (levels 0-" << level << ") ==\n";
  out() << "Level 0  " << LevelTitle(0) << std::endl;
  for (const auto& name : ManagedServices()) {
    const ScriptStatus& status = ServiceStatus(name);
    std::istringstream lines(status.text);
    for (std::string line; std::getline(lines, line);) {
      out() << "  " << (line.rfind(name + ":", 0) == 0 ? "" : "    ") << RedactUri(line)
            << std::endl;
    }
    if (!status.up) ok = false;
  }
  for (const auto& row : RowsInLevels(0, 0, RowKind::kStore)) {
    const std::string uri = cfg_.GetString(row.config_key);
    out() << "  " << Pad(row.name, 14) << RedactUri(uri) << std::endl;
    Status st;
    if (row.config_key == "log.uri") {
      auto log = store::OpenEventLog(uri);
      st = log.status();
      if (log.ok()) {
        auto topics = (*log)->ListTopics();
        st = topics.status();
        if (topics.ok()) {
          if (topics->empty()) out() << "      (no topics yet)" << std::endl;
          for (const auto& t : *topics) {
            auto parts = (*log)->Partitions(t);
            int64_t end = 0;
            if (parts.ok()) {
              for (const auto& p : *parts) end += p.end_offset;
            }
            out() << "      topic " << Pad(t, 18) << "records " << end << "  partitions "
                  << (parts.ok() ? parts->size() : 0) << std::endl;
            auto lags = (*log)->Lag(t);
            if (!lags.ok()) continue;
            for (const auto& g : *lags) {
              out() << "        group " << Pad(g.group, 16) << "committed " << g.committed
                    << "  lag " << g.lag << std::endl;
            }
          }
        }
      }
    } else if (row.config_key == "lake.uri") {
      auto lake = store::OpenLake(uri);
      st = lake.status();
      if (lake.ok()) {
        out() << "     ";
        for (const auto& folder : LakeFolders()) {
          auto files = (*lake)->List(folder);
          out() << " " << folder << "/ " << (files.ok() ? std::to_string(files->size()) : "?");
        }
        out() << "  (files)" << std::endl;
      }
    } else if (row.config_key == "online.uri") {
      auto online = store::OpenOnlineStore(uri);
      st = online.status();
      if (online.ok()) {
        auto n = (*online)->Count(std::string(kOnlineView));
        st = n.status();
        if (n.ok()) {
          out() << "      view " << kOnlineView << ": " << *n << " vectors" << std::endl;
        }
      }
    } else if (row.config_key == "meta.uri") {
      auto meta = store::OpenMetaStore(uri);
      st = meta.status();
      if (meta.ok()) {
        auto models = (*meta)->ListModels();
        st = models.status();
        if (models.ok()) {
          if (models->empty()) out() << "      (no models yet)" << std::endl;
          for (const auto& m : *models) {
            auto versions = (*meta)->ListModelVersions(m);
            auto aliases = (*meta)->ListAliases(m);
            out() << "      model " << Pad(m, 16) << "versions "
                  << (versions.ok() ? std::to_string(versions->size()) : "?") << "  aliases";
            if (aliases.ok() && !aliases->empty()) {
              for (const auto& [alias, v] : *aliases) out() << " " << alias << "=v" << v;
            } else {
              out() << " (none)";
            }
            out() << std::endl;
          }
        }
      }
    }
    if (!st.ok()) {
      ok = false;
      out() << "      unavailable: " << st.message() << std::endl;
    }
  }
  const int64_t now = NowMicros();
  for (int l = 1; l <= level; ++l) {
    out() << "Level " << l << "  " << LevelTitle(l) << std::endl;
    for (const auto& row : RowsInLevels(l, l)) {
      if (row.kind == RowKind::kJob) {
        out() << "  " << Pad(row.name, 14) << "one-shot job (ctml " << row.command << ")"
              << std::endl;
        continue;
      }
      const Endpoint ep = ServiceEndpoint(row, cfg_);
      ProcessInfo info = InspectPidFile(PidPath(row.name), row.command);
      out() << "  " << Pad(row.name, 14);
      switch (info.state) {
        case ProcessState::kRunning:
          out() << Pad("running", 9) << "pid " << Pad(std::to_string(info.pid), 8) << "port "
                << Pad(std::to_string(ep.port), 6) << "up " << FormatUptime(now - info.since_us);
          break;
        case ProcessState::kStopped:
          out() << Pad("stopped", 9) << "port " << ep.port;
          break;
        case ProcessState::kStale:
          out() << Pad("stopped", 9) << "port " << ep.port << "  (stale pid file " << info.pid
                << ")";
          break;
      }
      out() << std::endl;
    }
  }
  return ok;
}

bool Manager::Health(int level) {
  out() << "\n== Health (levels 0-" << level << ") ==" << std::endl;
  int down = 0;
  int total = 0;
  auto report = [&](bool up, const std::string& name, const std::string& what) {
    ++total;
    if (!up) ++down;
    out() << "  " << (up ? "UP    " : "DOWN  ") << Pad(name, 14) << what << std::endl;
  };
  for (const auto& name : ManagedServices()) {
    const ScriptStatus& status = ServiceStatus(name);
    std::string first = status.text.substr(0, status.text.find('\n'));
    if (first.rfind(name + ": ", 0) == 0) first = first.substr(name.size() + 2);
    report(status.up, name, RedactUri(first));
  }
  for (const auto& row : RowsInLevels(0, 0, RowKind::kStore)) {
    Status st = ProbeStore(row, cfg_);
    report(st.ok(), row.name, st.ok() ? "open + ping ok" : st.message());
  }
  for (const auto& row : RowsInLevels(1, level, RowKind::kService)) {
    const Endpoint ep = ServiceEndpoint(row, cfg_);
    std::vector<std::string> targets = {"/health"};
    if (row.has_ready) targets.push_back("/ready");
    for (const auto& target : targets) {
      int code = HttpGetStatus(ep, target);
      std::string what = BaseUrl(ep) + target;
      if (code == 0) {
        what += "  (unreachable)";
      } else if (code != 200) {
        what += "  (HTTP " + std::to_string(code) + ")";
      }
      report(code == 200, target == "/health" ? row.name : row.name + " ready", what);
    }
  }
  out() << "  " << (total - down) << "/" << total << " UP" << std::endl;
  return down == 0;
}

void Manager::PrintLogTail(const std::string& service, size_t lines, const std::string& indent,
                           bool since_start) {
  auto tail = TailFile(LogPath(service), since_start ? 500 : lines);
  if (since_start) {
    for (size_t i = tail.size(); i-- > 0;) {
      if (tail[i].rfind(kStartMarker, 0) == 0) {
        tail.erase(tail.begin(), tail.begin() + static_cast<long>(i) + 1);
        break;
      }
    }
  }
  if (tail.size() > lines) tail.erase(tail.begin(), tail.end() - static_cast<long>(lines));
  if (tail.empty()) {
    out() << indent << "(log " << LogPath(service) << " is empty or missing)" << std::endl;
  }
  for (const auto& line : tail) out() << indent << line << "\n";
  out() << std::flush;
}

void Manager::Logs(int level, int lines) {
  for (const auto& row : RowsInLevels(1, level, RowKind::kService)) {
    out() << "\n==> " << LogPath(row.name) << " (last " << lines << " lines) <==" << std::endl;
    PrintLogTail(row.name, static_cast<size_t>(lines), "");
  }
}

void Manager::Urls(int level) {
  out() << "\n== URLs ==" << std::endl;
  for (const auto& name : ManagedServices()) {
    std::string uri;
    auto rc = ServiceScript(name, "uri", &uri);
    while (!uri.empty() && (uri.back() == '\n' || uri.back() == ' ')) uri.pop_back();
    out() << "  " << Pad(name, 14) << (rc.ok() && *rc == 0 ? RedactUri(uri) : "(unknown)")
          << std::endl;
  }
  for (const auto& row : RowsInLevels(0, 0, RowKind::kStore)) {
    out() << "  " << Pad(row.name, 14) << RedactUri(cfg_.GetString(row.config_key)) << std::endl;
  }
  for (const auto& row : RowsInLevels(1, level, RowKind::kService)) {
    const std::string base = BaseUrl(ServiceEndpoint(row, cfg_));
    out() << "  " << Pad(row.name, 14) << base << "/health   " << base << "/metrics" << std::endl;
    for (const auto& api : SplitApi(row.api)) {
      size_t space = api.find(' ');
      out() << "  " << Pad("", 14) << Pad(api.substr(0, space), 5) << base << api.substr(space + 1)
            << std::endl;
    }
  }
}

void Manager::Topology(int level) {
  std::vector<std::vector<std::string>> boxes;
  for (int l = 1; l <= level; ++l) {
    std::vector<std::string> lines = {"Level " + std::to_string(l) + "  " +
                                      std::string(LevelTitle(l))};
    for (const auto& row : RowsInLevels(l, l)) {
      std::string where = row.kind == RowKind::kJob
                              ? "(job)"
                              : ":" + std::to_string(ServiceEndpoint(row, cfg_).port);
      lines.push_back("  " + Pad(row.name, 13) + Pad(where, 7) + row.consumes + "  -->  " +
                      row.produces);
    }
    boxes.push_back(lines);
  }
  std::vector<std::string> infra = {"Level 0  " + std::string(LevelTitle(0)) +
                                    "  (no process on this profile)"};
  for (const auto& row : RowsInLevels(0, 0, RowKind::kStore)) {
    infra.push_back("  " + Pad(row.name, 13) + Pad(RedactUri(cfg_.GetString(row.config_key)), 40) +
                    row.produces);
  }
  size_t width = 0;
  for (const auto& b : boxes) {
    for (const auto& s : b) width = std::max(width, s.size());
  }
  for (const auto& s : infra) width = std::max(width, s.size());
  width += 2;
  const std::string rule = "+" + std::string(width, '-') + "+";
  const std::string arrow = std::string(width / 2, ' ') + "|\n" + std::string(width / 2, ' ') + "v";
  auto draw = [&](const std::vector<std::string>& lines) {
    out() << rule << "\n";
    for (const auto& s : lines) out() << "| " << Pad(s, width - 1) << "|\n";
    out() << rule << "\n";
  };
  out() << "\n== Topology (" << cfg_.GetString("profile", "embedded") << " profile) ==\n";
  out() << "  clients / demo generator --HTTP POST /api/clinical/data-->"
        << "\n";
  for (size_t i = 0; i < boxes.size(); ++i) {
    draw(boxes[i]);
    if (i + 1 < boxes.size()) out() << arrow << "\n";
  }
  out() << std::string(width / 2, ' ') << "|  all levels read and write\n"
        << std::string(width / 2, ' ') << "v\n";
  draw(infra);
  out() << std::flush;
}

void Manager::Demo() {
  const Endpoint gw = ServiceEndpoint(*FindRow("gateway"), cfg_);
  const Endpoint serve = ServiceEndpoint(*FindRow("serve"), cfg_);
  const std::string id = DemoId(0);
  out() << "\n== Sample payloads ==\n"
        << "Send a vital-signs reading to the gateway:\n"
        << "  curl -s -X POST " << BaseUrl(gw) << "/api/clinical/data \\\n"
        << "    -H 'Content-Type: application/json' \\\n"
        << "    -d '{\"study_id\":\"DEMO-001\",\"site_id\":\"SITE-01\",\"vital_signs\":{"
        << "\"patient_id\":\"" << id << "\",\"measurement_time\":\"" << FormatIso8601(NowMicros())
        << "\",\"systolic_bp\":128,\"diastolic_bp\":82,\"heart_rate\":76,"
        << "\"temperature_celsius\":36.8,\"respiratory_rate\":16,\"oxygen_saturation\":97}}'\n"
        << "\nPredict (features looked up in the online store):\n"
        << "  curl -s -X POST " << BaseUrl(serve) << "/v1/predict \\\n"
        << "    -H 'Content-Type: application/json' \\\n"
        << "    -d '{\"records\":[{\"patient_id\":\"" << id << "\"}],\"use_cache\":true}'"
        << std::endl;
}

}  // namespace ctml::manager
