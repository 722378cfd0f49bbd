#include "ctml/process/silver_writer.h"

#include <arrow/api.h>

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/process/batch_intent.h"
#include "ctml/process/standards.h"
#include "ctml/process/table_builder.h"

namespace ctml::process {
namespace {

std::string Dir(const char* area, Table t, const std::string& date) {
  return std::string(area) + "/" + SchemaOf(t).name + "/date=" + date;
}

const std::vector<ColumnDef>& LedgerColumns() {
  static const std::vector<ColumnDef> kCols = {
      {"event_id", ColumnType::kString},        {"source_event_id", ColumnType::kString},
      {"dedupe_key", ColumnType::kString},      {"subject_key", ColumnType::kString},
      {"event_time", ColumnType::kTimestampUs}, {"received_at", ColumnType::kTimestampUs},
      {"reason_code", ColumnType::kString}};
  return kCols;
}

struct LedgerRow {
  std::string event_id, source_event_id, dedupe_key, subject_key;
  int64_t event_time = 0, received_at = 0;
  std::string reason;
};

LedgerRow LedgerOf(const SilverRow& r, const char* reason) {
  return {std::get<std::string>(r.cells[kColEventId]),
          std::get<std::string>(r.cells[kColSourceEventId]),
          std::get<std::string>(r.cells[kColDedupeKey]),
          std::get<std::string>(r.cells[kColSubjectKey]),
          r.event_time_us,
          r.received_at_us,
          reason};
}

Result<std::shared_ptr<arrow::Table>> LedgerTable(const std::vector<LedgerRow>& rows) {
  TableBuilder b(LedgerColumns());
  for (const auto& r : rows) {
    b.String(0, r.event_id);
    b.String(1, r.source_event_id);
    b.String(2, r.dedupe_key);
    b.String(3, r.subject_key);
    b.Timestamp(4, r.event_time);
    b.Timestamp(5, r.received_at);
    b.String(6, r.reason);
    b.EndRow();
  }
  return b.Finish();
}

uint64_t ParseHex(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) v = (v << 4) | static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  return v;
}

// Column access on a table combined into single chunks.
class Columns {
 public:
  static Result<Columns> Of(const std::shared_ptr<arrow::Table>& t) {
    auto combined = t->CombineChunks();
    if (!combined.ok()) return Status::Internal(combined.status().ToString());
    Columns c;
    c.table_ = *combined;
    return c;
  }
  int64_t rows() const { return table_->num_rows(); }
  std::shared_ptr<arrow::Array> Get(const std::string& name) const {
    auto col = table_->GetColumnByName(name);
    return col && col->num_chunks() > 0 ? col->chunk(0) : nullptr;
  }
  std::string String(const std::shared_ptr<arrow::Array>& a, int64_t i) const {
    if (!a || a->IsNull(i)) return "";
    return std::static_pointer_cast<arrow::StringArray>(a)->GetString(i);
  }
  int64_t Int(const std::shared_ptr<arrow::Array>& a, int64_t i) const {
    if (!a || a->IsNull(i)) return 0;
    switch (a->type_id()) {
      case arrow::Type::TIMESTAMP:
        return std::static_pointer_cast<arrow::TimestampArray>(a)->Value(i);
      case arrow::Type::INT32:
        return std::static_pointer_cast<arrow::Int32Array>(a)->Value(i);
      case arrow::Type::INT64:
        return std::static_pointer_cast<arrow::Int64Array>(a)->Value(i);
      default:
        return 0;
    }
  }
  const std::shared_ptr<arrow::Table>& table() const { return table_; }

 private:
  std::shared_ptr<arrow::Table> table_;
};

// The dedupe index of one (table, date) partition: alive rows by row id hash and natural key.
struct PartIndex {
  struct Entry {
    int64_t received = 0;
    uint64_t row_hash = 0, nk = 0;
    int32_t file = -1;   // index into files; -1: a row of the batch being written
    size_t pending = 0;  // its index in the batch when file == -1
  };
  std::vector<std::string> files;
  std::vector<Entry> entries;
  std::unordered_map<uint64_t, uint32_t> by_row, by_nk;

  void Erase(uint32_t id) {
    const Entry& e = entries[id];
    if (auto it = by_row.find(e.row_hash); it != by_row.end() && it->second == id) by_row.erase(it);
    if (auto it = by_nk.find(e.nk); it != by_nk.end() && it->second == id) by_nk.erase(it);
  }
  uint32_t Add(Entry e) {
    entries.push_back(e);
    auto id = static_cast<uint32_t>(entries.size() - 1);
    by_row[e.row_hash] = id;
    by_nk[e.nk] = id;
    return id;
  }
};

// Does the existing entry win against a new row? Order-independent: the latest received_at
// wins; between different rows an exact tie goes to the larger row hash; the same row received
// at the same time is the same record (the existing copy is kept).
bool ExistingWins(const PartIndex::Entry& e, int64_t received, uint64_t row_hash) {
  if (e.row_hash == row_hash) return e.received >= received;
  if (e.received != received) return e.received > received;
  return e.row_hash > row_hash;
}

using PartKey = std::pair<int, std::string>;  // (table, date)

// ExtractRows, counting the event's input rows (what it emitted) for its table.
void ExtractCounted(const ingest::CanonicalEvent& ev, const Standards& standards,
                    const Json* payload, Extracted* ex, SilverWriter::Prepared* p) {
  size_t rows0 = ex->rows.size(), q0 = ex->quarantined.size();
  ExtractRows(ev, standards, ex, payload);
  const TableSchema* s = SchemaForEventType(ev.event_type);
  p->counts[static_cast<size_t>(s ? s->table : Table::kVitals)].input_rows +=
      static_cast<int64_t>(ex->rows.size() - rows0 + ex->quarantined.size() - q0);
}

}  // namespace

std::string RowJson(const SilverRow& row) {
  const TableSchema& s = SchemaOf(row.table);
  Json j = Json::object();
  for (size_t i = 0; i < s.columns.size(); ++i) {
    const Value& v = row.cells[i];
    const std::string& name = s.columns[i].name;
    if (std::holds_alternative<std::monostate>(v)) {
      j[name] = nullptr;
    } else if (s.columns[i].type == ColumnType::kTimestampUs) {
      j[name] = FormatIso8601(std::get<int64_t>(v));
    } else {
      std::visit(
          [&](const auto& x) {
            if constexpr (!std::is_same_v<std::decay_t<decltype(x)>, std::monostate>) j[name] = x;
          },
          v);
    }
  }
  j["table"] = s.name;
  j["event_time_us"] = row.event_time_us;
  j["received_at_us"] = row.received_at_us;
  return j.dump();
}

struct SilverWriter::Impl {
  store::Lake& lake;
  const Standards& standards;
  std::map<PartKey, PartIndex> index;
  // Batch number in which each indexed partition was last written: the least recently written
  // partitions are dropped beyond kMaxIndexedPartitions and reloaded from the lake when needed,
  // so a long-running stream's memory follows its active days, not its history.
  static constexpr size_t kMaxIndexedPartitions = 256;
  std::map<PartKey, uint64_t> last_used;
  uint64_t batches = 0;

  void Evict() {
    while (index.size() > kMaxIndexedPartitions) {
      auto oldest =
          std::min_element(last_used.begin(), last_used.end(),
                           [](const auto& a, const auto& b) { return a.second < b.second; });
      index.erase(oldest->first);
      last_used.erase(oldest);
    }
  }

  Impl(store::Lake& l, const Standards& s) : lake(l), standards(s) {}

  Result<PartIndex*> Get(const PartKey& key, bool from_lake) {
    auto it = index.find(key);
    if (it != index.end()) return &it->second;
    PartIndex ix;
    if (from_lake) {
      CTML_ASSIGN_OR_RETURN(auto files,
                            lake.List(Dir("silver", static_cast<Table>(key.first), key.second)));
      for (const auto& f : files) {
        if (f.path.size() < 8 || f.path.substr(f.path.size() - 8) != ".parquet") continue;
        CTML_ASSIGN_OR_RETURN(
            auto t, lake.ReadParquetColumns(f.path, {"event_id", "dedupe_key", "received_at"}));
        CTML_ASSIGN_OR_RETURN(auto cols, Columns::Of(t));
        auto id = cols.Get("event_id"), nk = cols.Get("dedupe_key"), rec = cols.Get("received_at");
        if (!id || !nk || !rec) return Status::Internal(f.path + " lacks the dedupe columns");
        auto file = static_cast<int32_t>(ix.files.size());
        ix.files.push_back(f.path);
        for (int64_t i = 0; i < cols.rows(); ++i) {
          ix.Add({cols.Int(rec, i), Hash64(cols.String(id, i)), ParseHex(cols.String(nk, i)), file,
                  0});
        }
      }
    }
    return &index.emplace(key, std::move(ix)).first->second;
  }

  // Dedupe + write of prepared rows. `from_lake`: index existing Silver (streaming); batch mode
  // starts each partition empty.
  Result<WriteOutcome> WriteRows(Prepared& p, bool from_lake) {
    WriteOutcome out;
    out.counts = p.counts;
    out.malformed_events = p.malformed;
    std::vector<bool> alive(p.rows.size(), true);
    std::map<PartKey, std::vector<LedgerRow>> ledger;
    // (table, date, file) -> row hashes to remove from that older file
    std::map<std::pair<PartKey, int32_t>, std::set<uint64_t>> supersede;
    std::vector<std::pair<PartKey, uint32_t>> pending_entries;
    for (size_t i = 0; i < p.rows.size(); ++i) {
      const SilverRow& r = p.rows[i];
      PartKey key{static_cast<int>(r.table), r.date};
      CTML_ASSIGN_OR_RETURN(PartIndex * ix, Get(key, from_lake));
      std::vector<std::pair<uint32_t, const char*>> cands;
      if (auto it = ix->by_row.find(r.row_hash); it != ix->by_row.end()) {
        cands.emplace_back(it->second, "EXACT_DUPLICATE");
      }
      if (auto it = ix->by_nk.find(r.natural_key); it != ix->by_nk.end()) {
        if (cands.empty() || cands[0].first != it->second) {
          cands.emplace_back(it->second, "NATURAL_KEY_DUPLICATE");
        }
      }
      const char* lost = nullptr;
      for (auto& [id, reason] : cands) {
        const PartIndex::Entry e = ix->entries[id];
        if (ExistingWins(e, r.received_at_us, r.row_hash)) {
          if (!lost) lost = reason;
          continue;
        }
        ix->Erase(id);  // the new row replaces it
        if (e.file < 0) {
          alive[e.pending] = false;
          ledger[key].push_back(LedgerOf(p.rows[e.pending], reason));
        } else {
          supersede[{key, e.file}].insert(e.row_hash);
        }
      }
      if (lost) {
        alive[i] = false;
        ledger[key].push_back(LedgerOf(r, lost));
        continue;
      }
      uint32_t id = ix->Add({r.received_at_us, r.row_hash, r.natural_key, -1, i});
      pending_entries.emplace_back(key, id);
    }
    // New rows, quarantine and the ledger of this batch, one file per partition.
    std::map<PartKey, TableBuilder> silver, quarantine;
    for (size_t i = 0; i < p.rows.size(); ++i) {
      if (!alive[i]) continue;
      const SilverRow& r = p.rows[i];
      PartKey key{static_cast<int>(r.table), r.date};
      auto it = silver.find(key);
      if (it == silver.end())
        it = silver.emplace(key, TableBuilder(SchemaOf(r.table).columns)).first;
      AppendRow(it->second, r);
      out.counts[static_cast<size_t>(r.table)].silver_rows++;
    }
    for (const auto& q : p.quarantined) {
      PartKey key{static_cast<int>(q.table), q.date};
      auto it = quarantine.find(key);
      if (it == quarantine.end())
        it = quarantine.emplace(key, TableBuilder(QuarantineColumns())).first;
      AppendQuarantine(it->second, q);
      out.counts[static_cast<size_t>(q.table)].quarantined++;
    }
    for (auto& [key, b] : silver) {
      CTML_ASSIGN_OR_RETURN(auto t, b.Finish());
      out.files.push_back(Dir("silver", static_cast<Table>(key.first), key.second) + "/" + p.part);
      CTML_RETURN_NOT_OK(lake.WriteParquet(out.files.back(), t));
    }
    for (auto& [key, b] : quarantine) {
      CTML_ASSIGN_OR_RETURN(auto t, b.Finish());
      out.files.push_back(Dir("quarantine", static_cast<Table>(key.first), key.second) + "/" +
                          p.part);
      CTML_RETURN_NOT_OK(lake.WriteParquet(out.files.back(), t));
    }
    for (auto& [key, rows] : ledger) {
      CTML_ASSIGN_OR_RETURN(auto t, LedgerTable(rows));
      out.files.push_back(Dir("duplicates", static_cast<Table>(key.first), key.second) + "/" +
                          p.part);
      CTML_RETURN_NOT_OK(lake.WriteParquet(out.files.back(), t));
      out.counts[static_cast<size_t>(key.first)].duplicates += static_cast<int64_t>(rows.size());
    }
    // The batch's rows now live in its part file.
    std::map<PartKey, int32_t> file_id;
    for (auto& [key, id] : pending_entries) {
      PartIndex& ix = index[key];
      auto f = file_id.find(key);
      if (f == file_id.end()) {
        ix.files.push_back(Dir("silver", static_cast<Table>(key.first), key.second) + "/" + p.part);
        f = file_id.emplace(key, static_cast<int32_t>(ix.files.size() - 1)).first;
      }
      ix.entries[id].file = f->second;
    }
    // Older rows the batch superseded: ledger first (named after what it removes, so a replay
    // rewrites the same file), then the older file without them.
    for (auto& [where, hashes] : supersede) {
      const auto& [key, file] = where;
      const std::string path = index[key].files[static_cast<size_t>(file)];
      CTML_ASSIGN_OR_RETURN(int64_t removed,
                            RemoveRows(static_cast<Table>(key.first), key.second, path, hashes));
      out.counts[static_cast<size_t>(key.first)].duplicates += removed;
    }
    for (size_t i = 0; i < p.rows.size(); ++i) {
      if (alive[i]) out.written.push_back(std::move(p.rows[i]));
    }
    ++batches;
    for (const auto& [key, id] : pending_entries) last_used[key] = batches;
    for (const auto& [where, hashes] : supersede) last_used[where.first] = batches;
    for (auto it = last_used.begin(); it != last_used.end();) {  // partitions dropped elsewhere
      it = index.count(it->first) ? std::next(it) : last_used.erase(it);
    }
    for (const auto& [key, ix] : index) last_used.emplace(key, batches);  // indexed, no new row
    Evict();
    return out;
  }

  Result<int64_t> RemoveRows(Table table, const std::string& date, const std::string& path,
                             const std::set<uint64_t>& hashes) {
    CTML_ASSIGN_OR_RETURN(auto t, lake.ReadParquet(path));
    CTML_ASSIGN_OR_RETURN(auto cols, Columns::Of(t));
    auto id = cols.Get("event_id"), src = cols.Get("source_event_id"), nk = cols.Get("dedupe_key"),
         subj = cols.Get("subject_key"), et = cols.Get("event_time"), rec = cols.Get("received_at");
    std::vector<LedgerRow> removed;
    std::vector<std::shared_ptr<arrow::Table>> kept;
    int64_t run_start = 0;
    for (int64_t i = 0; i <= cols.rows(); ++i) {
      bool drop = i < cols.rows() && hashes.count(Hash64(cols.String(id, i))) > 0;
      if (i == cols.rows() || drop) {
        if (i > run_start) kept.push_back(cols.table()->Slice(run_start, i - run_start));
        run_start = i + 1;
      }
      if (!drop) continue;
      removed.push_back({cols.String(id, i), cols.String(src, i), cols.String(nk, i),
                         cols.String(subj, i), cols.Int(et, i), cols.Int(rec, i),
                         "SUPERSEDED_BY_LATER_RECEIVED"});
    }
    if (removed.empty()) return 0;  // already removed by an attempt that was rolled back
    // One ledger file per removed row, named after the row: however a replay groups the rows,
    // it rewrites the same files, so a removed row is counted once.
    for (const auto& row : removed) {
      CTML_ASSIGN_OR_RETURN(auto ledger, LedgerTable({row}));
      char name[48];
      std::snprintf(name, sizeof name, "superseded-%016llx.parquet",
                    static_cast<unsigned long long>(
                        Hash64(row.event_id + "|" + std::to_string(row.received_at))));
      CTML_RETURN_NOT_OK(lake.WriteParquet(Dir("duplicates", table, date) + "/" + name, ledger));
    }
    if (kept.empty()) {
      CTML_RETURN_NOT_OK(lake.Delete(path));
    } else {
      auto merged = arrow::ConcatenateTables(kept);
      if (!merged.ok()) return Status::Internal(merged.status().ToString());
      CTML_RETURN_NOT_OK(lake.WriteParquet(path, *merged));
    }
    return static_cast<int64_t>(removed.size());
  }
};

SilverWriter::SilverWriter(store::Lake& lake, const Standards& standards)
    : impl_(std::make_unique<Impl>(lake, standards)) {}
SilverWriter::~SilverWriter() = default;

void SilverWriter::ResetIndex() {
  impl_->index.clear();
  impl_->last_used.clear();
}

Result<std::unique_ptr<SilverWriter::Prepared>> SilverWriter::Prepare(
    const std::vector<store::LogRecord>& batch) {
  auto p = std::make_unique<Prepared>();
  if (batch.empty()) return p;
  p->part = PartName(batch);
  Extracted ex;
  Json payload;
  for (const auto& rec : batch) {
    auto ev = ingest::CanonicalEvent::FromJson(rec.value, &payload);
    if (!ev.ok() || SchemaForEventType(ev->event_type) == nullptr) {
      ++p->malformed;  // bronze-sink quarantines it (quarantine/envelopes/)
      continue;
    }
    ExtractCounted(*ev, impl_->standards, &payload, &ex, p.get());
  }
  for (auto& r : ex.rows) p->touched.insert({static_cast<int>(r.table), r.date});
  for (auto& q : ex.quarantined) {
    p->touched.insert({static_cast<int>(q.table), q.date});
  }
  p->rows = std::move(ex.rows);
  p->quarantined = std::move(ex.quarantined);
  return p;
}

std::vector<std::string> SilverWriter::FilesOf(const Prepared& p) const {
  std::vector<std::string> files;
  for (const auto& [table, date] : p.touched) {
    for (const char* area : {"silver", "quarantine", "duplicates"}) {
      files.push_back(Dir(area, static_cast<Table>(table), date) + "/" + p.part);
    }
  }
  return files;
}

Result<WriteOutcome> SilverWriter::Write(Prepared& p) { return impl_->WriteRows(p, true); }

Status CheckRebuildSafe(store::EventLog& log, store::Lake& lake) {
  for (const char* service : {"process", "bronze-sink"}) {
    auto intent = lake.GetBytes(std::string("_state/") + service + "/intent.json");
    if (intent.ok()) {
      return Status::FailedPrecondition(std::string(service) +
                                        " has a batch in flight (or was killed in one); wait for "
                                        "it, or start it once so it recovers, then rerun");
    }
  }
  for (const auto& topic : RawTopics()) {
    CTML_ASSIGN_OR_RETURN(auto lags, log.Lag(topic));
    int64_t bronze = 0, silver = 0;
    for (const auto& g : lags) {
      if (g.group == "bronze-sink") bronze = g.committed;
      if (g.group == "process") silver = g.committed;
    }
    if (bronze != silver) {
      return Status::FailedPrecondition(
          "topic " + topic + ": bronze-sink has consumed " + std::to_string(bronze) +
          " records and process " + std::to_string(silver) + "; a rebuild from Bronze would " +
          (bronze < silver ? "drop" : "add") +
          " rows the stream did not. Wait until both are drained (./pipeline-manager.sh -s) "
          "or stop them at the same point; --force skips this check");
    }
  }
  return Status::OK();
}

Result<std::vector<std::string>> PartitionDates(store::Lake& lake, const std::string& dir) {
  CTML_ASSIGN_OR_RETURN(auto files, lake.List(dir));
  std::set<std::string> dates;
  for (const auto& f : files) {
    auto pos = f.path.find("/date=");
    if (pos != std::string::npos && f.path.size() >= pos + 16) {
      dates.insert(f.path.substr(pos + 6, 10));
    }
  }
  return std::vector<std::string>(dates.begin(), dates.end());
}

Result<WriteOutcome> SilverWriter::RebuildFromBronze(
    const std::vector<std::string>& wanted,
    const std::function<void(const std::string&)>& progress) {
  std::vector<std::string> dates = wanted;
  if (dates.empty()) {
    std::set<std::string> all;
    for (const auto& s : SilverSchemas()) {
      CTML_ASSIGN_OR_RETURN(auto d, PartitionDates(impl_->lake, "bronze/" + s.event_type));
      all.insert(d.begin(), d.end());
    }
    dates.assign(all.begin(), all.end());
  }
  WriteOutcome total;
  size_t done = 0;
  for (const auto& date : dates) {
    // Bronze rows of this date in log order (the order the stream consumed them in).
    struct Item {
      std::string topic;
      int64_t partition, offset;
      ingest::CanonicalEvent ev;
    };
    std::vector<Item> items;
    for (const auto& s : SilverSchemas()) {
      auto t = impl_->lake.ReadDataset("bronze/" + s.event_type + "/date=" + date);
      if (!t.ok()) {
        if (t.status().code() == StatusCode::kNotFound) continue;
        return t.status();
      }
      CTML_ASSIGN_OR_RETURN(auto cols, Columns::Of(*t));
      auto c = [&](const char* n) { return cols.Get(n); };
      auto id = c("event_id"), type = c("event_type"), study = c("study_id"), site = c("site_id"),
           subj = c("subject_key"), et = c("event_time"), rec = c("received_at"), src = c("source"),
           ver = c("schema_version"), payload = c("payload"), topic = c("log_topic"),
           part = c("log_partition"), off = c("log_offset");
      for (int64_t i = 0; i < cols.rows(); ++i) {
        Item it{cols.String(topic, i), cols.Int(part, i), cols.Int(off, i), {}};
        it.ev.event_id = cols.String(id, i);
        it.ev.event_type = cols.String(type, i);
        it.ev.study_id = cols.String(study, i);
        it.ev.site_id = cols.String(site, i);
        it.ev.subject_key = cols.String(subj, i);
        it.ev.event_time_us = cols.Int(et, i);
        it.ev.received_at_us = cols.Int(rec, i);
        it.ev.source = cols.String(src, i);
        it.ev.schema_version = static_cast<int>(cols.Int(ver, i));
        it.ev.payload_json = cols.String(payload, i);
        items.push_back(std::move(it));
      }
    }
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
      return std::tie(a.topic, a.partition, a.offset) < std::tie(b.topic, b.partition, b.offset);
    });
    Prepared p;
    p.part = "part-bronze.parquet";
    Extracted ex;
    for (const auto& it : items) ExtractCounted(it.ev, impl_->standards, nullptr, &ex, &p);
    p.rows = std::move(ex.rows);
    p.quarantined = std::move(ex.quarantined);
    // Rows whose event date differs from the Bronze partition cannot occur (both use the event
    // date), so the rebuilt partitions are exactly `date`'s.
    ResetIndex();
    CTML_ASSIGN_OR_RETURN(auto out, impl_->WriteRows(p, false));
    ResetIndex();
    // Everything else in the rebuilt partitions is replaced (including a part-bronze file of an
    // earlier rebuild that this one did not rewrite).
    std::set<std::string> written(out.files.begin(), out.files.end());
    for (const auto& s : SilverSchemas()) {
      for (const char* area : {"silver", "quarantine", "duplicates"}) {
        CTML_ASSIGN_OR_RETURN(auto files, impl_->lake.List(Dir(area, s.table, date)));
        for (const auto& f : files) {
          if (written.count(f.path) == 0) CTML_RETURN_NOT_OK(impl_->lake.Delete(f.path));
        }
      }
    }
    for (size_t t = 0; t < kTableCount; ++t) {
      total.counts[t].input_rows += out.counts[t].input_rows;
      total.counts[t].silver_rows += out.counts[t].silver_rows;
      total.counts[t].quarantined += out.counts[t].quarantined;
      total.counts[t].duplicates += out.counts[t].duplicates;
    }
    ++done;
    if (progress) {
      int64_t rows = 0;
      for (const auto& c : out.counts) rows += c.silver_rows;
      progress("[" + std::to_string(done) + "/" + std::to_string(dates.size()) + "] " + date +
               ": " + std::to_string(items.size()) + " bronze events -> " + std::to_string(rows) +
               " silver rows");
    }
  }
  return total;
}

}  // namespace ctml::process
