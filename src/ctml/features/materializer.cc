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
  CounterMetric& duplicates = Metrics().Counter(
      "ctml_features_duplicates_total", "Silver events ignored because their event_id was seen");
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

Result<std::pair<std::string, Observation>> ParseRecord(const store::LogRecord& rec) {
  CTML_ASSIGN_OR_RETURN(Json doc, ParseJson(rec.value, 8));
  if (!doc.is_object()) return Status::Invalid("record is not a JSON object");
  auto str = [&](const char* k) -> Result<std::string> {
    auto it = doc.find(k);
    if (it == doc.end() || !it->is_string() || it->get<std::string>().empty()) {
      return Status::Invalid(std::string("missing or non-string '") + k + "'", k);
    }
    return it->get<std::string>();
  };
  auto num = [&](const char* k) -> Result<Json> {
    auto it = doc.find(k);
    if (it == doc.end() || !it->is_number()) {
      return Status::Invalid(std::string("missing or non-numeric '") + k + "'", k);
    }
    return *it;
  };
  Observation o;
  CTML_ASSIGN_OR_RETURN(o.event_id, str("event_id"));
  CTML_ASSIGN_OR_RETURN(std::string subject, str("subject_key"));
  CTML_ASSIGN_OR_RETURN(o.test_code, str("test_code"));
  CTML_ASSIGN_OR_RETURN(Json t, num("event_time_us"));
  CTML_ASSIGN_OR_RETURN(Json v, num("value"));
  o.event_time_us = t.get<int64_t>();
  o.value = v.get<double>();
  auto r = doc.find("received_at_us");
  o.received_at_us = (r != doc.end() && r->is_number()) ? r->get<int64_t>() : o.event_time_us;
  return std::make_pair(std::move(subject), std::move(o));
}

}  // namespace

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

  // Drops what no window can reach any more (windows end at the latest event_time).
  void Trim(SubjectState& st) const { st.Evict(st.last_event_time_us() - spec.max_window_us()); }

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
  CTML_ASSIGN_OR_RETURN(SubjectStates states, ReadSubjects(lake, impl_->spec.source(), &rs));
  std::vector<store::FeatureVector> vectors;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->states = std::move(states);
    vectors.reserve(impl_->states.size());
    for (auto& [key, st] : impl_->states) {
      if (st.empty()) continue;
      impl_->NoteEventTime(st.last_event_time_us());
      vectors.push_back(impl_->Vector(key, st));
      impl_->Trim(st);
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
            {{"source", impl_->spec.source()},
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
      auto parsed = ParseRecord(rec);
      if (!parsed.ok()) {
        ++invalid;
        log::Warn("features", "skipping unparsable record",
                  {{"topic", rec.topic},
                   {"partition", std::to_string(rec.partition)},
                   {"offset", std::to_string(rec.offset)},
                   {"reason", parsed.status().message()}});
        continue;
      }
      auto& [subject, obs] = *parsed;
      const int64_t t = obs.event_time_us;
      if (!impl_->states[subject].Add(std::move(obs))) ++dups;
      impl_->NoteEventTime(t);
      // Touched even when a duplicate: a replay after a failed Put must rewrite the vector.
      touched.insert(subject);
    }
    vectors.reserve(touched.size());
    for (const auto& key : touched) {
      auto& st = impl_->states[key];
      if (st.empty()) continue;
      impl_->Trim(st);
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
  CTML_ASSIGN_OR_RETURN(auto consumer, log.Subscribe(opts.group, {opts.topic}));
  log::Info("features", "consuming", {{"topic", opts.topic}, {"group", opts.group}});
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
      Status rw = consumer->Rewind();
      if (!rw.ok()) log::Warn("features", "rewind failed", {{"error", rw.ToString()}});
      backoff();
    }
  }
  return Status::OK();
}

Result<store::FeatureVector> Materializer::VectorFor(const std::string& subject_key) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->states.find(subject_key);
  if (it == impl_->states.end() || it->second.empty()) {
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
  ReadStats rs;
  CTML_ASSIGN_OR_RETURN(SubjectStates states, ReadSubjects(lake, spec.source(), &rs));
  if (progress) {
    progress("read " + std::to_string(rs.rows) + " rows of " + spec.source() + " (" +
             std::to_string(states.size()) + " subjects)");
  }
  if (dates.empty()) {
    int64_t first = 0, last = 0;
    bool any = false;
    for (const auto& [key, st] : states) {
      if (st.empty()) continue;
      first = any ? std::min(first, st.first_event_time_us()) : st.first_event_time_us();
      last = any ? std::max(last, st.last_event_time_us()) : st.last_event_time_us();
      any = true;
    }
    if (!any) return Status::NotFound("no Silver data under " + spec.source());
    for (int64_t d = DayStart(first); d <= DayStart(last); d += kMicrosPerDay) days.push_back(d);
  }

  SnapshotReport report;
  for (int64_t day : days) {
    const int64_t as_of = day + kMicrosPerDay - 1;
    std::vector<std::string> keys;
    std::vector<int64_t> as_ofs;
    std::vector<double> values;
    for (const auto& [key, st] : states) {
      if (st.empty() || st.first_event_time_us() > as_of) continue;
      std::vector<double> x = Compute(spec, st, as_of);
      keys.push_back(key);
      as_ofs.push_back(as_of);
      values.insert(values.end(), x.begin(), x.end());
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
    if (progress) {
      progress("date=" + date + ": " + std::to_string(keys.size()) + " subjects -> " + path);
    }
  }
  return report;
}

}  // namespace ctml::features
