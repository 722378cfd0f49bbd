// `ctml manager`: starts, stops, probes and tails the platform's services by level, using the
// level table (levels.h), the supervisor (supervisor.h) and the probes (probes.h).
//
//   ManagerEnv env;
//   env.self_exe = SelfExePath();
//   env.config_path = cfg.path();
//   env.demo_patient_id = [](uint64_t seed, int i) { return ingest::DemoPatientId(seed, i); };
//   Manager manager(cfg, opts, env);
//   int exit_code = manager.Run();   // 0 ok, 1 a service failed to start / is unhealthy
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <string>

#include "ctml/core/config.h"
#include "ctml/core/status.h"
#include "ctml/manager/levels.h"
#include "ctml/manager/options.h"
#include "ctml/manager/supervisor.h"

namespace ctml::manager {

struct ManagerEnv {
  std::string self_exe;     // the ctml binary services and jobs are launched with
  std::string config_path;  // passed to them as --config
  std::string source_dir;   // project root holding scripts/build.sh (for --restart-rebuild)
  // Demo patient ids (ingest::DemoPatientId), printed to the terminal only; may be empty.
  std::function<std::string(uint64_t seed, int index)> demo_patient_id;
  std::ostream* out = nullptr;  // nullptr = std::cout
  std::chrono::milliseconds health_timeout{30'000};
  std::chrono::milliseconds drain_timeout{300'000};
  std::chrono::milliseconds ready_timeout{120'000};
  std::chrono::milliseconds stop_grace{10'000};
};

class Manager {
 public:
  Manager(Config cfg, ManagerOptions options, ManagerEnv env);

  // Runs the action, then the requested views; returns the exit code.
  int Run();

  Status Start(int level);
  Status Stop(int level);  // levels 1..level, reverse order
  Status RestartRebuild(int level);
  Status Clean(bool all_data);

  bool Summary(int level);  // false when a store could not be opened
  bool Health(int level);   // false when anything is down
  void Logs(int level, int lines);
  void Urls(int level);
  void Topology(int level);
  void Demo();

  std::string var_dir() const { return var_dir_; }
  std::string PidPath(const std::string& service) const;
  std::string LogPath(const std::string& service) const;
  // The argv a service or job is launched with: <self> --config <cfg> <command>.
  std::vector<std::string> CommandFor(const ServiceRow& row) const;

 private:
  std::ostream& out() const;
  Status StartService(const ServiceRow& row);
  Status WaitHealthy(const ServiceRow& row, pid_t pid);
  Status StartLevel0();
  // Level 0 services this profile runs itself (config services.managed: kafka, redis, postgres,
  // s3, ...), each through scripts/services/<name>.sh; empty for the embedded profile and for
  // installations pointing at clusters they do not own.
  std::vector<std::string> ManagedServices() const;
  // Runs scripts/services/<name>.sh <command>; the script's output goes to `output` when given,
  // else to the terminal. Returns the script's exit code.
  Result<int> ServiceScript(const std::string& name, const std::string& command,
                            std::string* output = nullptr) const;
  // `<name>.sh status`: up when it exits 0; text is its output (or why it could not run). Run
  // once per service and kept for the views that follow (-s and -h share it); a start or stop
  // of the services forgets it.
  struct ScriptStatus {
    bool up = false;
    std::string text;
  };
  const ScriptStatus& ServiceStatus(const std::string& name) const;
  Status StartManagedServices();
  Status StopManagedServices();
  Status LoadDemoData();
  // Imports pilot.sdtm_dir (ctml import sdtm) once; skipped when unset or absent.
  Status LoadPilotData();
  Status WaitDrained();
  // Writes features/offline/ snapshots (ctml features --batch --all) when there are none yet.
  Status EnsureOfflineFeatures();
  // Trains `model` (ctml train + `train_args`) when it has no production version yet.
  Status EnsureModel(const std::string& model, const std::vector<std::string>& train_args);
  // The train.extra models (one --config file each); a failure is reported, not fatal.
  void EnsureExtraModels();
  bool AlreadyRejected(const std::string& model, const std::string& config_path);
  Status MakeServingReady();
  void PrintReadyBlock();
  Status StopService(const ServiceRow& row);
  // The last `lines` lines of the service's log; with since_start only those after the marker
  // the manager wrote when it last started the service.
  void PrintLogTail(const std::string& service, size_t lines, const std::string& indent,
                    bool since_start = false);
  std::string DemoId(int index) const;
  std::string ConfigPath(const std::string& value) const;

  Config cfg_;
  ManagerOptions options_;
  ManagerEnv env_;
  std::string var_dir_;
  bool trained_now_ = false;
  // The train.extra models with a production version after this start, for the ready block.
  struct ServedModel {
    std::string model;
    std::string study;
  };
  std::vector<ServedModel> extra_served_;
  mutable std::map<std::string, ScriptStatus> service_status_;
};

}  // namespace ctml::manager
