#include "ctml/process/report.h"

#include <arrow/api.h>

#include <set>
#include <sstream>

#include "ctml/core/json.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/process/silver_rows.h"
#include "ctml/process/silver_writer.h"

namespace ctml::process {
namespace {

bool WantDate(const std::string& path, const std::string& date) {
  return date.empty() || path.find("/date=" + date + "/") != std::string::npos;
}

std::string DateOf(const std::string& path) {
  auto pos = path.find("/date=");
  return pos == std::string::npos ? "" : path.substr(pos + 6, 10);
}

// Calls fn(value) for every value of string column `name` (none when the column is absent).
template <typename Fn>
void ForEachString(const std::shared_ptr<arrow::Table>& t, const std::string& name, Fn fn) {
  auto col = t->GetColumnByName(name);
  for (int c = 0; col && c < col->num_chunks(); ++c) {
    auto a = std::static_pointer_cast<arrow::StringArray>(col->chunk(c));
    for (int64_t i = 0; i < a->length(); ++i) fn(a->GetString(i));
  }
}

// Calls fn(path, table) for every Parquet file under dir (of `date`), reading only `columns`.
template <typename Fn>
Status ForFiles(store::Lake& lake, const std::string& dir, const std::string& date,
                const std::vector<std::string>& columns, Fn fn) {
  CTML_ASSIGN_OR_RETURN(auto files, lake.List(dir));
  for (const auto& f : files) {
    if (!WantDate(f.path, date) || f.path.size() < 8 ||
        f.path.compare(f.path.size() - 8, 8, ".parquet") != 0) {
      continue;
    }
    CTML_ASSIGN_OR_RETURN(auto t, lake.ReadParquetColumns(f.path, columns));
    CTML_RETURN_NOT_OK(fn(f.path, t));
  }
  return Status::OK();
}

}  // namespace

Result<ProcessReport> BuildReport(store::Lake& lake, const std::string& date) {
  ProcessReport r;
  std::set<std::string> subjects_with_events, subjects;
  for (const auto& s : SilverSchemas()) {
    std::map<std::string, ReportLine> by_date;
    auto line = [&](const std::string& path) -> ReportLine& {
      ReportLine& l = by_date[DateOf(path)];
      l.table = s.name;
      l.date = DateOf(path);
      return l;
    };
    CTML_RETURN_NOT_OK(ForFiles(lake, "bronze/" + s.event_type, date,
                                s.table == Table::kVitals ? std::vector<std::string>{"payload"}
                                                          : std::vector<std::string>{},
                                [&](const auto& path, const auto& t) {
                                  ReportLine& l = line(path);
                                  if (s.table != Table::kVitals) {
                                    l.input_rows += t->num_rows();
                                    return Status::OK();
                                  }
                                  ForEachString(t, "payload", [&](std::string payload) {
                                    ingest::CanonicalEvent ev;
                                    ev.event_type = s.event_type;
                                    ev.payload_json = std::move(payload);
                                    l.input_rows += InputRows(ev);
                                  });
                                  return Status::OK();
                                }));
    CTML_RETURN_NOT_OK(ForFiles(
        lake, "silver/" + s.name, date, {"subject_key"}, [&](const auto& path, const auto& t) {
          line(path).silver += t->num_rows();
          auto& seen = s.table == Table::kSubjects ? subjects : subjects_with_events;
          ForEachString(t, "subject_key", [&](std::string k) { seen.insert(std::move(k)); });
          return Status::OK();
        }));
    CTML_RETURN_NOT_OK(ForFiles(
        lake, "quarantine/" + s.name, date, {"reason_code"}, [&](const auto& path, const auto& t) {
          line(path).quarantined += t->num_rows();
          ForEachString(t, "reason_code",
                        [&](const std::string& code) { r.quarantine_reasons[s.name][code]++; });
          return Status::OK();
        }));
    CTML_RETURN_NOT_OK(ForFiles(
        lake, "duplicates/" + s.name, date, {"reason_code"}, [&](const auto& path, const auto& t) {
          line(path).duplicates += t->num_rows();
          ForEachString(t, "reason_code",
                        [&](const std::string& code) { r.duplicate_reasons[code]++; });
          return Status::OK();
        }));
    ReportLine total;
    total.table = s.name;
    for (const auto& [d, l] : by_date) {
      total.input_rows += l.input_rows;
      total.silver += l.silver;
      total.quarantined += l.quarantined;
      total.duplicates += l.duplicates;
      if (!l.balanced()) r.unbalanced.push_back(l);
    }
    r.totals.push_back(total);
  }
  CTML_RETURN_NOT_OK(
      ForFiles(lake, "quarantine/envelopes", date, {}, [&](const auto&, const auto& t) {
        r.envelopes_quarantined += t->num_rows();
        return Status::OK();
      }));
  for (const auto& s : subjects_with_events) r.orphan_subjects += subjects.count(s) ? 0 : 1;
  return r;
}

std::string FormatReport(const ProcessReport& r) {
  std::ostringstream o;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%-15s %12s %12s %12s %12s  %s\n", "table", "input rows", "silver",
                "quarantined", "duplicates", "balance");
  o << buf;
  for (const auto& l : r.totals) {
    std::snprintf(buf, sizeof buf, "%-15s %12lld %12lld %12lld %12lld  %s\n", l.table.c_str(),
                  static_cast<long long>(l.input_rows), static_cast<long long>(l.silver),
                  static_cast<long long>(l.quarantined), static_cast<long long>(l.duplicates),
                  l.balanced() ? "ok" : "MISMATCH");
    o << buf;
  }
  for (const auto& l : r.unbalanced) {
    o << "  " << l.table << " date=" << l.date << ": " << l.input_rows << " in != " << l.silver
      << " + " << l.quarantined << " + " << l.duplicates << "\n";
  }
  for (const auto& [table, reasons] : r.quarantine_reasons) {
    o << "quarantined " << table << ":";
    for (const auto& [code, n] : reasons) o << " " << code << "=" << n;
    o << "\n";
  }
  if (!r.duplicate_reasons.empty()) {
    o << "duplicates:";
    for (const auto& [code, n] : r.duplicate_reasons) o << " " << code << "=" << n;
    o << "\n";
  }
  o << "envelopes quarantined before bronze: " << r.envelopes_quarantined << "\n";
  o << "subjects with events but no subjects row: " << r.orphan_subjects << "\n";
  o << (r.balanced() ? "balanced: every input row is in silver, quarantine or duplicates\n"
                     : "NOT balanced: see the dates above\n");
  return o.str();
}

std::string ReportJson(const ProcessReport& r) {
  Json j = {{"balanced", r.balanced()},
            {"tables", Json::array()},
            {"unbalanced", Json::array()},
            {"quarantine_reasons", r.quarantine_reasons},
            {"duplicate_reasons", r.duplicate_reasons},
            {"envelopes_quarantined", r.envelopes_quarantined},
            {"orphan_subjects", r.orphan_subjects}};
  auto line = [](const ReportLine& l) {
    return Json{{"table", l.table},
                {"date", l.date},
                {"input_rows", l.input_rows},
                {"silver", l.silver},
                {"quarantined", l.quarantined},
                {"duplicates", l.duplicates},
                {"balanced", l.balanced()}};
  };
  for (const auto& l : r.totals) j["tables"].push_back(line(l));
  for (const auto& l : r.unbalanced) j["unbalanced"].push_back(line(l));
  return j.dump(2);
}

}  // namespace ctml::process
