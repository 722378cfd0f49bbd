#include "ctml/manager/supervisor.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace ctml::manager {

namespace fs = std::filesystem;

namespace {

// Messages from the forked children to the parent over a close-on-exec pipe.
struct ChildMsg {
  int32_t kind;  // 1 = daemon pid, 2 = exec errno, 3 = fork errno
  int32_t value;
};

void WriteMsg(int fd, int32_t kind, int32_t value) {
  ChildMsg m{kind, value};
  ssize_t unused = ::write(fd, &m, sizeof m);
  (void)unused;
}

std::vector<char*> ArgvPointers(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  out.reserve(argv.size() + 1);
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

// In a freshly forked child: default dispositions and an empty mask, so that the program we
// exec gets SIGTERM/SIGINT/SIGPIPE as usual whatever the manager did with them.
void ResetSignals() {
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGQUIT}) ::signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

std::vector<ChildMsg> ReadAllMsgs(int fd) {
  std::string buf;
  char chunk[256];
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n > 0) {
      buf.append(chunk, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  std::vector<ChildMsg> out;
  for (size_t off = 0; off + sizeof(ChildMsg) <= buf.size(); off += sizeof(ChildMsg)) {
    ChildMsg m;
    std::memcpy(&m, buf.data() + off, sizeof m);
    out.push_back(m);
  }
  return out;
}

int WaitChild(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}

std::string ErrnoText(int e) { return std::strerror(e); }

}  // namespace

Result<pid_t> SpawnDetached(const SpawnOptions& options) {
  if (options.argv.empty()) return Status::Invalid("empty argv", "argv");
  std::vector<char*> args = ArgvPointers(options.argv);
  if (!options.log_path.empty()) {
    std::error_code ec;
    fs::create_directories(fs::path(options.log_path).parent_path(), ec);
  }
  int log_fd = ::open(options.log_path.empty() ? "/dev/null" : options.log_path.c_str(),
                      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0)
    return Status::IOError("cannot open log '" + options.log_path + "': " + ErrnoText(errno));
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int pipefd[2];
  if (null_fd < 0 || ::pipe2(pipefd, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(log_fd);
    if (null_fd >= 0) ::close(null_fd);
    return Status::IOError("spawn setup failed: " + ErrnoText(e));
  }
  const char* cwd = options.cwd.empty() ? nullptr : options.cwd.c_str();

  pid_t mid = ::fork();
  if (mid < 0) {
    int e = errno;
    ::close(log_fd);
    ::close(null_fd);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    return Status::IOError("fork failed: " + ErrnoText(e));
  }
  if (mid == 0) {
    // Intermediate child: fork the daemon, report its pid, exit (the daemon is re-parented).
    ::close(pipefd[0]);
    pid_t daemon = ::fork();
    if (daemon < 0) {
      WriteMsg(pipefd[1], 3, errno);
      ::_exit(1);
    }
    if (daemon == 0) {
      ResetSignals();
      ::setsid();
      ::dup2(null_fd, STDIN_FILENO);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      if (cwd != nullptr && ::chdir(cwd) != 0) {
        WriteMsg(pipefd[1], 2, errno);
        ::_exit(127);
      }
      ::execvp(args[0], args.data());
      WriteMsg(pipefd[1], 2, errno);
      ::_exit(127);
    }
    WriteMsg(pipefd[1], 1, daemon);
    ::_exit(0);
  }
  ::close(pipefd[1]);
  ::close(log_fd);
  ::close(null_fd);
  WaitChild(mid);
  std::vector<ChildMsg> msgs = ReadAllMsgs(pipefd[0]);  // EOF once the daemon exec'd or died
  ::close(pipefd[0]);
  pid_t daemon = 0;
  for (const auto& m : msgs) {
    if (m.kind == 1) daemon = m.value;
  }
  for (const auto& m : msgs) {
    if (m.kind == 2) {
      return Status::IOError("cannot execute '" + options.argv[0] + "': " + ErrnoText(m.value));
    }
    if (m.kind == 3) return Status::IOError("fork failed: " + ErrnoText(m.value));
  }
  if (daemon <= 0) return Status::Internal("spawn: no pid reported");
  return daemon;
}

Result<int> RunJob(const std::vector<std::string>& argv, std::string* output,
                   const std::vector<std::string>& set_env) {
  if (argv.empty()) return Status::Invalid("empty argv", "argv");
  std::vector<char*> args = ArgvPointers(argv);
  // The child's environment is built here, before fork: only async-signal-safe calls after it.
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const std::string_view name = entry.substr(0, entry.find('='));
    const bool replaced = std::any_of(set_env.begin(), set_env.end(), [&](const std::string& s) {
      return s.size() > name.size() && s.compare(0, name.size(), name) == 0 &&
             s[name.size()] == '=';
    });
    if (!replaced) env_strings.emplace_back(entry);
  }
  env_strings.insert(env_strings.end(), set_env.begin(), set_env.end());
  std::vector<char*> envp = ArgvPointers(env_strings);
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  int pipefd[2];
  int outfd[2] = {-1, -1};
  if (null_fd < 0 || ::pipe2(pipefd, O_CLOEXEC) != 0 ||
      (output != nullptr && ::pipe2(outfd, O_CLOEXEC) != 0)) {
    int e = errno;
    if (null_fd >= 0) ::close(null_fd);
    return Status::IOError("job setup failed: " + ErrnoText(e));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    ::close(null_fd);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    if (output != nullptr) {
      ::close(outfd[0]);
      ::close(outfd[1]);
    }
    return Status::IOError("fork failed: " + ErrnoText(e));
  }
  if (pid == 0) {
    ::close(pipefd[0]);
    ResetSignals();
    ::dup2(null_fd, STDIN_FILENO);
    if (output != nullptr) {
      ::dup2(outfd[1], STDOUT_FILENO);
      ::dup2(outfd[1], STDERR_FILENO);
    }
    ::execvpe(args[0], args.data(), envp.data());
    WriteMsg(pipefd[1], 2, errno);
    ::_exit(127);
  }
  ::close(pipefd[1]);
  ::close(null_fd);
  if (output != nullptr) {
    // Read the output before waiting: a child writing more than a pipe holds would block.
    ::close(outfd[1]);
    char buf[4096];
    ssize_t n;
    while ((n = ::read(outfd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) output->append(buf, static_cast<size_t>(n));
    }
    ::close(outfd[0]);
  }
  std::vector<ChildMsg> msgs = ReadAllMsgs(pipefd[0]);
  ::close(pipefd[0]);
  int rc = WaitChild(pid);
  for (const auto& m : msgs) {
    if (m.kind == 2) {
      return Status::IOError("cannot execute '" + argv[0] + "': " + ErrnoText(m.value));
    }
  }
  if (rc < 0) return Status::Internal("waitpid failed for '" + argv[0] + "'");
  return rc;
}

bool IsProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  int st = 0;
  if (::waitpid(pid, &st, WNOHANG) == pid) return false;  // our child, just reaped
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (in && std::getline(in, stat)) {
    size_t close_paren = stat.rfind(')');
    if (close_paren != std::string::npos && close_paren + 2 < stat.size()) {
      char state = stat[close_paren + 2];
      if (state == 'Z' || state == 'X' || state == 'x') return false;
    }
  }
  return true;
}

bool CommandLineHas(pid_t pid, std::string_view token) {
  if (token.empty()) return true;
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  if (!in) return true;  // cannot tell
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (all.empty()) return true;  // kernel thread or exiting; cannot tell
  std::vector<std::string_view> args;
  size_t start = 0;
  while (start <= all.size()) {
    size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    args.emplace_back(all.data() + start, end - start);
    start = end + 1;
  }
  if (token.find(' ') != std::string_view::npos) {
    // A subcommand path ("registry serve"): consecutive arguments, one per word.
    std::vector<std::string_view> words;
    for (size_t b = 0; b < token.size();) {
      size_t e = token.find(' ', b);
      if (e == std::string_view::npos) e = token.size();
      if (e > b) words.push_back(token.substr(b, e - b));
      b = e + 1;
    }
    for (size_t i = 0; i + words.size() <= args.size(); ++i) {
      if (std::equal(words.begin(), words.end(), args.begin() + static_cast<std::ptrdiff_t>(i))) {
        return true;
      }
    }
    return false;
  }
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == token) return true;
    if (i == 0 && fs::path(std::string(args[i])).filename() == token) return true;
  }
  return false;
}

const char* StopOutcomeName(StopOutcome outcome) {
  switch (outcome) {
    case StopOutcome::kNotRunning:
      return "not running";
    case StopOutcome::kTerminated:
      return "terminated";
    case StopOutcome::kKilled:
      return "killed";
  }
  return "?";
}

Result<StopOutcome> StopProcess(pid_t pid, std::chrono::milliseconds grace,
                                std::chrono::milliseconds poll) {
  if (!IsProcessAlive(pid)) return StopOutcome::kNotRunning;
  const bool group = ::getpgid(pid) == pid;
  auto send = [&](int sig) {
    if (group) {
      ::kill(-pid, sig);
    } else {
      ::kill(pid, sig);
    }
  };
  auto wait_gone = [&](std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (IsProcessAlive(pid)) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(poll);
    }
    return true;
  };
  send(SIGTERM);
  StopOutcome outcome = StopOutcome::kTerminated;
  if (!wait_gone(grace)) {
    send(SIGKILL);
    outcome = StopOutcome::kKilled;
    if (!wait_gone(std::chrono::seconds(5))) {
      return Status::Internal("process " + std::to_string(pid) + " survived SIGKILL");
    }
  }
  // Leftover members of the daemon's process group (it should have none) do not outlive it.
  if (group && ::kill(-pid, 0) == 0) ::kill(-pid, SIGKILL);
  return outcome;
}

Status WritePidFile(const std::string& path, pid_t pid) {
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return Status::IOError("cannot write pid file '" + tmp + "'");
    out << pid << "\n";
    if (!out.flush()) return Status::IOError("cannot write pid file '" + tmp + "'");
  }
  fs::rename(tmp, path, ec);
  if (ec) return Status::IOError("cannot rename pid file to '" + path + "': " + ec.message());
  return Status::OK();
}

Result<std::optional<pid_t>> ReadPidFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (!fs::exists(path)) return std::optional<pid_t>();
    return Status::IOError("cannot read pid file '" + path + "'");
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r')) {
    text.pop_back();
  }
  if (text.empty() || text.size() > 10 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return Status::Invalid("pid file '" + path + "' does not hold a pid", path);
  }
  long pid = std::stol(text);
  if (pid <= 0) return Status::Invalid("pid file '" + path + "' holds pid 0", path);
  return std::optional<pid_t>(static_cast<pid_t>(pid));
}

Status RemovePidFile(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  if (ec) return Status::IOError("cannot remove pid file '" + path + "': " + ec.message());
  return Status::OK();
}

ProcessInfo InspectPidFile(const std::string& path, std::string_view token) {
  ProcessInfo info;
  auto pid = ReadPidFile(path);
  if (!pid.ok()) {
    info.state = ProcessState::kStale;  // garbage in the file: nothing we can act on
    return info;
  }
  if (!pid->has_value()) return info;
  info.pid = **pid;
  if (IsProcessAlive(info.pid) && CommandLineHas(info.pid, token)) {
    info.state = ProcessState::kRunning;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) {
      info.since_us =
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000 + st.st_mtim.tv_nsec / 1000;
    }
  } else {
    info.state = ProcessState::kStale;
  }
  return info;
}

std::vector<std::string> TailFile(const std::string& path, size_t lines) {
  std::vector<std::string> out;
  if (lines == 0) return out;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return out;
  const std::streamoff size = in.tellg();
  // Read a bounded window from the end; grows until it holds enough lines or the whole file.
  std::streamoff window = 64 * 1024;
  std::string data;
  for (;;) {
    std::streamoff start = size > window ? size - window : 0;
    in.seekg(start);
    data.assign(static_cast<size_t>(size - start), '\0');
    in.read(data.data(), static_cast<std::streamsize>(data.size()));
    size_t newlines = 0;
    for (char c : data) newlines += c == '\n';
    if (start == 0 || newlines > lines) {
      if (start != 0) data.erase(0, data.find('\n') + 1);  // drop the partial first line
      break;
    }
    window *= 4;
  }
  std::istringstream ss(data);
  std::string line;
  while (std::getline(ss, line)) out.push_back(line);
  if (out.size() > lines) out.erase(out.begin(), out.end() - static_cast<long>(lines));
  return out;
}

std::string SelfExePath() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  return p.string();
}

}  // namespace ctml::manager
