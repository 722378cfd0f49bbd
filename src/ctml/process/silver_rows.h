// Canonical events -> Silver rows (docs/data/silver.md): the seven SDTM-aligned tables, their
// columns, the natural keys used for deduplication, and the quarantine rows of records that
// cannot be standardized. Pure functions of the event and the standardization tables, so the
// streaming and the batch path produce the same rows for the same input.
//
//   Extracted out;
//   ExtractRows(event, standards, &out);   // appends rows and quarantine entries
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "ctml/process/table_builder.h"

namespace ctml::ingest {
struct CanonicalEvent;
}

namespace ctml::process {

class Standards;

// null | string | int64 (also timestamps, µs UTC) | double | bool
using Value = std::variant<std::monostate, std::string, int64_t, double, bool>;

enum class Table {
  kSubjects,
  kVitals,
  kLabs,
  kAdverseEvents,
  kMedications,
  kExposure,
  kDisposition
};
constexpr int kTableCount = 7;

struct TableSchema {
  Table table;
  std::string name;        // silver/<name>/
  std::string event_type;  // canonical event type it comes from
  std::vector<ColumnDef> columns;
  int Column(std::string_view name) const;          // -1 when absent
  std::unordered_map<std::string_view, int> index;  // name -> position (filled once)
};

const std::vector<TableSchema>& SilverSchemas();  // indexed by Table
const TableSchema& SchemaOf(Table t);
// The table an event type feeds; nullptr for an unknown event type.
const TableSchema* SchemaForEventType(const std::string& event_type);
// Every raw topic Level 2 consumes (the topics of the seven event types).
std::vector<std::string> RawTopics();

// The columns every table starts with, in this order.
enum CommonColumn : int {
  kColEventId = 0,  // unique per row: the event id, or "<event id>:<VSTESTCD>" for vitals
  kColSourceEventId,
  kColDedupeKey,  // hex hash of the natural key
  kColSubjectKey,
  kColStudyId,
  kColSiteId,
  kColSource,
  kColEventTime,
  kColReceivedAt,
  kColPrecision,
  kCommonColumns
};

struct SilverRow {
  Table table = Table::kVitals;
  int64_t event_time_us = 0;
  std::string date;  // YYYY-MM-DD of event_time: the partition
  int64_t received_at_us = 0;
  std::string row_id;
  uint64_t natural_key = 0;
  uint64_t row_hash = 0;     // hash of row_id
  std::vector<Value> cells;  // one per column of the table's schema
};

struct QuarantineRow {
  Table table = Table::kVitals;
  int64_t event_time_us = 0;
  std::string date;  // YYYY-MM-DD of event_time: the partition
  int64_t received_at_us = 0;
  std::string row_id;  // as the Silver row would have had
  std::string source_event_id, subject_key, study_id, site_id, source;
  std::string test;         // the source's test name/code for findings, else empty
  std::string reason_code;  // UNKNOWN_TEST_CODE, UNKNOWN_UNIT, IMPLAUSIBLE_VALUE, ...
  std::string detail;
  std::string payload;  // the de-identified payload, so the record can be repaired and replayed
};
const std::vector<ColumnDef>& QuarantineColumns();
void AppendQuarantine(TableBuilder& b, const QuarantineRow& q);

struct Extracted {
  std::vector<SilverRow> rows;
  std::vector<QuarantineRow> quarantined;
};

// Appends the event's Silver rows (vitals: one per measurement) and quarantine rows to `out`.
// Every input row ends in exactly one of the two.
// `payload` (optional) is event.payload_json already parsed.
void ExtractRows(const ingest::CanonicalEvent& event, const Standards& standards, Extracted* out,
                 const nlohmann::json* payload = nullptr);

// Appends `row` to a builder of its table's schema.
void AppendRow(TableBuilder& b, const SilverRow& row);

// The number of input rows an event carries for reconciliation: its measurements for vitals,
// else 1. Counts what ExtractRows emits (rows + quarantined) for that event.
int64_t InputRows(const ingest::CanonicalEvent& event);

uint64_t Hash64(const std::string& s);

}  // namespace ctml::process
