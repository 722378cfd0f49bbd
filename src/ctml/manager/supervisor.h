// Process supervision with plain POSIX (fork/exec/setsid/kill, no shell): detached services with
// pid files and logs, one-shot jobs, and stopping with escalation from SIGTERM to SIGKILL.
//
//   SpawnOptions spawn;
//   spawn.argv = {exe, "--config", cfg, "gateway"};
//   spawn.log_path = "var/logs/gateway.log";
//   CTML_ASSIGN_OR_RETURN(pid_t pid, SpawnDetached(spawn));
//   CTML_RETURN_NOT_OK(WritePidFile("var/run/gateway.pid", pid));
//   ProcessInfo info = InspectPidFile("var/run/gateway.pid", "gateway");  // kRunning / kStale ...
//   CTML_ASSIGN_OR_RETURN(StopOutcome how, StopProcess(info.pid, std::chrono::seconds(10)));
//   CTML_ASSIGN_OR_RETURN(int rc, RunJob({exe, "--config", cfg, "train"}));  // waits, inherits tty
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::manager {

struct SpawnOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH when it has no '/'
  std::string log_path;           // stdout and stderr are appended here (created 0640)
  std::string cwd;                // "" = inherit
};

// Starts argv as a daemon: double fork (so it is not our child and never our zombie), setsid
// (own session and process group), stdin from /dev/null, stdout/stderr appended to log_path.
// Returns the daemon's pid once it has exec'd; fails when the exec failed.
Result<pid_t> SpawnDetached(const SpawnOptions& options);

// Runs argv in the foreground (stdin /dev/null, stdout/stderr inherited, or both captured into
// `output` when given), waits for it and returns its exit code (128 + signal number when killed
// by a signal). `set_env` ("NAME=value" each) is added to, or replaces in, the environment the
// job inherits; ours is left unchanged.
Result<int> RunJob(const std::vector<std::string>& argv, std::string* output = nullptr,
                   const std::vector<std::string>& set_env = {});

// True when `pid` exists and is not a zombie (reaps it first when it is our own child).
bool IsProcessAlive(pid_t pid);

// Whether the process' command line has an argument equal to `token`, or for a token of
// several space-separated words ("registry serve") consecutive arguments equal to them (true
// when /proc cannot tell). Guards against acting on a recycled pid.
bool CommandLineHas(pid_t pid, std::string_view token);

enum class StopOutcome { kNotRunning, kTerminated, kKilled };
const char* StopOutcomeName(StopOutcome outcome);

// SIGTERM to the process (its whole process group when it leads one), waits up to `grace` for
// it to exit, then SIGKILL and waits again. Fails only when the process survives SIGKILL.
Result<StopOutcome> StopProcess(pid_t pid, std::chrono::milliseconds grace,
                                std::chrono::milliseconds poll = std::chrono::milliseconds(50));

// Pid files: one decimal pid and a newline, written atomically (tmp + rename).
Status WritePidFile(const std::string& path, pid_t pid);
// nullopt when the file does not exist; kInvalid when it does not hold a positive pid.
Result<std::optional<pid_t>> ReadPidFile(const std::string& path);
Status RemovePidFile(const std::string& path);  // OK when absent

enum class ProcessState { kStopped, kRunning, kStale };
struct ProcessInfo {
  ProcessState state = ProcessState::kStopped;
  pid_t pid = 0;         // from the pid file (also for kStale)
  int64_t since_us = 0;  // pid file mtime = start time, when running
};
// kStopped: no pid file; kRunning: the pid is alive and its command line has `token` (when
// token is non-empty); kStale: a pid file whose process is gone (or is someone else's now).
ProcessInfo InspectPidFile(const std::string& path, std::string_view token);

// The last `lines` lines of a text file (fewer when it is shorter; empty when absent).
std::vector<std::string> TailFile(const std::string& path, size_t lines);

// Absolute path of the running executable (/proc/self/exe), "" when unknown.
std::string SelfExePath();

}  // namespace ctml::manager
