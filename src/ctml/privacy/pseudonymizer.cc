#include "ctml/privacy/pseudonymizer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ctml/core/crypto.h"
#include "ctml/core/log.h"

namespace ctml::privacy {
namespace fs = std::filesystem;

std::string Pseudonymizer::SubjectKey(std::string_view subject_id) const {
  return Base32Encode(HmacSha256(key_, subject_id)).substr(0, 26);
}

Result<std::string> LoadOrCreateKey(const std::string& path) {
  if (path.empty()) return Status::Invalid("privacy key file path is empty", "privacy.key_file");
  if (!fs::exists(path)) {
    std::error_code ec;
    fs::create_directories(fs::path(path).parent_path(), ec);
    if (ec) return Status::IOError("cannot create directory for " + path + ": " + ec.message());
    chmod(fs::path(path).parent_path().c_str(), 0700);
    // Written to a private temporary file, then published with link(2), which fails when the
    // key already exists: services starting together never see a half-written key.
    std::string key = HexEncode(RandomBytes(32));
    std::string tmp = path + ".tmp-" + HexEncode(RandomBytes(6));
    int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) return Status::IOError("cannot create privacy key file " + tmp);
    bool ok = write(fd, key.data(), key.size()) == static_cast<ssize_t>(key.size());
    ok = fsync(fd) == 0 && ok;
    close(fd);
    if (!ok) {
      unlink(tmp.c_str());
      return Status::IOError("cannot write privacy key file " + tmp);
    }
    int linked = link(tmp.c_str(), path.c_str());
    int link_errno = errno;
    unlink(tmp.c_str());
    if (linked == 0) {
      log::Info("privacy", "generated a new privacy key", {{"file", path}});
    } else if (link_errno != EEXIST) {
      return Status::IOError("cannot create privacy key file " + path);
    }
  }
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return Status::IOError("cannot stat " + path);
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    return Status::FailedPrecondition("privacy key file " + path +
                                      " is readable by others; run: chmod 600 " + path);
  }
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string key = ss.str();
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' ')) {
    key.pop_back();
  }
  if (key.size() < 32) {
    return Status::FailedPrecondition("privacy key in " + path + " is shorter than 32 characters");
  }
  return key;
}

Result<Pseudonymizer> Pseudonymizer::FromConfig(const Config& cfg) {
  std::string path = cfg.GetString("privacy.key_file");
  if (const char* env = std::getenv("CTML_PRIVACY_KEY_FILE"); env && *env) path = env;
  CTML_ASSIGN_OR_RETURN(std::string key, LoadOrCreateKey(path));
  return Pseudonymizer(std::move(key));
}

}  // namespace ctml::privacy
