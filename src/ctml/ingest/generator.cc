#include "ctml/ingest/generator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ingest/demo_ids.h"
#include "ctml/net/http.h"

namespace ctml::ingest {
namespace {

struct Baseline {
  double hr, rr, spo2, sbp, dbp, temp;
};

double Clamp(double v, double lo, double hi) { return std::max(lo, std::min(hi, v)); }

}  // namespace

std::vector<Reading> SimulateCohort(const GeneratorOptions& opts, int64_t end_us) {
  std::mt19937_64 rng(opts.seed);
  std::normal_distribution<double> n01(0.0, 1.0);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  const int64_t step = static_cast<int64_t>(opts.interval_minutes) * 60 * kMicrosPerSecond;
  const int64_t start = end_us - static_cast<int64_t>(opts.hours) * kMicrosPerHour;
  std::vector<Reading> out;
  for (int p = 0; p < opts.patients; ++p) {
    Baseline b{75 + 8 * n01(rng),   15 + 1.5 * n01(rng), 97.2 + 0.8 * n01(rng),
               122 + 12 * n01(rng), 78 + 7 * n01(rng),   36.8 + 0.25 * n01(rng)};
    // Episodes: onset times (leaving 24 h of lead-in), durations 2-6 h.
    std::vector<std::pair<int64_t, int64_t>> episodes;
    if (u01(rng) < 0.35 && opts.hours > 40) {
      int count = u01(rng) < 0.3 ? 2 : 1;
      for (int e = 0; e < count; ++e) {
        int64_t onset =
            start + static_cast<int64_t>((26 + u01(rng) * (opts.hours - 28)) * kMicrosPerHour);
        int64_t duration = static_cast<int64_t>((2 + 4 * u01(rng)) * kMicrosPerHour);
        episodes.emplace_back(onset, onset + duration);
      }
    }
    // Readings at a per-patient phase so that patients do not all report on the same second.
    int64_t phase = static_cast<int64_t>(u01(rng) * static_cast<double>(step));
    for (int64_t t = start + phase; t <= end_us; t += step) {
      double lead = 0.0;  // 0..1 as the next onset approaches within 24 h
      bool in_episode = false;
      for (auto [on, off] : episodes) {
        if (t >= on && t < off) in_episode = true;
        if (t < on && on - t <= 24 * kMicrosPerHour) {
          lead = std::max(lead, 1.0 - static_cast<double>(on - t) / (24.0 * kMicrosPerHour));
        }
      }
      Reading r;
      r.patient_index = p;
      r.time_us = t;
      r.in_episode = in_episode;
      r.heart_rate = Clamp(b.hr + 25 * lead + (in_episode ? 22 : 0) + 4 * n01(rng), 35, 200);
      r.respiratory_rate = Clamp(b.rr + 8 * lead + (in_episode ? 9 : 0) + 1.5 * n01(rng), 6, 50);
      r.temperature_celsius =
          Clamp(b.temp + 0.8 * lead + (in_episode ? 0.9 : 0) + 0.15 * n01(rng), 34.5, 41.5);
      double spo2 = in_episode ? 84 + 5 * u01(rng) : b.spo2 - 3 * lead + 0.7 * n01(rng);
      r.oxygen_saturation = Clamp(std::round(spo2 * 10) / 10, in_episode ? 80 : 90.5, 100);
      r.systolic_bp = Clamp(b.sbp + 6 * lead + 7 * n01(rng), 80, 220);
      r.diastolic_bp = Clamp(b.dbp + 3 * lead + 5 * n01(rng), 40, r.systolic_bp - 10);
      out.push_back(r);
    }
  }
  std::sort(out.begin(), out.end(), [](const Reading& a, const Reading& b) {
    return a.time_us != b.time_us ? a.time_us < b.time_us : a.patient_index < b.patient_index;
  });
  return out;
}

std::string EnvelopeJson(const GeneratorOptions& opts, const Reading& r) {
  auto round1 = [](double v) { return std::round(v * 10) / 10; };
  std::string patient = DemoPatientId(opts.seed, r.patient_index);
  Json j = {{"message_id", "gen-" + std::to_string(opts.seed) + "-" +
                               std::to_string(r.patient_index) + "-" + std::to_string(r.time_us)},
            {"timestamp", FormatIso8601(NowMicros())},
            {"study_phase", "Phase II"},
            {"study_id", opts.study_id},
            {"site_id", "SITE" + std::to_string(1 + r.patient_index % 5)},
            {"vital_signs",
             {{"patient_id", patient},
              {"measurement_time", FormatIso8601(r.time_us)},
              {"systolic_bp", std::round(r.systolic_bp)},
              {"diastolic_bp", std::round(r.diastolic_bp)},
              {"heart_rate", std::round(r.heart_rate)},
              {"temperature_celsius", round1(r.temperature_celsius)},
              {"respiratory_rate", std::round(r.respiratory_rate)},
              {"oxygen_saturation", round1(r.oxygen_saturation)}}}};
  return j.dump();
}

Result<GeneratorReport> PostReadings(const GeneratorOptions& opts,
                                     const std::vector<Reading>& readings,
                                     const std::function<void(int64_t, int64_t)>& progress) {
  net::HttpClient client(opts.host, opts.port);
  if (!opts.api_key.empty()) client.SetDefaultHeader("X-API-Key", opts.api_key);
  GeneratorReport report;
  auto t0 = std::chrono::steady_clock::now();
  const int64_t total = static_cast<int64_t>(readings.size());
  const int64_t batch = std::max(1, opts.batch);
  int64_t next_progress = std::max<int64_t>(1, total / 20);
  for (int64_t i = 0; i < total; i += batch) {
    int64_t n = std::min(batch, total - i);
    if (opts.rate > 0) {
      auto due = t0 + std::chrono::duration<double>(static_cast<double>(i) / opts.rate);
      std::this_thread::sleep_until(due);
    }
    std::string body;
    if (batch == 1) {
      body = EnvelopeJson(opts, readings[i]);
    } else {
      body = "[";
      for (int64_t k = i; k < i + n; ++k)
        body += (k > i ? "," : "") + EnvelopeJson(opts, readings[k]);
      body += "]";
    }
    auto resp = client.Post(batch == 1 ? "/api/clinical/data" : "/api/clinical/batch", body);
    if (!resp.ok()) {
      return resp.status().WithContext("posting to the gateway at " + opts.host + ":" +
                                       std::to_string(opts.port) + " failed (is it running?)");
    }
    report.sent += n;
    int64_t rejected = 0;
    if (resp->status == 200 && batch > 1) {
      auto j = ParseJson(resp->body);
      rejected = j.ok() ? j->value("rejected", n) : n;
    } else if (resp->status != 200) {
      rejected = n;
    }
    report.accepted += n - rejected;
    report.rejected += rejected;
    if (rejected > 0) {
      return Status::Internal("the gateway rejected generated records (HTTP " +
                              std::to_string(resp->status) + "): " + resp->body.substr(0, 300));
    }
    if (progress && (i + n >= next_progress || i + n == total)) {
      progress(i + n, total);
      next_progress = i + n + std::max<int64_t>(1, total / 20);
    }
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace ctml::ingest
