#include "ctml/features/training_set.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "ctml/core/crypto.h"
#include "ctml/core/log.h"
#include "ctml/core/time.h"
#include "ctml/features/engine.h"
#include "ctml/features/lake_io_internal.h"
#include "ctml/features/spec.h"
#include "ctml/store/lake.h"

namespace ctml::features {
namespace {

// Examples start once a subject has this much history.
constexpr int64_t kWarmupUs = 6 * kMicrosPerHour;

}  // namespace

Status ParseGrid(const std::string& text, TrainingSetOptions* opts) {
  if (text == "visits") {
    opts->grid = Grid::kVisits;
  } else if (text == "daily") {
    opts->grid = Grid::kDaily;
  } else {
    auto step = ParseDuration(text);
    if (!step.ok()) {
      return Status::Invalid("bad grid '" + text + "' (expected visits, daily or a step like 1h)",
                             "grid");
    }
    opts->grid = Grid::kStep;
    opts->grid_step_us = *step;
  }
  return Status::OK();
}

const char* GridName(const TrainingSetOptions& o) {
  switch (o.grid) {
    case Grid::kVisits:
      return "visits";
    case Grid::kDaily:
      return "daily";
    case Grid::kStep:
      break;
  }
  return "step";
}

namespace {

// The subject's first visit: its earliest vitals or labs row (else its first event).
int64_t FirstVisit(const FeatureSpec& spec, const SubjectState& st) {
  std::optional<int64_t> first;
  for (const char* t : {"vitals", "labs"}) {
    const int ti = spec.TableIndex(t);
    if (ti < 0) continue;
    if (auto f = st.FirstEventTime(ti); f && (!first || *f < *first)) first = f;
  }
  return first.value_or(st.first_event_time_us());
}

// The example times of one subject, ascending.
std::vector<int64_t> GridTimes(const FeatureSpec& spec, const SubjectState& st,
                               const TrainingSetOptions& o) {
  std::vector<int64_t> out;
  switch (o.grid) {
    case Grid::kVisits: {
      std::set<int64_t> days;
      for (const char* t : {"vitals", "labs"}) {
        const int ti = spec.TableIndex(t);
        if (ti < 0) continue;
        for (int64_t d : st.DaysWithRows(ti)) days.insert(d);
      }
      for (int64_t d : days) out.push_back(d + kMicrosPerDay - 1);
      break;
    }
    case Grid::kDaily:
      for (int64_t d = DayStart(FirstVisit(spec, st)); d <= st.last_event_time_us();
           d += kMicrosPerDay) {
        out.push_back(d + kMicrosPerDay - 1);
      }
      break;
    case Grid::kStep:
      for (int64_t t = FirstVisit(spec, st) + kWarmupUs; t <= st.last_event_time_us();
           t += o.grid_step_us) {
        out.push_back(t);
      }
      break;
  }
  return out;
}

}  // namespace

Result<TrainingSet> BuildTrainingSet(store::Lake& lake, const FeatureSpec& spec,
                                     const std::string& label, const TrainingSetOptions& opts,
                                     const std::function<void(const std::string&)>& progress) {
  const LabelDef* ldef = spec.FindLabel(label);
  if (ldef == nullptr) {
    std::string known;
    for (const auto& l : spec.labels()) known += (known.empty() ? "" : ", ") + l.name;
    return Status::Invalid("unknown label '" + label + "' (spec labels: " + known + ")", "label");
  }
  if (opts.grid == Grid::kStep && opts.grid_step_us <= 0) {
    return Status::Invalid("grid_step_us must be > 0", "grid_step_us");
  }
  if (opts.from_us && opts.to_us && *opts.from_us > *opts.to_us) {
    return Status::Invalid("--from is after --to", "from");
  }

  // Inputs: the Silver file list (paths + sizes) identifies the data the set was built from.
  CTML_ASSIGN_OR_RETURN(auto files, SilverFiles(lake, spec));
  std::string inputs;
  nlohmann::json input_list = nlohmann::json::array();
  for (const auto& f : files) {
    inputs += f.path + ":" + std::to_string(f.size) + "\n";
    input_list.push_back({{"path", f.path}, {"size", f.size}});
  }
  if (inputs.empty()) {
    return Status::NotFound("no Silver data for the spec's tables in " + lake.uri() +
                            " (run ctml process first)");
  }

  ReadStats stats;
  CTML_ASSIGN_OR_RETURN(SubjectStates states,
                        ReadSubjects(lake, spec, &stats, progress, opts.study));
  if (!opts.study.empty() && states.empty()) {
    return Status::NotFound("no Silver rows of study '" + opts.study + "' in " + lake.uri() +
                            " (check the study_id, e.g. with ctml features monitor)");
  }

  TrainingSet ts;
  ts.label = label;
  ts.spec_hash = spec.spec_hash();
  ts.feature_names = spec.names();
  const std::string id_source = "ctml-training-set/2\nspec_hash=" + spec.spec_hash() + "\n" +
                                spec.CanonicalLabel(*ldef) + "grid=" + GridName(opts) +
                                "\ngrid_step_us=" + std::to_string(opts.grid_step_us) +
                                "\nfrom_us=" + (opts.from_us ? std::to_string(*opts.from_us) : "") +
                                "\nto_us=" + (opts.to_us ? std::to_string(*opts.to_us) : "") +
                                "\nstrict=" + (opts.strict ? "1" : "0") + "\n" +
                                (opts.study.empty() ? "" : "study=" + opts.study + "\n") + inputs;
  ts.dataset_id = HexEncode(Sha256(id_source)).substr(0, 16);

  std::vector<double> values;  // row-major doubles for the Parquet file
  std::vector<int> labels;
  size_t done = 0;
  for (const auto& [subject_key, state] : states) {
    ++done;
    if (!state.has_feature_rows()) continue;
    bool any = false;
    for (int64_t as_of : GridTimes(spec, state, opts)) {
      if (opts.from_us && as_of < *opts.from_us) continue;
      if (opts.to_us && as_of > *opts.to_us) break;
      const LabelOutcome y = Label(*ldef, state, as_of);
      if (y == LabelOutcome::kCensored) {
        ++ts.censored;
        continue;
      }
      if (y == LabelOutcome::kAfterTerminal) {
        ++ts.after_terminal;
        continue;
      }
      const int yi = y == LabelOutcome::kPositive ? 1 : 0;
      std::vector<double> x = Compute(spec, state, as_of, opts.strict);
      values.insert(values.end(), x.begin(), x.end());
      for (double v : x) ts.x.push_back(static_cast<float>(v));
      ts.y.push_back(static_cast<float>(yi));
      labels.push_back(yi);
      ts.subject_keys.push_back(subject_key);
      ts.as_of_us.push_back(as_of);
      ts.positives += static_cast<size_t>(yi);
      ++ts.rows;
      any = true;
    }
    if (any) ++ts.subjects;
    if (progress && done % 1000 == 0) {
      progress("examples: " + std::to_string(done) + "/" + std::to_string(states.size()) +
               " subjects, " + std::to_string(ts.rows) + " rows");
    }
  }

  if (opts.write) {
    CTML_ASSIGN_OR_RETURN(auto table, MakeFeatureTable(ts.feature_names, ts.subject_keys,
                                                       ts.as_of_us, "", &labels, values));
    const std::string dir = "datasets/" + label + "/" + ts.dataset_id;
    ts.dataset_path = dir + "/part-0.parquet";
    CTML_RETURN_NOT_OK(lake.WriteParquet(ts.dataset_path, table));
    nlohmann::json manifest = {
        {"dataset_id", ts.dataset_id},
        {"label", label},
        {"label_spec", spec.CanonicalLabel(*ldef)},
        {"label_description", ldef->description},
        {"view", spec.view()},
        {"spec_hash", spec.spec_hash()},
        {"feature_names", ts.feature_names},
        {"rows", ts.rows},
        {"positives", ts.positives},
        {"subjects", ts.subjects},
        {"subjects_in_silver", states.size()},
        {"censored", ts.censored},
        {"after_terminal", ts.after_terminal},
        {"options",
         {{"grid", GridName(opts)},
          {"grid_step_us", opts.grid_step_us},
          {"from_us", opts.from_us ? nlohmann::json(*opts.from_us) : nlohmann::json()},
          {"to_us", opts.to_us ? nlohmann::json(*opts.to_us) : nlohmann::json()},
          {"strict", opts.strict},
          {"study", opts.study.empty() ? nlohmann::json() : nlohmann::json(opts.study)}}},
        {"inputs", input_list},
        {"created_at", FormatIso8601(NowMicros())},
    };
    CTML_RETURN_NOT_OK(lake.PutBytes(dir + "/manifest.json", manifest.dump(2) + "\n"));
  }
  log::Info("features", "training set built",
            {{"dataset_id", ts.dataset_id},
             {"label", label},
             {"rows", std::to_string(ts.rows)},
             {"positives", std::to_string(ts.positives)},
             {"subjects", std::to_string(ts.subjects)},
             {"censored", std::to_string(ts.censored)},
             {"silver_rows", std::to_string(stats.rows)}});
  return ts;
}

}  // namespace ctml::features
