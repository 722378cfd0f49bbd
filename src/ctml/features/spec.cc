#include "ctml/features/spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "ctml/core/crypto.h"
#include "ctml/features/engine.h"
#include "ctml/process/silver_rows.h"
#include "ctml/process/standards.h"

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

constexpr std::pair<Agg, const char*> kAggNames[] = {
    {Agg::kLast, "last"},
    {Agg::kMean, "mean"},
    {Agg::kMin, "min"},
    {Agg::kMax, "max"},
    {Agg::kStd, "std"},
    {Agg::kCount, "count"},
    {Agg::kSum, "sum"},
    {Agg::kSlope, "slope"},
    {Agg::kDelta, "delta"},
    {Agg::kDeltaBaseline, "delta_bl"},
    {Agg::kDaysSinceLast, "days_since_last"},
    {Agg::kDaysSinceFirst, "days_since_first"},
    {Agg::kDoseTotal, "dose_total"},
};
}  // namespace

const char* AggName(Agg agg) {
  for (const auto& [a, name] : kAggNames) {
    if (a == agg) return name;
  }
  return "?";
}

Result<Agg> ParseAgg(const std::string& text) {
  std::string known;
  for (const auto& [a, name] : kAggNames) {
    if (text == name) return a;
    known += (known.empty() ? "" : "|") + std::string(name);
  }
  return Status::Invalid("unknown aggregation '" + text + "' (expected " + known + ")");
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

// Turns the YAML into a FeatureSpec: expands feature templates, registers the tables, columns
// and series they read, and checks every name against the Silver schemas.
class SpecParser {
 public:
  SpecParser(FeatureSpec* spec, const Errors& err, const process::Standards* standards)
      : spec_(spec), err_(err), standards_(standards) {}

  Status Parse(const YAML::Node& root) {
    CTML_RETURN_NOT_OK(
        CheckKeys(err_, root, {"name", "entity", "description", "baseline", "features", "labels"},
                  "the spec"));
    CTML_ASSIGN_OR_RETURN(spec_->view_, Scalar(err_, root, "name"));
    CTML_ASSIGN_OR_RETURN(spec_->entity_, Scalar(err_, root, "entity"));
    if (!IsIdentifier(spec_->view_)) {
      return err_.At(root["name"], "name '" + spec_->view_ + "' must be a lower-case identifier");
    }
    if (spec_->entity_ != "subject") {
      return err_.At(root["entity"], "entity must be 'subject' (the only entity ctml knows)");
    }
    if (const YAML::Node b = root["baseline"]) {
      if (!b.IsMap()) return err_.At(b, "'baseline' must be a mapping {table, where?}");
      CTML_RETURN_NOT_OK(CheckKeys(err_, b, {"table", "test", "where", "where_any"}, "baseline"));
      std::string test;
      if (b["test"]) {
        CTML_ASSIGN_OR_RETURN(test, Scalar(err_, b, "test"));
      }
      CTML_ASSIGN_OR_RETURN(spec_->baseline_series_, SeriesOf(b, test, Agg::kCount));
      spec_
          ->tables_[static_cast<size_t>(
              spec_->series_[static_cast<size_t>(spec_->baseline_series_)].table)]
          .features = true;
    }
    const YAML::Node feats = root["features"];
    if (!feats) return err_.At(root, "missing 'features'");
    if (!feats.IsSequence() || feats.size() == 0) {
      return err_.At(feats, "'features' must be a non-empty list");
    }
    for (const YAML::Node& f : feats) CTML_RETURN_NOT_OK(Feature(f));
    if (const YAML::Node labels = root["labels"]) {
      if (!labels.IsSequence()) return err_.At(labels, "'labels' must be a list");
      for (const YAML::Node& l : labels) CTML_RETURN_NOT_OK(Label(l));
    }
    return Status::OK();
  }

 private:
  // One entry of `features`: a single feature, or a template whose list-valued `test`, `agg`
  // and `window` expand into every combination ({test}, {agg}, {window} in the name).
  Status Feature(const YAML::Node& f) {
    if (!f.IsMap())
      return err_.At(f, "a feature must be a mapping {name, table, agg, window, ...}");
    CTML_RETURN_NOT_OK(CheckKeys(err_, f,
                                 {"name", "table", "test", "where", "where_any", "value",
                                  "indicator", "end", "agg", "window", "description"},
                                 "a feature"));
    CTML_ASSIGN_OR_RETURN(std::string name, Scalar(err_, f, "name"));
    CTML_ASSIGN_OR_RETURN(auto tests, List(f, "test", false));
    CTML_ASSIGN_OR_RETURN(auto aggs, List(f, "agg", true));
    CTML_ASSIGN_OR_RETURN(auto windows, List(f, "window", true));
    for (const auto& [key, n] : {std::pair<const char*, size_t>{"test", tests.size()},
                                 {"agg", aggs.size()},
                                 {"window", windows.size()}}) {
      const std::string ph = std::string("{") + key + "}";
      if (n > 1 && name.find(ph) == std::string::npos) {
        return err_.At(f["name"],
                       "name '" + name + "' must contain " + ph + " when '" + key + "' is a list");
      }
    }
    if (tests.empty()) {
      if (name.find("{test}") != std::string::npos) {
        return err_.At(f["name"], "name '" + name + "' uses {test} but the feature has no 'test'");
      }
      tests.push_back("");
    }
    for (const std::string& test : tests) {
      for (const std::string& agg_text : aggs) {
        for (const std::string& window_text : windows) {
          std::string full = name;
          Replace(&full, "{test}", Lower(test));
          Replace(&full, "{agg}", agg_text);
          Replace(&full, "{window}", window_text);
          FeatureDef def;
          def.name = full;
          if (!IsIdentifier(def.name)) {
            return err_.At(f["name"], "feature name '" + def.name + "' must match [a-z][a-z0-9_]*");
          }
          if (!seen_.insert(def.name).second) {
            return err_.At(f["name"], "duplicate feature name '" + def.name + "'");
          }
          for (const char* reserved : {"subject_key", "as_of", "spec_hash", "label", "date"}) {
            if (def.name == reserved) {
              return err_.At(f["name"], "'" + def.name + "' is a column of every feature table");
            }
          }
          auto a = ParseAgg(agg_text);
          if (!a.ok()) return err_.At(f["agg"], a.status().message());
          def.agg = *a;
          if (window_text == "bl") {
            def.window = WindowKind::kBaseline;
          } else if (window_text == "all") {
            def.window = WindowKind::kAll;
          } else {
            auto w = ParseDuration(window_text);
            if (!w.ok()) {
              return err_.At(f["window"],
                             w.status().message() + " (or 'bl' since baseline, 'all')");
            }
            def.window_us = *w;
          }
          CTML_ASSIGN_OR_RETURN(def.series, SeriesOf(f, test, def.agg));
          spec_->tables_[static_cast<size_t>(spec_->series_[static_cast<size_t>(def.series)].table)]
              .features = true;
          spec_->names_.push_back(def.name);
          spec_->features_.push_back(std::move(def));
        }
      }
    }
    return Status::OK();
  }

  Status Label(const YAML::Node& l) {
    if (!l.IsMap()) return err_.At(l, "a label must be a mapping {name, table, horizon, ...}");
    CTML_RETURN_NOT_OK(CheckKeys(err_, l,
                                 {"name", "table", "test", "where", "where_any", "value", "op",
                                  "threshold", "horizon", "terminal", "description"},
                                 "a label"));
    LabelDef def;
    CTML_ASSIGN_OR_RETURN(def.name, Scalar(err_, l, "name"));
    if (!IsIdentifier(def.name)) {
      return err_.At(l["name"], "label name '" + def.name + "' must match [a-z][a-z0-9_]*");
    }
    if (!seen_.insert(def.name).second) {
      return err_.At(l["name"], "duplicate name '" + def.name + "'");
    }
    std::string test;
    if (l["test"]) {
      CTML_ASSIGN_OR_RETURN(test, Scalar(err_, l, "test"));
    }
    if (l["op"] || l["threshold"]) {
      CTML_ASSIGN_OR_RETURN(std::string op, Scalar(err_, l, "op"));
      CTML_ASSIGN_OR_RETURN(std::string threshold, Scalar(err_, l, "threshold"));
      def.has_threshold = true;
      if (op == "<") {
        def.op = CompareOp::kLt;
      } else if (op == "<=") {
        def.op = CompareOp::kLe;
      } else if (op == ">") {
        def.op = CompareOp::kGt;
      } else if (op == ">=") {
        def.op = CompareOp::kGe;
      } else {
        return err_.At(l["op"], "unknown operator '" + op + "' (expected <, <=, > or >=)");
      }
      try {
        size_t pos = 0;
        def.threshold = std::stod(threshold, &pos);
        if (pos != threshold.size()) throw std::invalid_argument("trailing");
      } catch (const std::exception&) {
        return err_.At(l["threshold"], "threshold '" + threshold + "' is not a number");
      }
    }
    CTML_ASSIGN_OR_RETURN(def.series,
                          SeriesOf(l, test, def.has_threshold ? Agg::kLast : Agg::kCount));
    CTML_ASSIGN_OR_RETURN(std::string horizon, Scalar(err_, l, "horizon"));
    auto h = ParseDuration(horizon);
    if (!h.ok()) return err_.At(l["horizon"], h.status().message());
    def.horizon_us = *h;
    if (const YAML::Node t = l["terminal"]) {
      if (!t.IsScalar() || (t.Scalar() != "true" && t.Scalar() != "false")) {
        return err_.At(t, "'terminal' must be true or false");
      }
      def.terminal = t.Scalar() == "true";
    }
    if (l["description"]) {
      CTML_ASSIGN_OR_RETURN(def.description, Scalar(err_, l, "description"));
    }
    spec_->labels_.push_back(std::move(def));
    return Status::OK();
  }

  // The series read by `node` (table, test, where, where_any, value, indicator, end) for `agg`;
  // shared with every other feature that reads the same series.
  Result<int> SeriesOf(const YAML::Node& node, const std::string& test, Agg agg) {
    CTML_ASSIGN_OR_RETURN(std::string table, Scalar(err_, node, "table"));
    const process::TableSchema* schema = nullptr;
    for (const auto& s : process::SilverSchemas()) {
      if (s.name == table) schema = &s;
    }
    if (schema == nullptr) {
      std::string known;
      for (const auto& s : process::SilverSchemas()) known += (known.empty() ? "" : ", ") + s.name;
      return err_.At(node["table"], "unknown table '" + table + "' (Silver tables: " + known + ")");
    }
    SeriesDef sd;
    sd.table = TableIndex(table);
    std::string canonical = "table=" + table;

    auto column = [&](const YAML::Node& at, const std::string& col) -> Result<int> {
      const int c = schema->Column(col);
      if (c < 0) return err_.At(at, "table '" + table + "' has no column '" + col + "'");
      if (schema->columns[static_cast<size_t>(c)].type == process::ColumnType::kTimestampUs) {
        return err_.At(at, "column '" + col + "' is a timestamp: windows already use event_time");
      }
      auto& cols = spec_->tables_[static_cast<size_t>(sd.table)].columns;
      auto it = std::find(cols.begin(), cols.end(), col);
      if (it != cols.end()) return static_cast<int>(it - cols.begin());
      cols.push_back(col);
      return static_cast<int>(cols.size() - 1);
    };
    // A where value as the engine compares it (engine.h Cell): booleans true/false, numbers
    // without a trailing fraction when integral, text as written.
    auto normalize = [&](const YAML::Node& at, const std::string& col,
                         const std::string& v) -> Result<std::string> {
      const auto type = schema->columns[static_cast<size_t>(schema->Column(col))].type;
      if (type == process::ColumnType::kBool) {
        std::string l = Lower(v);
        if (l == "true" || l == "yes") return std::string("true");
        if (l == "false" || l == "no") return std::string("false");
        return err_.At(at,
                       "column '" + col + "' is boolean: expected true or false, not '" + v + "'");
      }
      // Silver's enumerated text columns (docs/data/silver.md), and test codes against the
      // standardization tables: a value that can never match is an error, not a silent NaN.
      static const std::map<std::pair<std::string, std::string>, std::set<std::string>> kEnums = {
          {{"adverse_events", "severity"}, {"MILD", "MODERATE", "SEVERE"}},
          {{"labs", "range_flag"}, {"LOW", "NORMAL", "HIGH", "ABNORMAL"}},
      };
      if (auto e = kEnums.find({table, col}); e != kEnums.end() && !e->second.count(v)) {
        std::string known;
        for (const auto& k : e->second) known += (known.empty() ? "" : ", ") + k;
        return err_.At(at,
                       "'" + v + "' is not a value of " + table + "." + col + " (" + known + ")");
      }
      if (col == "test_code" && standards_ != nullptr) {
        const char* domain = table == "labs" ? "LB" : "VS";
        if (standards_->ByCode(domain, v) == nullptr) {
          return err_.At(at, "unknown " + std::string(domain) + " test code '" + v +
                                 "' (the codes are in the standards tables, tests.csv)");
        }
      }
      if (type == process::ColumnType::kDouble || type == process::ColumnType::kInt64 ||
          type == process::ColumnType::kInt32) {
        try {
          size_t pos = 0;
          const double d = std::stod(v, &pos);
          if (pos != v.size()) throw std::invalid_argument("trailing");
          return Cell::Number(d).text;
        } catch (const std::exception&) {
          return err_.At(at, "column '" + col + "' is numeric: '" + v + "' is not a number");
        }
      }
      return v;
    };
    auto conditions = [&](const YAML::Node& map) -> Result<std::vector<Condition>> {
      if (!map.IsMap()) return err_.At(map, "'where' must be a mapping {column: value | [values]}");
      std::vector<Condition> out;
      for (auto it = map.begin(); it != map.end(); ++it) {
        Condition c;
        const std::string col = it->first.as<std::string>();
        CTML_ASSIGN_OR_RETURN(c.column, column(it->first, col));
        if (it->second.IsScalar()) {
          CTML_ASSIGN_OR_RETURN(std::string v, normalize(it->second, col, it->second.Scalar()));
          c.values.push_back(std::move(v));
        } else if (it->second.IsSequence() && it->second.size() > 0) {
          for (const auto& v : it->second) {
            if (!v.IsScalar()) return err_.At(v, "a where value must be a scalar");
            CTML_ASSIGN_OR_RETURN(std::string n, normalize(v, col, v.Scalar()));
            c.values.push_back(std::move(n));
          }
        } else {
          return err_.At(it->second, "a where value must be a scalar or a non-empty list");
        }
        out.push_back(std::move(c));
      }
      return out;
    };

    std::vector<Condition> common;
    if (!test.empty()) {
      if (!IsTestCode(test)) return err_.At(node["test"], "bad test code '" + test + "'");
      Condition c;
      CTML_ASSIGN_OR_RETURN(c.column, column(node["test"], "test_code"));
      CTML_ASSIGN_OR_RETURN(std::string code, normalize(node["test"], "test_code", test));
      c.values = {code};
      common.push_back(std::move(c));
    }
    if (const YAML::Node w = node["where"]) {
      CTML_ASSIGN_OR_RETURN(auto more, conditions(w));
      common.insert(common.end(), more.begin(), more.end());
    }
    if (const YAML::Node any = node["where_any"]) {
      if (!any.IsSequence() || any.size() == 0) {
        return err_.At(any, "'where_any' must be a non-empty list of mappings");
      }
      for (const YAML::Node& alt : any) {
        CTML_ASSIGN_OR_RETURN(auto conds, conditions(alt));
        conds.insert(conds.begin(), common.begin(), common.end());
        sd.any_of.push_back(std::move(conds));
      }
    } else if (!common.empty()) {
      sd.any_of.push_back(std::move(common));
    }
    // The canonical text does not depend on the order of keys, values or alternatives.
    const auto& cols = spec_->tables_[static_cast<size_t>(sd.table)].columns;
    std::set<std::string> alts;
    for (const auto& alt : sd.any_of) {
      std::set<std::string> conds;
      for (const auto& c : alt) {
        std::set<std::string> values(c.values.begin(), c.values.end());
        std::string text = cols[static_cast<size_t>(c.column)] + "=";
        for (const auto& v : values) text += v + ",";
        conds.insert(text);
      }
      std::string text = "|any";
      for (const auto& c : conds) text += "&" + c;
      alts.insert(text);
    }
    for (const auto& a : alts) canonical += a;

    const bool needs_value =
        agg != Agg::kCount && agg != Agg::kDaysSinceLast && agg != Agg::kDaysSinceFirst;
    std::string value_col;
    if (node["value"]) {
      CTML_ASSIGN_OR_RETURN(value_col, Scalar(err_, node, "value"));
    } else if (needs_value && schema->Column("value") >= 0) {
      value_col = "value";
    }
    if (node["indicator"]) {
      if (value_col.empty())
        return err_.At(node["indicator"], "'indicator' needs 'value' (the column)");
      CTML_ASSIGN_OR_RETURN(std::string ind, Scalar(err_, node, "indicator"));
      if (schema->Column(value_col) < 0) {
        return err_.At(node["value"], "table '" + table + "' has no column '" + value_col + "'");
      }
      CTML_ASSIGN_OR_RETURN(sd.indicator, normalize(node["indicator"], value_col, ind));
    }
    if (!value_col.empty()) {
      const YAML::Node at = node["value"] ? node["value"] : node;
      CTML_ASSIGN_OR_RETURN(sd.value_column, column(at, value_col));
      const auto type = schema->columns[static_cast<size_t>(schema->Column(value_col))].type;
      if (sd.indicator.empty() && type != process::ColumnType::kDouble &&
          type != process::ColumnType::kInt64 && type != process::ColumnType::kInt32 &&
          type != process::ColumnType::kBool) {
        return err_.At(at, "column '" + value_col + "' of '" + table +
                               "' is not numeric (use 'indicator' to test a text value)");
      }
      canonical += "|value=" + value_col + "|indicator=" + sd.indicator;
    } else if (needs_value) {
      return err_.At(node, std::string("aggregation '") + AggName(agg) +
                               "' needs 'value' (a numeric column of '" + table + "')");
    }
    if (agg == Agg::kDoseTotal || node["end"]) {
      if (!node["end"]) return err_.At(node, "'dose_total' needs 'end' (the end date column)");
      CTML_ASSIGN_OR_RETURN(std::string end_col, Scalar(err_, node, "end"));
      CTML_ASSIGN_OR_RETURN(sd.end_column, column(node["end"], end_col));
      canonical += "|end=" + end_col;
    }
    sd.canonical = canonical;
    for (size_t i = 0; i < spec_->series_.size(); ++i) {
      if (spec_->series_[i].canonical == sd.canonical) return static_cast<int>(i);
    }
    spec_->series_.push_back(std::move(sd));
    return static_cast<int>(spec_->series_.size() - 1);
  }

  int TableIndex(const std::string& table) {
    const int i = spec_->TableIndex(table);
    if (i >= 0) return i;
    spec_->tables_.push_back({table, {}});
    return static_cast<int>(spec_->tables_.size() - 1);
  }

  // A scalar or a list of scalars; `required` for a missing key.
  Result<std::vector<std::string>> List(const YAML::Node& map, const std::string& key,
                                        bool required) {
    const YAML::Node v = map[key];
    if (!v) {
      if (required) return err_.At(map, "missing '" + key + "'");
      return std::vector<std::string>{};
    }
    std::vector<std::string> out;
    if (v.IsScalar()) {
      out.push_back(v.Scalar());
    } else if (v.IsSequence() && v.size() > 0) {
      for (const auto& e : v) {
        if (!e.IsScalar()) return err_.At(e, "'" + key + "' entries must be scalars");
        out.push_back(e.Scalar());
      }
    } else {
      return err_.At(v, "'" + key + "' must be a scalar or a non-empty list");
    }
    return out;
  }

  static std::string Lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  static void Replace(std::string* s, const std::string& from, const std::string& to) {
    for (size_t p = s->find(from); p != std::string::npos; p = s->find(from, p + to.size())) {
      s->replace(p, from.size(), to);
    }
  }

  FeatureSpec* spec_;
  const Errors& err_;
  const process::Standards* standards_;  // nullptr: test codes are not checked
  std::set<std::string> seen_;
};

Result<FeatureSpec> FeatureSpec::Load(const Config& cfg) {
  auto resolve = [&](const std::string& path) {
    std::filesystem::path p(path);
    if (p.is_relative() && !cfg.dir().empty()) p = std::filesystem::path(cfg.dir()) / p;
    return p.lexically_normal().string();
  };
  // Test codes are checked against the same tables Level 2 standardizes with.
  CTML_ASSIGN_OR_RETURN(auto standards, process::Standards::Load(resolve(cfg.GetString(
                                            "process.standards_dir", "config/standards"))));
  return LoadFile(resolve(cfg.GetString("features.spec", "config/features/clinical.yaml")),
                  &standards);
}

Result<FeatureSpec> FeatureSpec::LoadFile(const std::string& path,
                                          const process::Standards* standards) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("feature spec not found: " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return FromYaml(ss.str(), std::filesystem::path(path).filename().string(), standards);
}

Result<FeatureSpec> FeatureSpec::FromYaml(const std::string& text, const std::string& source_name,
                                          const process::Standards* standards) {
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
    SpecParser parser(&spec, err, standards);
    CTML_RETURN_NOT_OK(parser.Parse(root));
  } catch (const YAML::Exception& e) {
    return err.AtLine(e.mark.line, e.msg);
  }
  spec.spec_hash_ = HexEncode(Sha256(spec.Canonical())).substr(0, 16);
  return spec;
}

int FeatureSpec::TableIndex(const std::string& table) const {
  for (size_t i = 0; i < tables_.size(); ++i) {
    if (tables_[i].name == table) return static_cast<int>(i);
  }
  return -1;
}

const LabelDef* FeatureSpec::FindLabel(const std::string& name) const {
  for (const auto& l : labels_) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

std::string FeatureSpec::Canonical() const {
  std::string out = "ctml-feature-spec/2\nname=" + view_ + "\nentity=" + entity_ + "\n";
  if (baseline_series_ >= 0) {
    out += "baseline=" + series_[static_cast<size_t>(baseline_series_)].canonical + "\n";
  }
  for (const auto& f : features_) {
    out += "feature=" + f.name + "|" + series_[static_cast<size_t>(f.series)].canonical + "|" +
           AggName(f.agg) + "|" + std::to_string(static_cast<int>(f.window)) + "|" +
           std::to_string(f.window_us) + "\n";
  }
  return out;
}

std::string FeatureSpec::CanonicalLabel(const LabelDef& l) const {
  return "label=" + l.name + "|" + series_[static_cast<size_t>(l.series)].canonical + "|" +
         (l.has_threshold ? std::string(CompareOpName(l.op)) + FormatDouble(l.threshold) : "") +
         "|" + std::to_string(l.horizon_us) + "|terminal=" + (l.terminal ? "1" : "0") + "\n";
}

}  // namespace ctml::features
