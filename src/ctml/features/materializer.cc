#include "ctml/features/materializer.h"

#include <algorithm>
#include <mutex>
#include <set>
#include <thread>

#include "ctml/core/json.h"
#include "ctml/core/log.h"
#include "ctml/core/metrics.h"
#include "ctml/core/time.h"
#include "ctml/features/engine.h"
#include "ctml/features/lake_io_internal.h"

namespace ctml::features {
namespace {

constexpr size_t kPutChunk = 1000;

struct FeatureMetrics {
  CounterMetric& events = Metrics().Counter("ctml_features_events_total",
                                            "Silver events consumed by the feature materializer");
  CounterMetric& duplicates =
      Metrics().Counter("ctml_features_duplicates_total",
                        "Silver rows dropped by Silver's dedupe rules (already in the state)");
  CounterMetric& invalid = Metrics().Counter("ctml_features_invalid_total",
                                             "Silver events skipped because they did not parse");
  CounterMetric& vectors = Metrics().Counter("ctml_features_vectors_written_total",
                                             "Feature vectors written to the online store");
  GaugeMetric& last_event = Metrics().Gauge("ctml_features_last_event_time_seconds",
                                            "Latest event_time materialized (Unix seconds)");
  GaugeMetric& subjects =
      Metrics().Gauge("ctml_features_subjects", "Subjects held in the materializer's state");
};

FeatureMetrics& M() {
  static FeatureMetrics m;
  return m;
}

Cell JsonCell(const Json& v) {
  if (v.is_string()) return Cell::Text(v.get<std::string>());
  if (v.is_boolean()) return Cell::Bool(v.get<bool>());
  if (v.is_number()) return Cell::Number(v.get<double>());
  return Cell::Null();
}

}  // namespace

Result<Row> RowFromJson(const FeatureSpec& spec, int table_index, const std::string& json) {
  CTML_ASSIGN_OR_RETURN(Json doc, ParseJson(json, 8));
  if (!doc.is_object()) return Status::Invalid("record is not a JSON object");
  auto str = [&](const char* k, bool required) -> Result<std::string> {
    auto it = doc.find(k);
    if (it == doc.end() || !it->is_string() || it->get<std::string>().empty()) {
      if (!required) return std::string();
      return Status::Invalid(std::string("missing or non-string '") + k + "'", k);
    }
    return it->get<std::string>();
  };
  Row row;
  row.table = table_index;
  CTML_ASSIGN_OR_RETURN(row.event_id, str("event_id", true));
  CTML_ASSIGN_OR_RETURN(row.subject_key, str("subject_key", true));
  CTML_ASSIGN_OR_RETURN(row.dedupe_key, str("dedupe_key", false));
  CTML_ASSIGN_OR_RETURN(row.precision, str("precision", false));
  auto t = doc.find("event_time_us");
  if (t == doc.end() || !t->is_number_integer()) {
    return Status::Invalid("missing or non-integer 'event_time_us'", "event_time_us");
  }
  row.event_time_us = t->get<int64_t>();
  auto r = doc.find("received_at_us");
  row.received_at_us =
      (r != doc.end() && r->is_number_integer()) ? r->get<int64_t>() : row.event_time_us;
  const TableDef& def = spec.tables()[static_cast<size_t>(table_index)];
  row.cells.reserve(def.columns.size());
  for (const auto& c : def.columns) {
    auto it = doc.find(c);
    row.cells.push_back(it == doc.end() ? Cell::Null() : JsonCell(*it));
  }
  return row;
}

struct Materializer::Impl {
  const FeatureSpec& spec;
  store::OnlineStore& online;
  mutable std::mutex mu;
  SubjectStates states;
  MaterializerStats stats;

  Impl(const FeatureSpec& s, store::OnlineStore& o) : spec(s), online(o) {}

  store::FeatureVector Vector(const std::string& key, const SubjectState& st) const {
    store::FeatureVector v;
    v.entity_key = key;
    v.view = spec.view();
    v.as_of_us = st.last_event_time_us();
    v.spec_hash = spec.spec_hash();
    std::vector<double> x = Compute(spec, st, v.as_of_us);
    v.values.reserve(x.size());
    for (size_t i = 0; i < x.size(); ++i) v.values.emplace_back(spec.names()[i], x[i]);
    return v;
  }

  Status PutVectors(const std::vector<store::FeatureVector>& vectors) {
    for (size_t i = 0; i < vectors.size(); i += kPutChunk) {
      const size_t end = std::min(vectors.size(), i + kPutChunk);
      std::vector<store::FeatureVector> chunk(vectors.begin() + static_cast<std::ptrdiff_t>(i),
                                              vectors.begin() + static_cast<std::ptrdiff_t>(end));
      CTML_RETURN_NOT_OK(online.Put(chunk));
    }
    return Status::OK();
  }

  void NoteEventTime(int64_t t) {
    if (t > stats.last_event_time_us) {
      stats.last_event_time_us = t;
      M().last_event.Set(static_cast<double>(t) / 1e6);
    }
  }
};

Materializer::Materializer(const FeatureSpec& spec, store::OnlineStore& online)
    : impl_(std::make_unique<Impl>(spec, online)) {}

Materializer::~Materializer() = default;

Status Materializer::Rebuild(store::Lake& lake) {
  ReadStats rs;
  CTML_ASSIGN_OR_RETURN(SubjectStates states, ReadSubjects(lake, impl_->spec, &rs));
  std::vector<store::FeatureVector> vectors;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->states = std::move(states);
    vectors.reserve(impl_->states.size());
    for (auto& [key, st] : impl_->states) {
      if (!st.has_feature_rows()) continue;
      impl_->NoteEventTime(st.last_event_time_us());
      vectors.push_back(impl_->Vector(key, st));
    }
    impl_->stats.subjects = impl_->states.size();
    M().subjects.Set(static_cast<double>(impl_->states.size()));
  }
  CTML_RETURN_NOT_OK(impl_->PutVectors(vectors));
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stats.vectors_written += vectors.size();
  }
  M().vectors.Inc(static_cast<double>(vectors.size()));
  log::Info("features", "state rebuilt from silver",
            {{"tables", std::to_string(impl_->spec.tables().size())},
             {"rows", std::to_string(rs.rows)},
             {"subjects", std::to_string(vectors.size())},
             {"duplicates", std::to_string(rs.duplicates)},
             {"skipped", std::to_string(rs.skipped)}});
  return Status::OK();
}

Status Materializer::Apply(const std::vector<store::LogRecord>& records) {
  std::vector<store::FeatureVector> vectors;
  uint64_t dups = 0, invalid = 0;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    std::set<std::string> touched;
    for (const auto& rec : records) {
      const int table =
          rec.topic.rfind("silver.", 0) == 0 ? impl_->spec.TableIndex(rec.topic.substr(7)) : -1;
      Result<Row> parsed =
          table < 0
              ? Result<Row>(Status::Invalid("topic " + rec.topic + " is not read by the spec"))
              : RowFromJson(impl_->spec, table, rec.value);
      if (!parsed.ok()) {
        ++invalid;
        log::Warn("features", "skipping unparsable record",
                  {{"topic", rec.topic},
                   {"partition", std::to_string(rec.partition)},
                   {"offset", std::to_string(rec.offset)},
                   {"reason", parsed.status().message()}});
        continue;
      }
      const Row& row = *parsed;
      auto [it, fresh] = impl_->states.try_emplace(row.subject_key, impl_->spec);
      if (!it->second.Apply(impl_->spec, row)) ++dups;
      impl_->NoteEventTime(it->second.last_event_time_us());
      // Touched even when a duplicate: a replay after a failed Put must rewrite the vector.
      touched.insert(row.subject_key);
    }
    vectors.reserve(touched.size());
    for (const auto& key : touched) {
      const auto& st = impl_->states.at(key);
      if (!st.has_feature_rows()) continue;
      vectors.push_back(impl_->Vector(key, st));
    }
    impl_->stats.events += records.size();
    impl_->stats.duplicates += dups;
    impl_->stats.invalid += invalid;
    impl_->stats.subjects = impl_->states.size();
    M().subjects.Set(static_cast<double>(impl_->states.size()));
  }
  M().events.Inc(static_cast<double>(records.size()));
  if (dups) M().duplicates.Inc(static_cast<double>(dups));
  if (invalid) M().invalid.Inc(static_cast<double>(invalid));
  if (vectors.empty()) return Status::OK();
  CTML_RETURN_NOT_OK(impl_->online.Put(vectors));
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stats.vectors_written += vectors.size();
  }
  M().vectors.Inc(static_cast<double>(vectors.size()));
  return Status::OK();
}

Status Materializer::Run(store::EventLog& log, const MaterializerOptions& opts,
                         const std::atomic<bool>& stop) {
  std::vector<std::string> topics;
  std::string names;
  for (const auto& t : impl_->spec.tables()) {
    topics.push_back("silver." + t.name);
    names += (names.empty() ? "" : ",") + topics.back();
  }
  CTML_ASSIGN_OR_RETURN(auto consumer, log.Subscribe(opts.group, topics));
  log::Info("features", "consuming", {{"topics", names}, {"group", opts.group}});
  auto backoff = [&] {
    // Sleep in small steps so that a stop request is honoured quickly.
    for (auto waited = std::chrono::milliseconds(0); waited < opts.poll && !stop.load();
         waited += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  };
  while (!stop.load()) {
    auto batch = consumer->Poll(opts.batch_records, opts.poll);
    if (!batch.ok()) {
      log::Warn("features", "poll failed", {{"error", batch.status().ToString()}});
      backoff();
      continue;
    }
    if (batch->empty()) continue;
    Status st = Apply(*batch);
    if (st.ok()) st = consumer->Commit(*batch);
    if (!st.ok()) {
      log::Warn("features", "batch failed; rewinding", {{"error", st.ToString()}});
      backoff();
      // Polling on without a rewind would skip the batch: retry while the log is unreachable.
      for (Status rw = consumer->Rewind(); !rw.ok() && !stop.load(); rw = consumer->Rewind()) {
        log::Warn("features", "rewind failed; will retry", {{"error", rw.ToString()}});
        backoff();
      }
    }
  }
  return Status::OK();
}

Result<store::FeatureVector> Materializer::VectorFor(const std::string& subject_key) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->states.find(subject_key);
  if (it == impl_->states.end() || !it->second.has_feature_rows()) {
    return Status::NotFound("no state for that subject");
  }
  return impl_->Vector(it->first, it->second);
}

MaterializerStats Materializer::stats() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

Result<SnapshotReport> WriteDailySnapshots(
    store::Lake& lake, const FeatureSpec& spec, const std::vector<std::string>& dates,
    const std::function<void(const std::string&)>& progress) {
  std::vector<int64_t> days;  // day starts
  for (const auto& d : dates) {
    auto t = ParseIso8601(d);
    if (!t.ok() || d.size() != 10) {
      return Status::Invalid("bad date '" + d + "' (expected YYYY-MM-DD)", "date");
    }
    days.push_back(DayStart(*t));
  }
  std::sort(days.begin(), days.end());
  days.erase(std::unique(days.begin(), days.end()), days.end());
  ReadStats rs;
  CTML_ASSIGN_OR_RETURN(SubjectStates states, ReadSubjects(lake, spec, &rs, progress));
  if (progress) progress(std::to_string(states.size()) + " subjects");
  if (dates.empty()) {
    // Every day with a Silver row: the only days on which a vector changes (a snapshot of any
    // other day equals the one of the latest such day before it).
    std::set<int64_t> all;
    for (const auto& [key, st] : states) {
      for (size_t t = 0; t < spec.tables().size(); ++t) {
        for (int64_t d : st.DaysWithRows(static_cast<int>(t))) all.insert(d);
      }
    }
    if (all.empty()) {
      return Status::NotFound("no Silver rows for the spec's tables in " + lake.uri());
    }
    days.assign(all.begin(), all.end());
  }

  // A subject's row of day D is its online vector at the end of D: as of its latest event at or
  // before D 23:59:59.999999 (so the last day's snapshot equals the online store). Between two
  // of its events the vector does not change, so it is computed once per new as_of.
  struct Cached {
    int64_t as_of = -1;
    std::vector<double> x;
  };
  std::map<std::string, Cached> cache;
  SnapshotReport report;
  size_t done = 0;
  for (int64_t day : days) {
    const int64_t end = day + kMicrosPerDay - 1;
    std::vector<std::string> keys;
    std::vector<int64_t> as_ofs;
    std::vector<double> values;
    for (const auto& [key, st] : states) {
      const std::optional<int64_t> as_of = st.LastEventAtOrBefore(end);
      if (!as_of) continue;
      Cached& c = cache[key];
      if (c.as_of != *as_of) {
        c.as_of = *as_of;
        c.x = Compute(spec, st, *as_of);
      }
      keys.push_back(key);
      as_ofs.push_back(*as_of);
      values.insert(values.end(), c.x.begin(), c.x.end());
    }
    CTML_ASSIGN_OR_RETURN(auto table, MakeFeatureTable(spec.names(), keys, as_ofs, spec.spec_hash(),
                                                       nullptr, values));
    const std::string date = FormatDate(day);
    const std::string path =
        "features/offline/" + spec.view() + "/date=" + date + "/part-0.parquet";
    CTML_RETURN_NOT_OK(lake.WriteParquet(path, table));
    report.dates.push_back(date);
    report.paths.push_back(path);
    report.rows += keys.size();
    ++done;
    if (progress && (days.size() <= 31 || done % 100 == 0 || done == days.size())) {
      progress("[" + std::to_string(done) + "/" + std::to_string(days.size()) + "] date=" + date +
               ": " + std::to_string(keys.size()) + " subjects -> " + path);
    }
  }
  return report;
}

}  // namespace ctml::features
