// SDTM rows -> canonical events (docs/data/canonical-events.md, docs/ingest/sdtm.md).
//
//   ConvertContext ctx{.deid = &deid, .sites = &site_by_usubjid, .received_at_us = NowMicros()};
//   RowOutcome out = ConvertRow("VS", row, ctx);
//   if (out.event) events.push_back(std::move(*out.event));
//   else ++rejected[out.reason];          // MISSING_FIELD / INVALID_DATE / INVALID_VALUE ...
//
// Only --ORRES/--ORRESU (as collected) are read, never --STRESC/--STRESN/--STRESU: Level 2
// standardizes. Subject id = USUBJID (pseudonymized, dates shifted per subject).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ctml/ingest/canonical_event.h"
#include "ctml/ingest/sdtm/sdtm.h"

namespace ctml::privacy {
class Deidentifier;
}

namespace ctml::ingest::sdtm {

// DM VS LB AE DS EX CM.
bool IsSupportedDomain(std::string_view domain);
// The domain a dataset file holds, from its name (any case): "dm.xpt" -> "DM", "lbch.xpt" ->
// "LB", "VS.csv" -> "VS"; nullopt for other domains ("suppae.xpt", "mh.xpt") or extensions.
std::optional<std::string> DomainForFile(std::string_view filename);

struct ConvertContext {
  const privacy::Deidentifier* deid = nullptr;
  std::string study_override;  // --study: replaces STUDYID in the envelope when set
  // USUBJID -> SITEID built from DM; null or a miss gives site "UNKNOWN".
  const std::unordered_map<std::string, std::string>* sites = nullptr;
  int64_t received_at_us = 0;
};

// Exactly one of: `event` set, or `reason` (an UPPER_SNAKE code) and `field` (the SDTM
// variable) set. Never holds a subject identifier or a value from the row in `reason`/`field`.
struct RowOutcome {
  std::optional<CanonicalEvent> event;
  std::string reason;
  std::string field;
};

// `domain` is an upper-case supported domain ("LB" also for lbch/lbhe/lbur rows).
RowOutcome ConvertRow(std::string_view domain, const Row& row, const ConvertContext& ctx);

// "sdtm-" + first 32 hex of sha256(STUDYID/DOMAIN/subject_key/SEQ): the subject_key (a keyed
// pseudonym), never USUBJID, whose small id space an unkeyed hash would not hide.
std::string SdtmEventId(std::string_view study, std::string_view domain,
                        std::string_view subject_key, std::string_view seq);

}  // namespace ctml::ingest::sdtm
