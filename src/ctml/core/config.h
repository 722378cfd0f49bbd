// Configuration: a YAML file flattened to dotted keys ("gateway.port"), overridden by the
// environment (CTML_GATEWAY_PORT), with ${key} interpolation and paths resolved against the
// config file's directory. A file may start from another (`extends: ctml.yaml`: its keys
// override the base's). `${file:PATH}` names a secret file; it stays a reference that the
// store factory resolves (store/secret_refs.h).
//
//   CTML_ASSIGN_OR_RETURN(auto cfg, ctml::Config::Load(cli_config_path));  // "" = default search
//   int port = cfg.GetInt("gateway.port", 8082);
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "ctml/core/status.h"

namespace ctml {

class Config {
 public:
  // Loads `path`; when empty, the first of $CTML_CONFIG, ./ctml.yaml, and the ctml.yaml of the
  // source tree the binary was built from. Environment overrides are applied for every key
  // present in the file: key "a.b_c" is overridden by CTML_A_B_C.
  static Result<Config> Load(const std::string& path = "");
  // Builds a config from YAML text (tests); `dir` anchors relative paths.
  static Result<Config> FromYaml(const std::string& yaml, const std::string& dir,
                                 bool apply_env = true);

  bool Has(const std::string& key) const { return values_.count(key) > 0; }
  std::string GetString(const std::string& key, const std::string& fallback = "") const;
  Result<std::string> Require(const std::string& key) const;
  int64_t GetInt(const std::string& key, int64_t fallback) const;
  double GetDouble(const std::string& key, double fallback) const;
  bool GetBool(const std::string& key, bool fallback) const;
  // A list: a YAML sequence (flattened to "a,b") or a comma-separated string; items trimmed,
  // empty items skipped.
  std::vector<std::string> GetList(const std::string& key) const;
  // Sets a value (already interpolated); used by tests and command-line overrides.
  void Set(const std::string& key, const std::string& value) { values_[key] = value; }

  const std::string& path() const { return path_; }
  // Directory of the config file (the project root for the committed ctml.yaml).
  const std::string& dir() const { return dir_; }
  const std::map<std::string, std::string>& values() const { return values_; }

  // The environment variable that overrides `key`.
  static std::string EnvName(const std::string& key);

 private:
  Status Finish(bool apply_env);
  // The flattened keys of `file`, merged over its `extends` base (depth counts the nesting).
  static Result<std::map<std::string, std::string>> ReadFlat(const std::filesystem::path& file,
                                                             int depth);
  std::string path_;
  std::string dir_;
  std::map<std::string, std::string> values_;
};

}  // namespace ctml
