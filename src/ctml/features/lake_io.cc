#include <arrow/api.h>

#include <cmath>
#include <functional>
#include <optional>

#include "ctml/features/lake_io_internal.h"
#include "ctml/store/lake.h"

namespace ctml::features {
namespace {

Status FromArrow(const arrow::Status& st, const std::string& what) {
  if (st.ok()) return Status::OK();
  return Status::Internal(what + ": " + st.ToString());
}

Result<std::shared_ptr<arrow::ChunkedArray>> Column(const arrow::Table& t,
                                                    const std::string& name) {
  auto c = t.GetColumnByName(name);
  if (!c) return Status::Invalid("Silver table has no column '" + name + "'", name);
  return c;
}

// Flattens a string-like column (string, large_string, string_view, dictionary of those).
Result<std::vector<std::optional<std::string>>> Strings(const arrow::Table& t,
                                                        const std::string& name) {
  CTML_ASSIGN_OR_RETURN(auto col, Column(t, name));
  std::vector<std::optional<std::string>> out;
  out.reserve(static_cast<size_t>(col->length()));
  for (const auto& chunk : col->chunks()) {
    const arrow::Array* arr = chunk.get();
    std::shared_ptr<arrow::Array> dict_values;
    const arrow::DictionaryArray* dict = nullptr;
    if (arr->type_id() == arrow::Type::DICTIONARY) {
      dict = static_cast<const arrow::DictionaryArray*>(arr);
      dict_values = dict->dictionary();
    }
    auto value_at = [&](const arrow::Array& a, int64_t i) -> std::optional<std::string> {
      if (a.IsNull(i)) return std::nullopt;
      switch (a.type_id()) {
        case arrow::Type::STRING:
          return static_cast<const arrow::StringArray&>(a).GetString(i);
        case arrow::Type::LARGE_STRING:
          return static_cast<const arrow::LargeStringArray&>(a).GetString(i);
        case arrow::Type::STRING_VIEW:
          return std::string(static_cast<const arrow::StringViewArray&>(a).GetView(i));
        default:
          return std::nullopt;
      }
    };
    const arrow::Type::type inner = dict ? dict_values->type_id() : arr->type_id();
    if (inner != arrow::Type::STRING && inner != arrow::Type::LARGE_STRING &&
        inner != arrow::Type::STRING_VIEW) {
      return Status::Invalid(
          "column '" + name + "' must be a string, not " + chunk->type()->ToString(), name);
    }
    for (int64_t i = 0; i < arr->length(); ++i) {
      if (dict) {
        if (arr->IsNull(i)) {
          out.emplace_back(std::nullopt);
        } else {
          out.push_back(value_at(*dict_values, dict->GetValueIndex(i)));
        }
      } else {
        out.push_back(value_at(*arr, i));
      }
    }
  }
  return out;
}

// Flattens a timestamp (any unit) or int64 (µs) column to µs.
Result<std::vector<std::optional<int64_t>>> Micros(const arrow::Table& t, const std::string& name) {
  CTML_ASSIGN_OR_RETURN(auto col, Column(t, name));
  std::vector<std::optional<int64_t>> out;
  out.reserve(static_cast<size_t>(col->length()));
  for (const auto& chunk : col->chunks()) {
    int64_t mul = 1, div = 1;
    if (chunk->type_id() == arrow::Type::TIMESTAMP) {
      switch (static_cast<const arrow::TimestampType&>(*chunk->type()).unit()) {
        case arrow::TimeUnit::SECOND:
          mul = 1000000;
          break;
        case arrow::TimeUnit::MILLI:
          mul = 1000;
          break;
        case arrow::TimeUnit::MICRO:
          break;
        case arrow::TimeUnit::NANO:
          div = 1000;
          break;
      }
    } else if (chunk->type_id() != arrow::Type::INT64) {
      return Status::Invalid(
          "column '" + name + "' must be a timestamp, not " + chunk->type()->ToString(), name);
    }
    // Timestamp and int64 arrays share the int64 layout.
    const auto* raw = chunk->data()->GetValues<int64_t>(1);
    for (int64_t i = 0; i < chunk->length(); ++i) {
      if (chunk->IsNull(i)) {
        out.emplace_back(std::nullopt);
      } else {
        out.emplace_back(raw[i] * mul / div);
      }
    }
  }
  return out;
}

Result<std::vector<std::optional<double>>> Doubles(const arrow::Table& t, const std::string& name) {
  CTML_ASSIGN_OR_RETURN(auto col, Column(t, name));
  std::vector<std::optional<double>> out;
  out.reserve(static_cast<size_t>(col->length()));
  for (const auto& chunk : col->chunks()) {
    const auto id = chunk->type_id();
    for (int64_t i = 0; i < chunk->length(); ++i) {
      if (chunk->IsNull(i)) {
        out.emplace_back(std::nullopt);
        continue;
      }
      switch (id) {
        case arrow::Type::DOUBLE:
          out.emplace_back(static_cast<const arrow::DoubleArray&>(*chunk).Value(i));
          break;
        case arrow::Type::FLOAT:
          out.emplace_back(static_cast<const arrow::FloatArray&>(*chunk).Value(i));
          break;
        case arrow::Type::INT64:
          out.emplace_back(
              static_cast<double>(static_cast<const arrow::Int64Array&>(*chunk).Value(i)));
          break;
        case arrow::Type::INT32:
          out.emplace_back(static_cast<const arrow::Int32Array&>(*chunk).Value(i));
          break;
        default:
          return Status::Invalid(
              "column '" + name + "' must be numeric, not " + chunk->type()->ToString(), name);
      }
    }
  }
  return out;
}

// A column of any type the Silver tables use, as Cells; all null when the file lacks it.
Result<std::vector<Cell>> Cells(const arrow::Table& t, const std::string& name) {
  std::vector<Cell> out;
  auto col = t.GetColumnByName(name);
  if (!col) {
    out.resize(static_cast<size_t>(t.num_rows()));
    return out;
  }
  const arrow::DataType& type = *col->type();
  if (type.id() == arrow::Type::BOOL) {
    out.reserve(static_cast<size_t>(col->length()));
    for (const auto& chunk : col->chunks()) {
      const auto& arr = static_cast<const arrow::BooleanArray&>(*chunk);
      for (int64_t i = 0; i < arr.length(); ++i) {
        out.push_back(arr.IsNull(i) ? Cell::Null() : Cell::Bool(arr.Value(i)));
      }
    }
    return out;
  }
  if (arrow::is_numeric(type.id())) {
    CTML_ASSIGN_OR_RETURN(auto nums, Doubles(t, name));
    out.reserve(nums.size());
    for (const auto& v : nums) out.push_back(v ? Cell::Number(*v) : Cell::Null());
    return out;
  }
  CTML_ASSIGN_OR_RETURN(auto strs, Strings(t, name));
  out.reserve(strs.size());
  for (auto& v : strs) out.push_back(v ? Cell::Text(std::move(*v)) : Cell::Null());
  return out;
}

}  // namespace

Status AddTable(const FeatureSpec& spec, int table_index, const arrow::Table& table,
                SubjectStates* states, ReadStats* stats, const std::string& study) {
  CTML_ASSIGN_OR_RETURN(auto event_id, Strings(table, "event_id"));
  CTML_ASSIGN_OR_RETURN(auto subject, Strings(table, "subject_key"));
  CTML_ASSIGN_OR_RETURN(auto event_time, Micros(table, "event_time"));
  CTML_ASSIGN_OR_RETURN(auto received_at, Micros(table, "received_at"));
  std::vector<std::optional<std::string>> dedupe_key(event_id.size()), precision(event_id.size());
  if (table.GetColumnByName("dedupe_key")) {
    CTML_ASSIGN_OR_RETURN(dedupe_key, Strings(table, "dedupe_key"));
  }
  if (table.GetColumnByName("precision")) {
    CTML_ASSIGN_OR_RETURN(precision, Strings(table, "precision"));
  }
  std::vector<std::optional<std::string>> study_id;
  if (!study.empty()) {
    CTML_ASSIGN_OR_RETURN(study_id, Strings(table, "study_id"));
  }
  const TableDef& def = spec.tables()[static_cast<size_t>(table_index)];
  std::vector<std::vector<Cell>> cols;
  for (const auto& c : def.columns) {
    CTML_ASSIGN_OR_RETURN(auto cells, Cells(table, c));
    cols.push_back(std::move(cells));
  }
  const size_t n = static_cast<size_t>(table.num_rows());
  for (size_t i = 0; i < n; ++i) {
    if (stats) ++stats->rows;
    if (!study.empty() && study_id[i].value_or("") != study) {
      if (stats) ++stats->other_study;
      continue;
    }
    if (!event_id[i] || !subject[i] || !event_time[i]) {
      if (stats) ++stats->skipped;
      continue;
    }
    Row row;
    row.table = table_index;
    row.subject_key = std::move(*subject[i]);
    row.event_id = std::move(*event_id[i]);
    row.dedupe_key = dedupe_key[i].value_or("");
    row.precision = precision[i].value_or("");
    row.event_time_us = *event_time[i];
    row.received_at_us = received_at[i].value_or(*event_time[i]);
    row.cells.reserve(cols.size());
    for (auto& c : cols) row.cells.push_back(std::move(c[i]));
    auto [it, fresh] = states->try_emplace(row.subject_key, spec);
    if (it->second.Apply(spec, row)) {
      if (stats) ++stats->applied;
    } else if (stats) {
      ++stats->duplicates;
    }
  }
  return Status::OK();
}

Result<std::vector<store::LakeFile>> SilverFiles(store::Lake& lake, const FeatureSpec& spec) {
  std::vector<store::LakeFile> out;
  for (const auto& t : spec.tables()) {
    auto files = lake.List("silver/" + t.name);
    if (!files.ok()) {
      if (files.status().code() == StatusCode::kNotFound) continue;
      return files.status();
    }
    for (auto& f : *files) {
      if (f.path.size() >= 8 && f.path.compare(f.path.size() - 8, 8, ".parquet") == 0) {
        out.push_back(std::move(f));
      }
    }
  }
  return out;
}

Result<SubjectStates> ReadSubjects(store::Lake& lake, const FeatureSpec& spec, ReadStats* stats,
                                   const std::function<void(const std::string&)>& progress,
                                   const std::string& study) {
  SubjectStates states;
  for (size_t t = 0; t < spec.tables().size(); ++t) {
    const TableDef& def = spec.tables()[t];
    const std::string dir = "silver/" + def.name;
    auto files = lake.List(dir);
    if (!files.ok()) {
      if (files.status().code() == StatusCode::kNotFound) continue;
      return files.status().WithContext("listing " + dir);
    }
    std::vector<std::string> columns = {"event_id",   "subject_key", "dedupe_key",
                                        "event_time", "received_at", "precision"};
    if (!study.empty()) columns.push_back("study_id");
    columns.insert(columns.end(), def.columns.begin(), def.columns.end());
    const size_t before = stats ? stats->rows : 0;
    size_t n = 0;
    for (const auto& f : *files) {
      if (f.path.size() < 8 || f.path.compare(f.path.size() - 8, 8, ".parquet") != 0) continue;
      CTML_ASSIGN_OR_RETURN(auto table, lake.ReadParquetColumns(f.path, columns));
      CTML_RETURN_NOT_OK(AddTable(spec, static_cast<int>(t), *table, &states, stats, study)
                             .WithContext("reading " + f.path));
      ++n;
    }
    if (progress && stats) {
      progress("read " + std::to_string(stats->rows - before) + " rows of " + dir + " (" +
               std::to_string(n) + " files)");
    }
  }
  return states;
}

Result<std::shared_ptr<arrow::Table>> MakeFeatureTable(const std::vector<std::string>& names,
                                                       const std::vector<std::string>& subject_keys,
                                                       const std::vector<int64_t>& as_of_us,
                                                       const std::string& spec_hash,
                                                       const std::vector<int>* labels,
                                                       const std::vector<double>& values) {
  const size_t rows = subject_keys.size();
  const size_t k = names.size();
  if (as_of_us.size() != rows || values.size() != rows * k || (labels && labels->size() != rows)) {
    return Status::Internal("MakeFeatureTable: inconsistent column lengths");
  }
  std::vector<std::shared_ptr<arrow::Field>> fields;
  std::vector<std::shared_ptr<arrow::Array>> arrays;
  std::shared_ptr<arrow::Array> arr;

  arrow::StringBuilder sk;
  CTML_RETURN_NOT_OK(FromArrow(sk.AppendValues(subject_keys), "subject_key"));
  CTML_RETURN_NOT_OK(FromArrow(sk.Finish(&arr), "subject_key"));
  fields.push_back(arrow::field("subject_key", arrow::utf8(), false));
  arrays.push_back(arr);

  auto ts_type = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  arrow::TimestampBuilder ts(ts_type, arrow::default_memory_pool());
  CTML_RETURN_NOT_OK(FromArrow(ts.AppendValues(as_of_us), "as_of"));
  CTML_RETURN_NOT_OK(FromArrow(ts.Finish(&arr), "as_of"));
  fields.push_back(arrow::field("as_of", ts_type, false));
  arrays.push_back(arr);

  if (!spec_hash.empty()) {
    arrow::StringBuilder sh;
    for (size_t r = 0; r < rows; ++r) CTML_RETURN_NOT_OK(FromArrow(sh.Append(spec_hash), "hash"));
    CTML_RETURN_NOT_OK(FromArrow(sh.Finish(&arr), "spec_hash"));
    fields.push_back(arrow::field("spec_hash", arrow::utf8(), false));
    arrays.push_back(arr);
  }
  if (labels) {
    arrow::Int32Builder lb;
    for (int v : *labels) CTML_RETURN_NOT_OK(FromArrow(lb.Append(v), "label"));
    CTML_RETURN_NOT_OK(FromArrow(lb.Finish(&arr), "label"));
    fields.push_back(arrow::field("label", arrow::int32(), false));
    arrays.push_back(arr);
  }
  for (size_t j = 0; j < k; ++j) {
    arrow::DoubleBuilder b;
    CTML_RETURN_NOT_OK(FromArrow(b.Reserve(static_cast<int64_t>(rows)), names[j]));
    for (size_t r = 0; r < rows; ++r) {
      const double v = values[r * k + j];
      if (std::isnan(v)) {
        b.UnsafeAppendNull();
      } else {
        b.UnsafeAppend(v);
      }
    }
    CTML_RETURN_NOT_OK(FromArrow(b.Finish(&arr), names[j]));
    fields.push_back(arrow::field(names[j], arrow::float64(), true));
    arrays.push_back(arr);
  }
  return arrow::Table::Make(arrow::schema(fields), arrays, static_cast<int64_t>(rows));
}

Result<FeatureColumns> ReadFeatureColumns(const arrow::Table& table) {
  FeatureColumns out;
  CTML_ASSIGN_OR_RETURN(auto keys, Strings(table, "subject_key"));
  CTML_ASSIGN_OR_RETURN(auto as_of, Micros(table, "as_of"));
  const size_t rows = keys.size();
  out.spec_hashes.assign(rows, "");
  if (table.GetColumnByName("spec_hash")) {
    CTML_ASSIGN_OR_RETURN(auto hashes, Strings(table, "spec_hash"));
    for (size_t i = 0; i < rows; ++i) out.spec_hashes[i] = hashes[i].value_or("");
  }
  for (size_t i = 0; i < rows; ++i) {
    out.subject_keys.push_back(keys[i].value_or(""));
    out.as_of_us.push_back(as_of[i].value_or(0));
  }
  std::vector<std::vector<std::optional<double>>> cols;
  for (const auto& f : table.schema()->fields()) {
    const std::string& n = f->name();
    if (n == "subject_key" || n == "as_of" || n == "spec_hash" || n == "label" || n == "date") {
      continue;
    }
    out.names.push_back(n);
    CTML_ASSIGN_OR_RETURN(auto c, Doubles(table, n));
    cols.push_back(std::move(c));
  }
  out.values.resize(rows * out.names.size());
  for (size_t j = 0; j < cols.size(); ++j) {
    for (size_t i = 0; i < rows; ++i) {
      out.values[i * cols.size() + j] = cols[j][i].value_or(std::nan(""));
    }
  }
  return out;
}

}  // namespace ctml::features
