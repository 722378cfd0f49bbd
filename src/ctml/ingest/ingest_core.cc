#include "ctml/ingest/ingest_core.h"

#include <cmath>
#include <map>

#include "ctml/core/json.h"
#include "ctml/core/log.h"
#include "ctml/core/metrics.h"
#include "ctml/core/time.h"
#include "ctml/store/meta_store.h"

namespace ctml::ingest {
namespace {

// Critical-vital rules: the measurement's test (in any of the three code systems) and the
// bounds outside which a clinician should look now. Units: the ctml/SDTM standard ones
// (temperature in C; a Fahrenheit unit is converted first).
struct CriticalVital {
  const char* name;
  std::initializer_list<const char*> tests;
  double low;   // alert when value < low
  double high;  // alert when value >= high
};
const CriticalVital kCriticalVitals[] = {
    {"heart rate", {"heart_rate", "PULSE", "HR", "8867-4"}, 40, 130},
    {"systolic blood pressure", {"systolic_bp", "SYSBP", "8480-6"}, 80, 180},
    {"diastolic blood pressure", {"diastolic_bp", "DIABP", "8462-4"}, -1e9, 120},
    {"temperature", {"temperature_celsius", "TEMP", "8310-5"}, 35, 39.5},
    {"SpO2", {"oxygen_saturation", "OXYSAT", "SPO2", "59408-5", "2708-6"}, 90, 1e9},
    {"respiratory rate", {"respiratory_rate", "RESP", "9279-1"}, 8, 30},
};

// A string field, "" when absent, null or not a string (payload fields may be null).
std::string Str(const Json& p, const char* key) {
  auto it = p.find(key);
  return it != p.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string Num(double v) {
  std::string s = Json(v).dump();
  return s;
}

std::optional<std::string> VitalAlert(const Json& p) {
  auto m = p.find("measurements");
  if (m == p.end() || !m->is_array()) return std::nullopt;
  for (const Json& x : *m) {
    if (!x.is_object() || !x.contains("value") || !x["value"].is_number()) continue;
    std::string test = Str(x, "test");
    double v = x["value"].get<double>();
    for (const CriticalVital& c : kCriticalVitals) {
      bool match = false;
      for (const char* t : c.tests) match = match || test == t;
      if (!match) continue;
      std::string unit = Str(x, "unit");
      if (c.name == std::string("temperature") && (unit.find('F') != std::string::npos)) {
        v = (v - 32) * 5 / 9;
      }
      if (v < c.low)
        return "critical vital: " + std::string(c.name) + " " + Num(v) + " < " + Num(c.low);
      if (v >= c.high) {
        return "critical vital: " + std::string(c.name) + " " + Num(v) + " >= " + Num(c.high);
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> LabAlert(const Json& p) {
  std::string flag = Str(p, "abnormal_flag");
  for (const char* f : {"HH", "LL", "AA", "CRITICAL", "PANIC"}) {
    if (flag == f) return "severe lab: abnormal flag " + flag;
  }
  auto num = [&](const char* k) -> std::optional<double> {
    auto it = p.find(k);
    if (it == p.end() || !it->is_number()) return std::nullopt;
    return it->get<double>();
  };
  auto v = num("value"), lo = num("ref_low"), hi = num("ref_high");
  if (v && hi && *hi > 0 && *v >= 3 * *hi) return "severe lab: value >= 3x upper reference limit";
  if (v && lo && *lo > 0 && *v <= 0.5 * *lo)
    return "severe lab: value <= 0.5x lower reference limit";
  return std::nullopt;
}

std::optional<std::string> AeAlert(const Json& p) {
  if (auto it = p.find("serious"); it != p.end() && it->is_boolean() && it->get<bool>()) {
    return "serious adverse event";
  }
  if (p.contains("grade") && p["grade"].is_number() && p["grade"].get<double>() >= 3) {
    return "adverse event grade " + p["grade"].dump();
  }
  if (Str(p, "severity") == "SEVERE") return "severe adverse event";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> AlertReason(const CanonicalEvent& ev) {
  auto p = ParseJson(ev.payload_json);
  if (!p.ok() || !p->is_object()) return std::nullopt;
  try {
    if (ev.event_type == "vital_signs") return VitalAlert(*p);
    if (ev.event_type == "lab_result") return LabAlert(*p);
    if (ev.event_type == "adverse_event") return AeAlert(*p);
  } catch (const Json::exception&) {
    return std::nullopt;  // a payload field of an unexpected type: no alert, never a crash
  }
  return std::nullopt;
}

IngestCore::IngestCore(store::EventLog& log, store::MetaStore* meta) : log_(log), meta_(meta) {}

Result<SubmitResult> IngestCore::Submit(const std::vector<CanonicalEvent>& events,
                                        const BatchInfo& info) {
  static auto& appended =
      Metrics().Counter("ctml_ingest_events_total", "Events landed on the EventLog", {});
  static auto& alerts_total =
      Metrics().Counter("ctml_ingest_alerts_total", "Clinical alerts raised", {});
  SubmitResult out;
  out.positions.resize(events.size());
  // Group by topic, keeping order within each topic.
  std::map<std::string, std::vector<size_t>> by_topic;
  for (size_t i = 0; i < events.size(); ++i) by_topic[TopicFor(events[i].event_type)].push_back(i);
  Json topics = Json::object();
  for (const auto& [topic, idx] : by_topic) {
    std::vector<std::pair<std::string, std::string>> kvs;
    kvs.reserve(idx.size());
    for (size_t i : idx) kvs.emplace_back(events[i].subject_key, events[i].ToJson());
    CTML_ASSIGN_OR_RETURN(auto pos, log_.AppendBatch(topic, kvs));
    if (pos.size() != idx.size()) return Status::Internal("event log returned a short batch");
    for (size_t k = 0; k < idx.size(); ++k) out.positions[idx[k]] = pos[k];
    topics[topic] = {{"count", idx.size()},
                     {"partition_offsets",
                      {{"first", {pos.front().partition, pos.front().offset}},
                       {"last", {pos.back().partition, pos.back().offset}}}}};
  }
  std::vector<std::pair<std::string, std::string>> alerts;
  for (const CanonicalEvent& ev : events) {
    if (auto reason = AlertReason(ev)) {
      Json a = {{"event_id", ev.event_id},
                {"event_type", ev.event_type},
                {"subject_key", ev.subject_key},
                {"study_id", ev.study_id},
                {"site_id", ev.site_id},
                {"event_time", FormatIso8601(ev.event_time_us)},
                {"source", ev.source},
                {"reason", *reason},
                {"received_at", FormatIso8601(ev.received_at_us)}};
      alerts.emplace_back(ev.subject_key, a.dump());
    }
  }
  if (!alerts.empty()) {
    CTML_RETURN_NOT_OK(log_.AppendBatch(kAlertsTopic, alerts).status());
    out.alerts = static_cast<int64_t>(alerts.size());
    alerts_total.Inc(static_cast<double>(alerts.size()));
  }
  appended.Inc(static_cast<double>(events.size()));
  if (meta_ != nullptr) {
    Json detail = {{"source", info.source},     {"accepted", events.size()},
                   {"rejected", info.rejected}, {"reject_reasons", info.reject_reasons},
                   {"alerts", out.alerts},      {"topics", topics}};
    if (!events.empty()) {
      detail["first_event_id"] = events.front().event_id;
      detail["last_event_id"] = events.back().event_id;
    }
    CTML_RETURN_NOT_OK(meta_
                           ->AppendAudit(info.actor, "ingest.batch",
                                         info.source + ":" + info.object, detail.dump())
                           .status());
  }
  return out;
}

Status IngestCore::RecordRejection(const BatchInfo& info) {
  if (meta_ == nullptr) return Status::OK();
  Json detail = {{"source", info.source},
                 {"accepted", 0},
                 {"rejected", info.rejected},
                 {"reject_reasons", info.reject_reasons}};
  return meta_
      ->AppendAudit(info.actor, "ingest.reject", info.source + ":" + info.object, detail.dump())
      .status();
}

}  // namespace ctml::ingest
