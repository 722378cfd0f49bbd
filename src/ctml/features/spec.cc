#include "ctml/features/spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "ctml/core/crypto.h"

namespace ctml::features {
namespace {

// Builds "source:line: message" errors from yaml-cpp marks (0-based lines).
class Errors {
 public:
  explicit Errors(std::string source) : source_(std::move(source)) {}
  Status At(const YAML::Node& node, const std::string& msg) const {
    const YAML::Mark m = node.Mark();
    if (m.is_null()) return Status::Invalid(source_ + ": " + msg);
    return Status::Invalid(source_ + ":" + std::to_string(m.line + 1) + ": " + msg);
  }
  Status AtLine(int line, const std::string& msg) const {
    return Status::Invalid(source_ + ":" + std::to_string(line + 1) + ": " + msg);
  }
  const std::string& source() const { return source_; }

 private:
  std::string source_;
};

bool IsLowerOrDigit(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }
bool IsUpperOrDigit(char c) { return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }

bool IsIdentifier(const std::string& s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), IsLowerOrDigit);
}

bool IsTestCode(const std::string& s) {
  if (s.empty() || s.size() > 16) return false;
  return std::all_of(s.begin(), s.end(), IsUpperOrDigit);
}

// A required scalar child of a map node.
Result<std::string> Scalar(const Errors& err, const YAML::Node& map, const std::string& key) {
  const YAML::Node v = map[key];
  if (!v) return err.At(map, "missing '" + key + "'");
  if (!v.IsScalar()) return err.At(v, "'" + key + "' must be a scalar");
  return v.Scalar();
}

Status CheckKeys(const Errors& err, const YAML::Node& map, const std::set<std::string>& allowed,
                 const std::string& what) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string k = it->first.as<std::string>();
    if (!allowed.count(k)) return err.At(it->first, "unknown key '" + k + "' in " + what);
  }
  return Status::OK();
}

std::string FormatDouble(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

}  // namespace

const char* AggName(Agg agg) {
  switch (agg) {
    case Agg::kLast:
      return "last";
    case Agg::kMean:
      return "mean";
    case Agg::kMin:
      return "min";
    case Agg::kMax:
      return "max";
    case Agg::kStd:
      return "std";
    case Agg::kCount:
      return "count";
    case Agg::kSlope:
      return "slope";
    case Agg::kDelta:
      return "delta";
  }
  return "?";
}

Result<Agg> ParseAgg(const std::string& text) {
  for (Agg a : {Agg::kLast, Agg::kMean, Agg::kMin, Agg::kMax, Agg::kStd, Agg::kCount, Agg::kSlope,
                Agg::kDelta}) {
    if (text == AggName(a)) return a;
  }
  return Status::Invalid("unknown aggregation '" + text +
                         "' (expected last|mean|min|max|std|count|slope|delta)");
}

Result<int64_t> ParseDuration(const std::string& text) {
  if (text.size() < 2) return Status::Invalid("bad duration '" + text + "' (expected e.g. 24h)");
  const char unit = text.back();
  const std::string digits = text.substr(0, text.size() - 1);
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      return Status::Invalid("bad duration '" + text + "' (expected e.g. 24h)");
    }
  }
  if (digits.size() > 6) return Status::Invalid("duration '" + text + "' is too long");
  const int64_t n = std::stoll(digits);
  int64_t unit_us = 0;
  switch (unit) {
    case 'm':
      unit_us = 60LL * 1000000;
      break;
    case 'h':
      unit_us = 3600LL * 1000000;
      break;
    case 'd':
      unit_us = 86400LL * 1000000;
      break;
    case 'w':
      unit_us = 7 * 86400LL * 1000000;
      break;
    default:
      return Status::Invalid("bad duration unit in '" + text + "' (expected m, h, d or w)");
  }
  if (n <= 0) return Status::Invalid("duration '" + text + "' must be positive");
  return n * unit_us;
}

const char* CompareOpName(CompareOp op) {
  switch (op) {
    case CompareOp::kLt:
      return "<";
    case CompareOp::kLe:
      return "<=";
    case CompareOp::kGt:
      return ">";
    case CompareOp::kGe:
      return ">=";
  }
  return "?";
}

bool Compare(CompareOp op, double value, double threshold) {
  switch (op) {
    case CompareOp::kLt:
      return value < threshold;
    case CompareOp::kLe:
      return value <= threshold;
    case CompareOp::kGt:
      return value > threshold;
    case CompareOp::kGe:
      return value >= threshold;
  }
  return false;
}

Result<FeatureSpec> FeatureSpec::Load(const Config& cfg) {
  std::string path = cfg.GetString("features.spec", "config/features/vitals.yaml");
  std::filesystem::path p(path);
  if (p.is_relative() && !cfg.dir().empty()) p = std::filesystem::path(cfg.dir()) / p;
  return LoadFile(p.lexically_normal().string());
}

Result<FeatureSpec> FeatureSpec::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("feature spec not found: " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return FromYaml(ss.str(), std::filesystem::path(path).filename().string());
}

Result<FeatureSpec> FeatureSpec::FromYaml(const std::string& text, const std::string& source_name) {
  const Errors err(source_name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    return err.AtLine(e.mark.line, "YAML syntax error: " + e.msg);
  } catch (const std::exception& e) {
    return Status::Invalid(source_name + ": " + e.what());
  }
  if (!root.IsMap()) return Status::Invalid(source_name + ": the spec must be a YAML mapping");

  FeatureSpec spec;
  try {
    CTML_RETURN_NOT_OK(
        CheckKeys(err, root, {"view", "entity", "source", "features", "labels"}, "the spec"));
    CTML_ASSIGN_OR_RETURN(spec.view_, Scalar(err, root, "view"));
    CTML_ASSIGN_OR_RETURN(spec.entity_, Scalar(err, root, "entity"));
    CTML_ASSIGN_OR_RETURN(spec.source_, Scalar(err, root, "source"));
    if (!IsIdentifier(spec.view_)) {
      return err.At(root["view"], "view '" + spec.view_ + "' must be a lower-case identifier");
    }
    if (spec.source_.empty() || spec.source_.front() == '/' ||
        spec.source_.find("..") != std::string::npos) {
      return err.At(root["source"], "source must be a relative lake directory");
    }

    const YAML::Node feats = root["features"];
    if (!feats) return err.At(root, "missing 'features'");
    if (!feats.IsSequence() || feats.size() == 0) {
      return err.At(feats, "'features' must be a non-empty list");
    }
    std::set<std::string> seen;
    for (const YAML::Node& f : feats) {
      if (!f.IsMap()) {
        return err.At(f, "a feature must be a mapping {name, test_code, agg, window}");
      }
      CTML_RETURN_NOT_OK(CheckKeys(err, f, {"name", "test_code", "agg", "window"}, "a feature"));
      FeatureDef def;
      CTML_ASSIGN_OR_RETURN(def.name, Scalar(err, f, "name"));
      CTML_ASSIGN_OR_RETURN(def.test_code, Scalar(err, f, "test_code"));
      CTML_ASSIGN_OR_RETURN(std::string agg, Scalar(err, f, "agg"));
      CTML_ASSIGN_OR_RETURN(std::string window, Scalar(err, f, "window"));
      if (!IsIdentifier(def.name)) {
        return err.At(f["name"], "feature name '" + def.name + "' must match [a-z][a-z0-9_]*");
      }
      if (!seen.insert(def.name).second) {
        return err.At(f["name"], "duplicate feature name '" + def.name + "'");
      }
      if (!IsTestCode(def.test_code)) {
        return err.At(f["test_code"], "bad test_code '" + def.test_code + "'");
      }
      auto a = ParseAgg(agg);
      if (!a.ok()) return err.At(f["agg"], a.status().message());
      def.agg = *a;
      auto w = ParseDuration(window);
      if (!w.ok()) return err.At(f["window"], w.status().message());
      def.window_us = *w;
      spec.max_window_us_ = std::max(spec.max_window_us_, def.window_us);
      spec.names_.push_back(def.name);
      spec.features_.push_back(std::move(def));
    }

    if (const YAML::Node labels = root["labels"]) {
      if (!labels.IsSequence()) return err.At(labels, "'labels' must be a list");
      for (const YAML::Node& l : labels) {
        if (!l.IsMap()) return err.At(l, "a label must be a mapping");
        CTML_RETURN_NOT_OK(
            CheckKeys(err, l, {"name", "test_code", "op", "threshold", "horizon"}, "a label"));
        LabelDef def;
        CTML_ASSIGN_OR_RETURN(def.name, Scalar(err, l, "name"));
        CTML_ASSIGN_OR_RETURN(def.test_code, Scalar(err, l, "test_code"));
        CTML_ASSIGN_OR_RETURN(std::string op, Scalar(err, l, "op"));
        CTML_ASSIGN_OR_RETURN(std::string threshold, Scalar(err, l, "threshold"));
        CTML_ASSIGN_OR_RETURN(std::string horizon, Scalar(err, l, "horizon"));
        if (!IsIdentifier(def.name)) {
          return err.At(l["name"], "label name '" + def.name + "' must match [a-z][a-z0-9_]*");
        }
        if (!seen.insert(def.name).second) {
          return err.At(l["name"], "duplicate name '" + def.name + "'");
        }
        if (!IsTestCode(def.test_code)) {
          return err.At(l["test_code"], "bad test_code '" + def.test_code + "'");
        }
        if (op == "<") {
          def.op = CompareOp::kLt;
        } else if (op == "<=") {
          def.op = CompareOp::kLe;
        } else if (op == ">") {
          def.op = CompareOp::kGt;
        } else if (op == ">=") {
          def.op = CompareOp::kGe;
        } else {
          return err.At(l["op"], "unknown operator '" + op + "' (expected <, <=, > or >=)");
        }
        try {
          size_t pos = 0;
          def.threshold = std::stod(threshold, &pos);
          if (pos != threshold.size()) throw std::invalid_argument("trailing");
        } catch (const std::exception&) {
          return err.At(l["threshold"], "threshold '" + threshold + "' is not a number");
        }
        auto h = ParseDuration(horizon);
        if (!h.ok()) return err.At(l["horizon"], h.status().message());
        def.horizon_us = *h;
        spec.labels_.push_back(std::move(def));
      }
    }
  } catch (const YAML::Exception& e) {
    return err.AtLine(e.mark.line, e.msg);
  }
  spec.spec_hash_ = HexEncode(Sha256(spec.Canonical())).substr(0, 16);
  return spec;
}

const LabelDef* FeatureSpec::FindLabel(const std::string& name) const {
  for (const auto& l : labels_) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

std::string FeatureSpec::Canonical() const {
  std::string out =
      "ctml-feature-spec/1\nview=" + view_ + "\nentity=" + entity_ + "\nsource=" + source_ + "\n";
  for (const auto& f : features_) {
    out += "feature=" + f.name + "|" + f.test_code + "|" + AggName(f.agg) + "|" +
           std::to_string(f.window_us) + "\n";
  }
  return out;
}

std::string FeatureSpec::CanonicalLabel(const LabelDef& l) {
  return "label=" + l.name + "|" + l.test_code + "|" + CompareOpName(l.op) + "|" +
         FormatDouble(l.threshold) + "|" + std::to_string(l.horizon_us) + "\n";
}

}  // namespace ctml::features
