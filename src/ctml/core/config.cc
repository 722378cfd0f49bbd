#include "ctml/core/config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ctml {
namespace fs = std::filesystem;

namespace {

void Flatten(const YAML::Node& node, const std::string& prefix,
             std::map<std::string, std::string>* out) {
  if (node.IsMap()) {
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      Flatten(kv.second, prefix.empty() ? key : prefix + "." + key, out);
    }
  } else if (node.IsSequence()) {
    std::string joined;
    for (const auto& item : node) {
      if (!joined.empty()) joined += ",";
      joined += item.as<std::string>();
    }
    (*out)[prefix] = joined;
  } else if (node.IsScalar()) {
    (*out)[prefix] = node.as<std::string>();
  } else {
    (*out)[prefix] = "";
  }
}

bool IsPathKey(const std::string& key) { return key.rfind("paths.", 0) == 0; }

}  // namespace

std::string Config::EnvName(const std::string& key) {
  std::string env = "CTML_";
  for (char c : key) env += (c == '.' || c == '-') ? '_' : static_cast<char>(std::toupper(c));
  return env;
}

Result<Config> Config::Load(const std::string& path) {
  std::string chosen = path;
  if (chosen.empty()) {
    if (const char* env = std::getenv("CTML_CONFIG"); env && *env) {
      chosen = env;
    } else if (fs::exists("ctml.yaml")) {
      chosen = "ctml.yaml";
    } else {
      chosen = std::string(CTML_SOURCE_DIR) + "/ctml.yaml";
    }
  }
  std::ifstream in(chosen);
  if (!in) {
    return Status::NotFound("config file '" + chosen +
                            "' not found; pass --config FILE or set CTML_CONFIG");
  }
  in.close();
  fs::path abs = fs::absolute(chosen);
  Config cfg;
  cfg.dir_ = abs.parent_path().string();
  cfg.path_ = abs.string();
  auto flat = ReadFlat(abs, 0);
  if (!flat.ok()) return flat.status().WithContext(chosen);
  cfg.values_ = std::move(*flat);
  Status st = cfg.Finish(/*apply_env=*/true);
  if (!st.ok()) return st.WithContext(chosen);
  return cfg;
}

Result<std::map<std::string, std::string>> Config::ReadFlat(const fs::path& file, int depth) {
  std::ifstream in(file);
  if (!in) return Status::NotFound("configuration file '" + file.string() + "' not found");
  std::stringstream ss;
  ss << in.rdbuf();
  std::map<std::string, std::string> values;
  try {
    YAML::Node root = YAML::Load(ss.str());
    if (root.IsDefined() && !root.IsNull()) Flatten(root, "", &values);
  } catch (const YAML::Exception& e) {
    return Status::Invalid(file.string() + ": bad YAML at line " + std::to_string(e.mark.line + 1) +
                           ": " + e.msg);
  }
  auto base = values.find("extends");
  if (base == values.end()) return values;
  // `extends: ctml.yaml`: this file's keys override the base file's (relative to this file).
  if (depth >= 4) return Status::Invalid("'extends' nests deeper than 4 files", "extends");
  fs::path base_path = fs::path(base->second).is_relative() ? file.parent_path() / base->second
                                                            : fs::path(base->second);
  values.erase(base);
  CTML_ASSIGN_OR_RETURN(auto merged, ReadFlat(base_path.lexically_normal(), depth + 1));
  for (auto& [key, value] : values) merged[key] = std::move(value);
  return merged;
}

Result<Config> Config::FromYaml(const std::string& yaml, const std::string& dir, bool apply_env) {
  Config cfg;
  cfg.dir_ = dir;
  try {
    YAML::Node root = YAML::Load(yaml);
    if (root.IsDefined() && !root.IsNull()) Flatten(root, "", &cfg.values_);
  } catch (const YAML::Exception& e) {
    return Status::Invalid(std::string("bad YAML at line ") + std::to_string(e.mark.line + 1) +
                           ": " + e.msg);
  }
  CTML_RETURN_NOT_OK(cfg.Finish(apply_env));
  return cfg;
}

Status Config::Finish(bool apply_env) {
  if (apply_env) {
    for (auto& [key, value] : values_) {
      if (const char* env = std::getenv(EnvName(key).c_str())) value = env;
    }
  }
  for (auto& [key, value] : values_) {
    if (IsPathKey(key) && !value.empty() && fs::path(value).is_relative()) {
      value = (fs::path(dir_) / value).lexically_normal().string();
    }
  }
  // ${key} interpolation, a few rounds so that values may refer to interpolated values.
  // ${file:PATH} (a secret kept in a file) stays a reference, with PATH made absolute against
  // the config's directory: the store factory reads the file when it opens the URI, so the
  // secret is never part of the configuration (dumps, logs) and the file may appear later
  // (a service's start-up writes it).
  for (int round = 0; round < 4; ++round) {
    bool changed = false;
    for (auto& [key, value] : values_) {
      size_t start;
      size_t from = 0;
      while ((start = value.find("${", from)) != std::string::npos) {
        size_t end = value.find('}', start);
        if (end == std::string::npos) return Status::Invalid("unclosed ${ in value", key);
        start = value.rfind("${", end);  // innermost first: ${file:${paths.services}/pw}
        std::string ref = value.substr(start + 2, end - start - 2);
        if (ref.rfind("file:", 0) == 0) {
          fs::path file(ref.substr(5));
          if (file.empty()) return Status::Invalid("${file:} names no file", key);
          if (file.is_relative()) {
            std::string abs = (fs::path(dir_) / file).lexically_normal().string();
            value.replace(start, end - start + 1, "${file:" + abs + "}");
            end = start + abs.size() + 7;
          }
          from = end + 1;
          continue;
        }
        auto it = values_.find(ref);
        if (it == values_.end()) return Status::Invalid("unknown reference ${" + ref + "}", key);
        if (it->first == key) return Status::Invalid("value refers to itself", key);
        value.replace(start, end - start + 1, it->second);
        changed = true;
      }
    }
    if (!changed) break;
  }
  return Status::OK();
}

std::string Config::GetString(const std::string& key, const std::string& fallback) const {
  auto it = values_.find(key);
  return it == values_.end() ? fallback : it->second;
}

Result<std::string> Config::Require(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end() || it->second.empty()) {
    return Status::Invalid("missing configuration key '" + key + "' (or env " + EnvName(key) + ")",
                           key);
  }
  return it->second;
}

std::vector<std::string> Config::GetList(const std::string& key) const {
  std::vector<std::string> out;
  std::stringstream list(GetString(key));
  for (std::string item; std::getline(list, item, ',');) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

int64_t Config::GetInt(const std::string& key, int64_t fallback) const {
  auto it = values_.find(key);
  if (it == values_.end() || it->second.empty()) return fallback;
  try {
    return std::stoll(it->second);
  } catch (...) {
    return fallback;
  }
}

double Config::GetDouble(const std::string& key, double fallback) const {
  auto it = values_.find(key);
  if (it == values_.end() || it->second.empty()) return fallback;
  try {
    return std::stod(it->second);
  } catch (...) {
    return fallback;
  }
}

bool Config::GetBool(const std::string& key, bool fallback) const {
  auto it = values_.find(key);
  if (it == values_.end() || it->second.empty()) return fallback;
  const std::string& v = it->second;
  return v == "true" || v == "1" || v == "yes" || v == "on";
}

}  // namespace ctml
