// OnlineStore port: the latest feature vector per (entity, view), for serving.
// Adapters: sqlite:// (embedded), redis:// (distributed).
//
//   FeatureVector v{"SUBJKEY...", "vitals", as_of_us, spec_hash, {{"vs_pulse_mean_24h", 81.5}}};
//   CTML_RETURN_NOT_OK(online->Put({v}));
//   CTML_ASSIGN_OR_RETURN(auto got, online->Get("SUBJKEY...", "vitals"));  // std::nullopt if none
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::store {

struct FeatureVector {
  std::string entity_key;  // subject_key (pseudonym)
  std::string view;
  int64_t as_of_us = 0;
  std::string spec_hash;
  // Feature values in spec order; NaN means "no data in the window" (null).
  std::vector<std::pair<std::string, double>> values;
};

class OnlineStore {
 public:
  virtual ~OnlineStore() = default;
  // Upserts every vector (replacing the whole previous vector of that entity and view).
  virtual Status Put(const std::vector<FeatureVector>& vectors) = 0;
  virtual Result<std::optional<FeatureVector>> Get(const std::string& entity_key,
                                                   const std::string& view) = 0;
  virtual Result<int64_t> Count(const std::string& view) = 0;
  virtual Result<std::vector<std::string>> Keys(const std::string& view, size_t limit) = 0;
  virtual Status Ping() = 0;
};

}  // namespace ctml::store
