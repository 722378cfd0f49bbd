#include "ctml/manager/levels.h"

#include <array>
#include <charconv>

namespace ctml::manager {

namespace {

constexpr std::array<std::string_view, kMaxLevel + 1> kLevelTitles = {
    "infrastructure", "ingestion", "processing", "features", "ML (train + serve)"};

}  // namespace

const std::vector<ServiceRow>& ServiceTable() {
  // clang-format off
  static const std::vector<ServiceRow> kTable = {
    // level kind             name            command        config key     ready  consumes                      produces                                      description                               api
    {0, RowKind::kStore,   "event-log",    "",            "log.uri",     false, "",                           "topics, consumer groups",                    "event log",                              ""},
    {0, RowKind::kStore,   "lake",         "",            "lake.uri",    false, "",                           "bronze/ silver/ features/ datasets/ models/", "lake (Parquet)",                         ""},
    {0, RowKind::kStore,   "online-store", "",            "online.uri",  false, "",                           "feature vectors",                            "online feature store",                   ""},
    {0, RowKind::kStore,   "meta-store",   "",            "meta.uri",    false, "",                           "runs, registry, audit",                      "meta store",                             ""},
    {1, RowKind::kService, "gateway",      "gateway",     "gateway",     true , "HTTP /api/clinical, /fhir/r4", "canonical topics + clinical-alerts",       "ingestion gateway (REST, batch, FHIR R4)", "POST /api/clinical/data;POST /api/clinical/validate;POST /api/clinical/batch;POST /fhir/r4;POST /fhir/r4/Observation;GET /stats"},
    {1, RowKind::kService, "mllp",         "mllp",        "mllp",        false, "HL7 v2 ORU^R01 over MLLP",   "lab-results + clinical-alerts",              "HL7 v2 listener (MLLP on mllp.port)",    "GET /stats"},
    {2, RowKind::kService, "bronze-sink",  "bronze-sink", "bronze_sink", true , "7 raw topics",               "lake bronze/ (every event type)",             "bronze sink (raw envelopes to Parquet)", ""},
    {2, RowKind::kService, "process",      "process",     "process",     true , "7 raw topics",               "lake silver/ + silver.<table>",              "standardize, dedupe, quarantine",        ""},
    {3, RowKind::kService, "features",     "features",    "features",    true , "7 silver.<table> topics",    "online store + lake features/",              "feature materializer",                   ""},
    {4, RowKind::kService, "serve",        "serve",       "serve",       true,  "online store, lake models/", "HTTP /v1/predict",                           "model serving",                          "POST /v1/predict;GET /ready;POST /model/reload"},
    {4, RowKind::kService, "registry",     "registry serve", "registry", true, "meta store, lake models/", "HTTP /api/v1 (registry API)",              "model registry + tracking API",          "GET /api/v1/models;GET /api/v1/models/{name};GET /api/v1/models/{name}/versions/{v};GET /api/v1/models/{name}/versions/{v}/card;GET /api/v1/models/{name}/compare;POST /api/v1/models/{name}/aliases/{alias};GET /api/v1/runs;GET /api/v1/runs/{run_id};GET /ready"},
    {4, RowKind::kJob,     "generate",     "generate",    "demo",        false, "demo.* config",              "gateway (HTTP)",                             "demo data generator (one-shot)",         ""},
    {4, RowKind::kJob,     "train",        "train",       "train",       false, "lake silver/ (PIT join)",    "lake models/ + registry",                     "model training (one-shot)",              ""},
  };
  // clang-format on
  return kTable;
}

const std::vector<std::string>& LakeFolders() {
  static const std::vector<std::string> kFolders = {
      "bronze", "silver", "quarantine", "duplicates", "features", "datasets", "models"};
  return kFolders;
}

const std::vector<DrainCheck>& DrainChecks() {
  static const std::vector<DrainCheck> kChecks = {
      {"bronze-sink", "patient-vitals"},
      {"bronze-sink", "lab-results"},
      {"bronze-sink", "adverse-events"},
      {"bronze-sink", "medications"},
      {"bronze-sink", "demographics"},
      {"bronze-sink", "exposure"},
      {"bronze-sink", "disposition"},
      {"process", "patient-vitals"},
      {"process", "lab-results"},
      {"process", "adverse-events"},
      {"process", "medications"},
      {"process", "demographics"},
      {"process", "exposure"},
      {"process", "disposition"},
      {"features", "silver.subjects"},
      {"features", "silver.vitals"},
      {"features", "silver.labs"},
      {"features", "silver.adverse_events"},
      {"features", "silver.medications"},
      {"features", "silver.exposure"},
      {"features", "silver.disposition"},
  };
  return kChecks;
}

std::string_view LevelTitle(int level) {
  if (level < kMinLevel || level > kMaxLevel) return "";
  return kLevelTitles[static_cast<size_t>(level)];
}

std::vector<ServiceRow> RowsInLevels(int from, int to, std::optional<RowKind> kind) {
  std::vector<ServiceRow> out;
  for (const auto& row : ServiceTable()) {
    if (row.level < from || row.level > to) continue;
    if (kind && row.kind != *kind) continue;
    out.push_back(row);
  }
  return out;
}

const ServiceRow* FindRow(std::string_view name) {
  for (const auto& row : ServiceTable()) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

std::optional<int> ParseLevel(std::string_view text) {
  if (text == "all") return kMaxLevel;
  int level = -1;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), level);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  if (level < kMinLevel || level > kMaxLevel) return std::nullopt;
  return level;
}

}  // namespace ctml::manager
