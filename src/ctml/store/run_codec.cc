#include "ctml/store/run_codec.h"

#include <cmath>
#include <limits>
#include <map>

#include "ctml/core/json.h"

namespace ctml::store::run_codec {
namespace {

// nlohmann::json throws on invalid UTF-8 when dumping: turned into Invalid naming the field.
Result<std::string> Dump(const Json& j, const char* field) {
  try {
    return j.dump();
  } catch (const std::exception& e) {
    return Status::Invalid(std::string("run ") + field + " are not valid UTF-8: " + e.what(),
                           field);
  }
}

Json MetricsJson(const std::map<std::string, double>& metrics) {
  Json j = Json::object();
  for (const auto& [k, v] : metrics) {
    if (std::isnan(v)) {
      j[k] = nullptr;
    } else if (std::isinf(v)) {
      j[k] = v > 0 ? "inf" : "-inf";
    } else {
      j[k] = v;
    }
  }
  return j;
}

Result<std::map<std::string, std::string>> DecodeStrings(const std::string& text) {
  CTML_ASSIGN_OR_RETURN(Json j, ParseJson(text, 4));
  if (!j.is_object()) return Status::Internal("meta store: corrupt string map");
  std::map<std::string, std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

Result<std::map<std::string, double>> DecodeMetrics(const std::string& text) {
  CTML_ASSIGN_OR_RETURN(Json j, ParseJson(text, 4));
  if (!j.is_object()) return Status::Internal("meta store: corrupt metrics map");
  std::map<std::string, double> out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const Json& v = it.value();
    if (v.is_number()) {
      out[it.key()] = v.get<double>();
    } else if (v.is_string()) {
      out[it.key()] = v.get<std::string>() == "-inf" ? -std::numeric_limits<double>::infinity()
                                                     : std::numeric_limits<double>::infinity();
    } else {
      out[it.key()] = std::numeric_limits<double>::quiet_NaN();
    }
  }
  return out;
}

}  // namespace

Result<EncodedRun> Encode(const RunRecord& run) {
  EncodedRun out;
  CTML_ASSIGN_OR_RETURN(out.params, Dump(Json(run.params), "params"));
  CTML_ASSIGN_OR_RETURN(out.metrics, Dump(MetricsJson(run.metrics), "metrics"));
  CTML_ASSIGN_OR_RETURN(out.tags, Dump(Json(run.tags), "tags"));
  return out;
}

Status Decode(const std::string& params, const std::string& metrics, const std::string& tags,
              RunRecord* run) {
  CTML_ASSIGN_OR_RETURN(run->params, DecodeStrings(params));
  CTML_ASSIGN_OR_RETURN(run->metrics, DecodeMetrics(metrics));
  CTML_ASSIGN_OR_RETURN(run->tags, DecodeStrings(tags));
  return Status::OK();
}

}  // namespace ctml::store::run_codec
