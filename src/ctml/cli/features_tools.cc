// The Level 3 utilities under `ctml features` (pipeline-manager.sh --level 3 forwards its
// --compare-stores, --query-offline-features, --query-online-features,
// --monitor-feature-pipeline and --inspect-feature-volume flags here):
//   ctml features compare-stores [--date D] [--json]       exit 1 unless online == offline exactly
//   ctml features query-offline [--date D] [--patient ID | --subject KEY] [--limit N] [--json]
//   ctml features query-online PATIENT_ID [--json]          (pseudonymized before the lookup)
//   ctml features monitor [--date D] [--json]
//   ctml features volume [NAME] [--json]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "ctml/cli/commands.h"
#include "ctml/core/time.h"
#include "ctml/features/inspect.h"
#include "ctml/features/spec.h"
#include "ctml/net/http.h"
#include "ctml/privacy/pseudonymizer.h"
#include "ctml/store/factory.h"

namespace ctml::cli {
namespace {

struct ToolArgs {
  std::string date;
  std::string patient;
  std::string subject;
  std::string name;
  size_t limit = 10;
  bool json = false;
};

nlohmann::json Num(double v) { return std::isnan(v) ? nlohmann::json() : nlohmann::json(v); }

std::string Show(double v) {
  if (std::isnan(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

Status CompareStores(const Config& cfg, const features::FeatureSpec& spec, const ToolArgs& a,
                     int* exit_code) {
  CTML_ASSIGN_OR_RETURN(auto lake, store::OpenLake(cfg.GetString("lake.uri")));
  CTML_ASSIGN_OR_RETURN(auto online, store::OpenOnlineStore(cfg.GetString("online.uri")));
  CTML_ASSIGN_OR_RETURN(auto r, features::CompareStores(*lake, *online, spec, a.date));
  const double rate =
      r.cells == 0 ? 0.0 : static_cast<double>(r.mismatched_cells) / static_cast<double>(r.cells);
  if (a.json) {
    nlohmann::json worst = nlohmann::json::array();
    for (const auto& [f, n] : r.worst) worst.push_back({{"feature", f}, {"mismatches", n}});
    nlohmann::json j = {{"date", r.date},
                        {"snapshot", r.path},
                        {"spec_hash", r.spec_hash},
                        {"features", r.features},
                        {"offline_subjects", r.offline_subjects},
                        {"online_subjects", r.online_subjects},
                        {"compared", r.compared},
                        {"missing_online", r.missing_online},
                        {"online_only", r.online_only},
                        {"online_newer", r.online_newer},
                        {"online_behind", r.online_behind},
                        {"spec_hash_differs", r.spec_hash_differs},
                        {"stale_snapshot", r.stale_snapshot},
                        {"latest", r.latest},
                        {"cells", r.cells},
                        {"mismatched_cells", r.mismatched_cells},
                        {"mismatch_rate", rate},
                        {"subjects_with_mismatch", r.subjects_with_mismatch},
                        {"worst_features", worst},
                        {"examples", r.examples},
                        {"exact", r.exact()}};
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("Online vs offline feature store (view %s, spec %s)\n", spec.view().c_str(),
                r.spec_hash.c_str());
    std::printf("  snapshot        %s (%s)\n", r.date.c_str(), r.path.c_str());
    std::printf("  subjects        offline %zu, online %zu, compared %zu\n", r.offline_subjects,
                r.online_subjects, r.compared);
    std::printf("  features        %zu per vector, %llu values compared\n", r.features,
                static_cast<unsigned long long>(r.cells));
    std::printf("  mismatches      %llu values (rate %.6f), %zu subjects\n",
                static_cast<unsigned long long>(r.mismatched_cells), rate,
                r.subjects_with_mismatch);
    std::printf(
        "  not compared    %zu missing online, %zu online only, %zu online newer, "
        "%zu online behind, %zu other spec\n",
        r.missing_online, r.online_only, r.online_newer, r.online_behind, r.spec_hash_differs);
    if (!r.worst.empty()) {
      std::printf("  worst features\n");
      for (size_t i = 0; i < r.worst.size() && i < 10; ++i) {
        std::printf("    %-32s %llu\n", r.worst[i].first.c_str(),
                    static_cast<unsigned long long>(r.worst[i].second));
      }
    }
    for (const auto& e : r.examples) std::printf("  e.g. %s\n", e.c_str());
    if (r.stale_snapshot > 0) {
      std::printf(
          "  note: the snapshot was written with another spec; rerun "
          "`ctml features --batch --all`\n");
    }
    if (r.spec_hash_differs > 0) {
      std::printf(
          "  note: online vectors come from another spec; restart `ctml features` so it "
          "rewrites them\n");
    }
    if (!r.latest && r.online_newer > 0) {
      std::printf(
          "  note: %zu subjects have newer online vectors than this past snapshot (not "
          "compared)\n",
          r.online_newer);
    }
    if (r.exact()) {
      std::printf("OK: online and offline agree exactly\n");
    } else if (r.compared == 0) {
      std::printf("NOT COMPARABLE: no subject could be compared (see above)\n");
    } else {
      std::printf("MISMATCH: online and offline differ (see above)\n");
    }
  }
  *exit_code = r.exact() ? kExitOk : kExitFailure;
  return Status::OK();
}

Result<std::string> SubjectKeyOf(const Config& cfg, const ToolArgs& a) {
  if (!a.subject.empty()) return a.subject;
  if (a.patient.empty()) return std::string();
  CTML_ASSIGN_OR_RETURN(auto p, privacy::Pseudonymizer::FromConfig(cfg));
  return p.SubjectKey(a.patient);
}

Status QueryOffline(const Config& cfg, const features::FeatureSpec& spec, const ToolArgs& a) {
  CTML_ASSIGN_OR_RETURN(auto lake, store::OpenLake(cfg.GetString("lake.uri")));
  CTML_ASSIGN_OR_RETURN(auto snap, features::ReadSnapshot(*lake, spec.view(), a.date));
  CTML_ASSIGN_OR_RETURN(std::string only, SubjectKeyOf(cfg, a));
  const size_t k = snap.names.size();
  nlohmann::json rows = nlohmann::json::array();
  size_t shown = 0;
  if (!a.json) {
    std::printf("Offline snapshot %s: %zu subjects x %zu features (%s)\n", snap.date.c_str(),
                snap.rows(), k, snap.path.c_str());
  }
  for (size_t i = 0; i < snap.rows() && shown < (only.empty() ? a.limit : snap.rows()); ++i) {
    if (!only.empty() && snap.subject_keys[i] != only) continue;
    ++shown;
    size_t non_null = 0;
    for (size_t j = 0; j < k; ++j) non_null += std::isnan(snap.values[i * k + j]) ? 0 : 1;
    if (a.json) {
      nlohmann::json values = nlohmann::json::object();
      for (size_t j = 0; j < k; ++j) values[snap.names[j]] = Num(snap.values[i * k + j]);
      rows.push_back({{"subject_key", snap.subject_keys[i]},
                      {"as_of", FormatIso8601(snap.as_of_us[i])},
                      {"spec_hash", snap.spec_hashes[i]},
                      {"features", values}});
      continue;
    }
    std::printf("  %s  as_of %s  %zu/%zu non-null\n", snap.subject_keys[i].c_str(),
                FormatIso8601(snap.as_of_us[i]).c_str(), non_null, k);
    if (!only.empty()) {
      for (size_t j = 0; j < k; ++j) {
        std::printf("    %-32s %s\n", snap.names[j].c_str(), Show(snap.values[i * k + j]).c_str());
      }
    }
  }
  if (a.json) {
    std::printf("%s\n", nlohmann::json({{"date", snap.date}, {"rows", rows}}).dump(2).c_str());
  }
  if (!only.empty() && shown == 0) {
    return Status::NotFound("that subject has no row in the snapshot of " + snap.date);
  }
  return Status::OK();
}

Status QueryOnline(const Config& cfg, const features::FeatureSpec& spec, const ToolArgs& a) {
  CTML_ASSIGN_OR_RETURN(std::string key, SubjectKeyOf(cfg, a));
  if (key.empty()) return Status::Invalid("give the patient id (or --subject KEY)", "patient");
  CTML_ASSIGN_OR_RETURN(auto online, store::OpenOnlineStore(cfg.GetString("online.uri")));
  CTML_ASSIGN_OR_RETURN(auto vec, online->Get(key, spec.view()));
  if (!vec) {
    return Status::NotFound("no online vector for that patient in view '" + spec.view() +
                            "' (subject key " + key + ")");
  }
  if (a.json) {
    nlohmann::json values = nlohmann::json::object();
    for (const auto& [n, v] : vec->values) values[n] = Num(v);
    std::printf("%s\n", nlohmann::json({{"subject_key", key},
                                        {"view", vec->view},
                                        {"as_of", FormatIso8601(vec->as_of_us)},
                                        {"spec_hash", vec->spec_hash},
                                        {"features", values}})
                            .dump(2)
                            .c_str());
    return Status::OK();
  }
  size_t non_null = 0;
  for (const auto& [n, v] : vec->values) non_null += std::isnan(v) ? 0 : 1;
  std::printf("Online vector of subject %s (view %s)\n  as_of %s  spec %s%s  %zu/%zu non-null\n",
              key.c_str(), vec->view.c_str(), FormatIso8601(vec->as_of_us).c_str(),
              vec->spec_hash.c_str(), vec->spec_hash == spec.spec_hash() ? "" : " (OTHER SPEC)",
              non_null, vec->values.size());
  for (const auto& [n, v] : vec->values) std::printf("    %-32s %s\n", n.c_str(), Show(v).c_str());
  return Status::OK();
}

Status Monitor(const Config& cfg, const features::FeatureSpec& spec, const ToolArgs& a) {
  CTML_ASSIGN_OR_RETURN(auto lake, store::OpenLake(cfg.GetString("lake.uri")));
  CTML_ASSIGN_OR_RETURN(auto online, store::OpenOnlineStore(cfg.GetString("online.uri")));
  CTML_ASSIGN_OR_RETURN(auto log, store::OpenEventLog(cfg.GetString("log.uri")));
  if (!a.date.empty() && (a.date.size() != 10 || !ParseIso8601(a.date).ok())) {
    return Status::Invalid("bad date '" + a.date + "' (expected YYYY-MM-DD)", "date");
  }
  const std::string group = cfg.GetString("features.group", "features");
  nlohmann::json j = {{"view", spec.view()}, {"spec_hash", spec.spec_hash()}};
  // Events in: Silver rows of the spec's tables (of the date, or all), and the topic lag.
  nlohmann::json tables = nlohmann::json::array();
  int64_t rows_in = 0, lag_total = 0;
  for (const auto& t : spec.tables()) {
    const std::string dir =
        "silver/" + t.name + (a.date.empty() ? std::string() : "/date=" + a.date);
    CTML_ASSIGN_OR_RETURN(auto count, features::CountRows(*lake, dir));
    const int64_t rows = count.rows;
    const size_t files = count.files;
    const std::string topic = "silver." + t.name;
    int64_t lag = -1;
    auto parts = log->Partitions(topic);
    if (parts.ok()) {
      int64_t end = 0;
      for (const auto& p : *parts) end += p.end_offset;
      lag = end;  // a group that never committed is behind by everything
      auto lags = log->Lag(topic);
      if (lags.ok()) {
        for (const auto& g : *lags) {
          if (g.group == group) lag = g.lag;
        }
      }
    }
    rows_in += rows;
    if (lag > 0) lag_total += lag;
    tables.push_back({{"table", t.name},
                      {"silver_rows", rows},
                      {"files", files},
                      {"topic", topic},
                      {"lag", lag}});
  }
  j["tables"] = tables;
  j["silver_rows"] = rows_in;
  j["lag"] = lag_total;
  // Features written: the snapshot of the date (or the latest) and the online store.
  auto snap = features::ReadSnapshot(*lake, spec.view(), a.date);
  if (snap.ok()) {
    j["offline"] = {{"date", snap->date}, {"rows", snap->rows()}, {"path", snap->path}};
  } else {
    j["offline"] = {{"error", snap.status().message()}};
  }
  CTML_ASSIGN_OR_RETURN(auto keys, online->Keys(spec.view(), 100'000'000));
  int64_t newest = 0;
  size_t other_spec = 0;
  for (const auto& k : keys) {
    CTML_ASSIGN_OR_RETURN(auto v, online->Get(k, spec.view()));
    if (!v) continue;
    newest = std::max(newest, v->as_of_us);
    other_spec += v->spec_hash == spec.spec_hash() ? 0 : 1;
  }
  j["online"] = {
      {"vectors", keys.size()},
      {"other_spec", other_spec},
      {"newest_as_of", newest ? FormatIso8601(newest) : ""},
      {"freshness_seconds", newest ? static_cast<double>(NowMicros() - newest) / 1e6 : -1.0}};
  // The streaming service, when it runs.
  const int64_t port = cfg.GetInt("features.port", 8085);
  net::HttpClient client(cfg.GetString("features.host", "127.0.0.1"), static_cast<uint16_t>(port),
                         std::chrono::milliseconds(2000));
  auto stats = client.Get("/stats");
  if (stats.ok() && stats->status == 200) {
    j["service"] = nlohmann::json::parse(stats->body, nullptr, false);
  } else {
    j["service"] = {{"running", false}};
  }
  if (a.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return Status::OK();
  }
  std::printf("Feature pipeline (view %s, spec %s)%s\n", spec.view().c_str(),
              spec.spec_hash().c_str(), a.date.empty() ? "" : (", date " + a.date).c_str());
  std::printf("  events in (Silver rows) and lag of group '%s':\n", group.c_str());
  for (const auto& t : tables) {
    std::printf("    %-16s %10lld rows  %-24s lag %lld\n", t["table"].get<std::string>().c_str(),
                static_cast<long long>(t["silver_rows"].get<int64_t>()),
                t["topic"].get<std::string>().c_str(),
                static_cast<long long>(t["lag"].get<int64_t>()));
  }
  if (snap.ok()) {
    std::printf("  offline         snapshot %s: %zu subjects\n", snap->date.c_str(), snap->rows());
  } else {
    std::printf("  offline         %s\n", snap.status().message().c_str());
  }
  std::printf("  online          %zu vectors%s, newest as_of %s\n", keys.size(),
              other_spec ? (" (" + std::to_string(other_spec) + " of another spec)").c_str() : "",
              newest ? FormatIso8601(newest).c_str() : "-");
  if (newest) {
    std::printf("  freshness       %.0f s since the newest event materialized\n",
                static_cast<double>(NowMicros() - newest) / 1e6);
  }
  if (j["service"].contains("events")) {
    std::printf(
        "  service         consumed %lld events, wrote %lld vectors, %lld duplicates, "
        "%lld invalid\n",
        static_cast<long long>(j["service"].value("events", 0LL)),
        static_cast<long long>(j["service"].value("vectors_written", 0LL)),
        static_cast<long long>(j["service"].value("duplicates", 0LL)),
        static_cast<long long>(j["service"].value("invalid", 0LL)));
  } else {
    std::printf("  service         not running (start: ctml features)\n");
  }
  return Status::OK();
}

Status Volume(const Config& cfg, const features::FeatureSpec& spec, const ToolArgs& a) {
  CTML_ASSIGN_OR_RETURN(auto lake, store::OpenLake(cfg.GetString("lake.uri")));
  const std::string view = a.name.empty() ? spec.view() : a.name;
  CTML_ASSIGN_OR_RETURN(auto v, features::InspectVolume(*lake, view));
  CTML_ASSIGN_OR_RETURN(auto online, store::OpenOnlineStore(cfg.GetString("online.uri")));
  CTML_ASSIGN_OR_RETURN(int64_t vectors, online->Count(view));
  if (a.json) {
    nlohmann::json ds = nlohmann::json::array();
    for (const auto& d : v.datasets) {
      ds.push_back({{"path", d.path}, {"rows", d.rows}, {"bytes", d.bytes}});
    }
    std::printf("%s\n", nlohmann::json({{"view", view},
                                        {"lake", lake->uri()},
                                        {"offline_dir", v.dir},
                                        {"partitions", v.partitions},
                                        {"files", v.files},
                                        {"bytes", v.bytes},
                                        {"rows", v.rows},
                                        {"first_date", v.first_date},
                                        {"last_date", v.last_date},
                                        {"online_vectors", vectors},
                                        {"datasets", ds}})
                            .dump(2)
                            .c_str());
    return Status::OK();
  }
  std::printf("Feature volume '%s' in %s\n", view.c_str(), lake->uri().c_str());
  std::printf("  offline   %s: %zu partitions (%s .. %s), %zu files, %.1f MiB, %lld rows\n",
              v.dir.c_str(), v.partitions, v.first_date.empty() ? "-" : v.first_date.c_str(),
              v.last_date.empty() ? "-" : v.last_date.c_str(), v.files,
              static_cast<double>(v.bytes) / (1024.0 * 1024.0), static_cast<long long>(v.rows));
  std::printf("  online    %lld vectors (%s)\n", static_cast<long long>(vectors),
              cfg.GetString("online.uri").c_str());
  std::printf("  datasets  %zu\n", v.datasets.size());
  for (const auto& d : v.datasets) {
    std::printf("    %-64s %8lld rows %8.1f KiB\n", d.path.c_str(), static_cast<long long>(d.rows),
                static_cast<double>(d.bytes) / 1024.0);
  }
  return Status::OK();
}

}  // namespace

void RegisterFeatureTools(CLI::App* cmd, GlobalOptions& g, int* exit_code) {
  struct Tool {
    const char* name;
    const char* help;
    Status (*run)(const Config&, const features::FeatureSpec&, const ToolArgs&, int*);
  };
  static const Tool kTools[] = {
      {"compare-stores",
       "Online vs offline, per feature, for every subject (exit 1 unless exactly equal)",
       &CompareStores},
      {"query-offline", "Rows of an offline snapshot (--date D: that day's, default the latest)",
       [](const Config& c, const features::FeatureSpec& s, const ToolArgs& a, int*) {
         return QueryOffline(c, s, a);
       }},
      {"query-online", "The online vector of a patient (raw id, pseudonymized for the lookup)",
       [](const Config& c, const features::FeatureSpec& s, const ToolArgs& a, int*) {
         return QueryOnline(c, s, a);
       }},
      {"monitor", "Events in, features written, lag and freshness of the feature pipeline",
       [](const Config& c, const features::FeatureSpec& s, const ToolArgs& a, int*) {
         return Monitor(c, s, a);
       }},
      {"volume", "Files, partitions, sizes and row counts of the offline store and datasets",
       [](const Config& c, const features::FeatureSpec& s, const ToolArgs& a, int*) {
         return Volume(c, s, a);
       }},
  };
  for (const Tool& tool : kTools) {
    auto args = std::make_shared<ToolArgs>();
    CLI::App* sub = cmd->add_subcommand(tool.name, tool.help);
    const std::string name = tool.name;
    if (name == "compare-stores" || name == "query-offline" || name == "monitor") {
      sub->add_option("--date", args->date, "YYYY-MM-DD (default: the latest snapshot)");
    }
    if (name == "query-offline") {
      sub->add_option("--patient", args->patient, "Only this patient (raw id, pseudonymized)");
      sub->add_option("--subject", args->subject, "Only this subject key (pseudonym)");
      sub->add_option("--limit", args->limit, "Rows to print (default 10)");
    }
    if (name == "query-online") {
      sub->add_option("patient", args->patient, "The patient id as the site sent it");
      sub->add_option("--subject", args->subject, "Look up a subject key (pseudonym) instead");
    }
    if (name == "volume") {
      sub->add_option("name", args->name, "Feature set (view) name (default: the spec's)");
    }
    sub->add_flag("--json", args->json, "Print JSON");
    auto run = tool.run;
    sub->callback([&g, exit_code, args, run, name] {
      const std::string cmd_name = "features " + name;
      auto cfg = LoadConfig(g, "features");
      if (!cfg.ok()) {
        Fail(cmd_name, cfg.status());
        *exit_code = kExitConfig;
        return;
      }
      auto spec = features::FeatureSpec::Load(*cfg);
      if (!spec.ok()) {
        Fail(cmd_name, spec.status());
        *exit_code = kExitConfig;
        return;
      }
      int code = kExitOk;
      Status st = run(*cfg, *spec, *args, &code);
      *exit_code = st.ok() ? code : Fail(cmd_name, st);
    });
  }
}

}  // namespace ctml::cli
