// The demo generator: realistic vital signs for N synthetic patients, posted to the gateway.
//
// Planted early-warning pattern (what a model can truly learn from vitals alone), see
// docs/data/demo-generator.md: about a third of the patients have one or two desaturation
// episodes (SpO2 84-89 % for 2-6 hours). In the 24 hours before an episode, heart rate drifts up
// by up to +25 /min, respiratory rate by up to +8 /min, temperature by up to +0.8 C and SpO2
// down by up to 3 points, linearly with the time to onset; everything else is noise around the
// patient's own baseline.
//
//   auto readings = SimulateCohort(opts, NowMicros());       // pure, deterministic per seed
//   CTML_ASSIGN_OR_RETURN(auto report, PostReadings(opts, readings, progress));
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ctml/core/status.h"

namespace ctml::ingest {

struct GeneratorOptions {
  int patients = 60;
  int hours = 96;
  int interval_minutes = 60;
  double rate = 2000;  // records per second, <= 0 = as fast as possible
  uint64_t seed = 7;
  std::string host = "127.0.0.1";
  uint16_t port = 8082;
  std::string study_id = "CTML-DEMO-01";
  int batch = 100;      // records per request: 1 = POST /api/clinical/data, else /batch
  std::string api_key;  // sent as X-API-Key when not empty
};

struct Reading {
  int patient_index = 0;
  int64_t time_us = 0;
  double systolic_bp = 0, diastolic_bp = 0, heart_rate = 0, temperature_celsius = 0,
         respiratory_rate = 0, oxygen_saturation = 0;
  bool in_episode = false;  // ground truth, not sent
};

struct GeneratorReport {
  int64_t sent = 0;
  int64_t accepted = 0;
  int64_t rejected = 0;
  double seconds = 0;
};

// Readings of every patient, sorted by time (then patient), ending at `end_us`.
std::vector<Reading> SimulateCohort(const GeneratorOptions& opts, int64_t end_us);

// The gateway envelope for one reading (the patient id comes from DemoPatientId).
std::string EnvelopeJson(const GeneratorOptions& opts, const Reading& r);

// Posts every reading to the gateway at opts.rate, opts.batch records per request
// (POST /api/clinical/batch, or /api/clinical/data when batch is 1); `progress(done, total)` is
// called about every 5 %. Fails when the gateway cannot be reached or rejects a record.
Result<GeneratorReport> PostReadings(const GeneratorOptions& opts,
                                     const std::vector<Reading>& readings,
                                     const std::function<void(int64_t, int64_t)>& progress);

}  // namespace ctml::ingest
