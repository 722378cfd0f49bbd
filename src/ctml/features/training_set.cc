#include "ctml/features/training_set.h"

#include <algorithm>
#include <nlohmann/json.hpp>

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

Result<TrainingSet> BuildTrainingSet(store::Lake& lake, const FeatureSpec& spec,
                                     const std::string& label, const TrainingSetOptions& opts) {
  const LabelDef* ldef = spec.FindLabel(label);
  if (ldef == nullptr) {
    std::string known;
    for (const auto& l : spec.labels()) known += (known.empty() ? "" : ", ") + l.name;
    return Status::Invalid("unknown label '" + label + "' (spec labels: " + known + ")", "label");
  }
  if (opts.grid_step_us <= 0) return Status::Invalid("grid_step_us must be > 0", "grid_step_us");

  // Inputs: the Silver file list (paths + sizes) identifies the data the set was built from.
  CTML_ASSIGN_OR_RETURN(auto files, lake.List(spec.source()));
  std::string inputs;
  nlohmann::json input_list = nlohmann::json::array();
  for (const auto& f : files) {
    if (f.path.size() < 8 || f.path.compare(f.path.size() - 8, 8, ".parquet") != 0) continue;
    inputs += f.path + ":" + std::to_string(f.size) + "\n";
    input_list.push_back({{"path", f.path}, {"size", f.size}});
  }
  if (inputs.empty()) {
    return Status::NotFound("no Silver data under " + spec.source() + " in " + lake.uri());
  }

  ReadStats stats;
  CTML_ASSIGN_OR_RETURN(SubjectStates states, ReadSubjects(lake, spec.source(), &stats));

  TrainingSet ts;
  ts.label = label;
  ts.spec_hash = spec.spec_hash();
  ts.feature_names = spec.names();
  const std::string id_source =
      "ctml-training-set/1\nspec_hash=" + spec.spec_hash() + "\n" +
      FeatureSpec::CanonicalLabel(*ldef) + "grid_step_us=" + std::to_string(opts.grid_step_us) +
      "\nfrom_us=" + std::to_string(opts.from_us) + "\nto_us=" + std::to_string(opts.to_us) +
      "\nstrict=" + (opts.strict ? "1" : "0") + "\n" + inputs;
  ts.dataset_id = HexEncode(Sha256(id_source)).substr(0, 16);

  std::vector<double> values;  // row-major doubles for the Parquet file
  std::vector<int> labels;
  size_t censored = 0;
  for (const auto& [subject_key, state] : states) {
    if (state.empty()) continue;
    int64_t start = state.first_event_time_us() + kWarmupUs;
    int64_t end = state.last_event_time_us() - ldef->horizon_us;
    if (opts.from_us > 0) start = std::max(start, opts.from_us);
    if (opts.to_us > 0) end = std::min(end, opts.to_us);
    for (int64_t as_of = start; as_of <= end; as_of += opts.grid_step_us) {
      std::optional<int> y = Label(*ldef, state, as_of);
      if (!y) {
        ++censored;
        continue;
      }
      std::vector<double> x = Compute(spec, state, as_of, opts.strict);
      values.insert(values.end(), x.begin(), x.end());
      for (double v : x) ts.x.push_back(static_cast<float>(v));
      ts.y.push_back(static_cast<float>(*y));
      labels.push_back(*y);
      ts.subject_keys.push_back(subject_key);
      ts.as_of_us.push_back(as_of);
      ++ts.rows;
    }
  }

  if (opts.write) {
    CTML_ASSIGN_OR_RETURN(auto table, MakeFeatureTable(ts.feature_names, ts.subject_keys,
                                                       ts.as_of_us, "", &labels, values));
    const std::string dir = "datasets/" + label + "/" + ts.dataset_id;
    ts.dataset_path = dir + "/part-0.parquet";
    CTML_RETURN_NOT_OK(lake.WriteParquet(ts.dataset_path, table));
    size_t positives = 0;
    for (int v : labels) positives += v == 1 ? 1 : 0;
    nlohmann::json manifest = {
        {"dataset_id", ts.dataset_id},
        {"label", label},
        {"label_spec", FeatureSpec::CanonicalLabel(*ldef)},
        {"view", spec.view()},
        {"spec_hash", spec.spec_hash()},
        {"feature_names", ts.feature_names},
        {"rows", ts.rows},
        {"positives", positives},
        {"subjects", states.size()},
        {"options",
         {{"grid_step_us", opts.grid_step_us},
          {"from_us", opts.from_us},
          {"to_us", opts.to_us},
          {"strict", opts.strict}}},
        {"inputs", input_list},
        {"created_at", FormatIso8601(NowMicros())},
    };
    CTML_RETURN_NOT_OK(lake.PutBytes(dir + "/manifest.json", manifest.dump(2) + "\n"));
  }
  log::Info("features", "training set built",
            {{"dataset_id", ts.dataset_id},
             {"label", label},
             {"rows", std::to_string(ts.rows)},
             {"subjects", std::to_string(states.size())},
             {"censored", std::to_string(censored)},
             {"silver_rows", std::to_string(stats.rows)}});
  return ts;
}

}  // namespace ctml::features
