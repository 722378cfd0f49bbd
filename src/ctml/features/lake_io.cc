#include <arrow/api.h>

#include <cmath>
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

}  // namespace

Status AddTable(const arrow::Table& table, SubjectStates* states, ReadStats* stats) {
  CTML_ASSIGN_OR_RETURN(auto event_id, Strings(table, "event_id"));
  CTML_ASSIGN_OR_RETURN(auto subject, Strings(table, "subject_key"));
  CTML_ASSIGN_OR_RETURN(auto test_code, Strings(table, "test_code"));
  CTML_ASSIGN_OR_RETURN(auto value, Doubles(table, "value"));
  CTML_ASSIGN_OR_RETURN(auto event_time, Micros(table, "event_time"));
  CTML_ASSIGN_OR_RETURN(auto received_at, Micros(table, "received_at"));
  const size_t n = static_cast<size_t>(table.num_rows());
  for (size_t i = 0; i < n; ++i) {
    if (stats) ++stats->rows;
    if (!event_id[i] || !subject[i] || !test_code[i] || !value[i] || !event_time[i] ||
        std::isnan(*value[i])) {
      if (stats) ++stats->skipped;
      continue;
    }
    Observation o;
    o.event_id = std::move(*event_id[i]);
    o.test_code = std::move(*test_code[i]);
    o.value = *value[i];
    o.event_time_us = *event_time[i];
    o.received_at_us = received_at[i].value_or(*event_time[i]);
    if ((*states)[*subject[i]].Add(std::move(o))) {
      if (stats) ++stats->added;
    } else if (stats) {
      ++stats->duplicates;
    }
  }
  return Status::OK();
}

Result<SubjectStates> ReadSubjects(store::Lake& lake, const std::string& dir, ReadStats* stats) {
  SubjectStates states;
  CTML_ASSIGN_OR_RETURN(auto files, lake.List(dir));
  bool any = false;
  for (const auto& f : files) {
    if (f.path.size() >= 8 && f.path.compare(f.path.size() - 8, 8, ".parquet") == 0) any = true;
  }
  if (!any) return states;
  auto table = lake.ReadDataset(dir);
  if (!table.ok()) {
    if (table.status().code() == StatusCode::kNotFound) return states;
    return table.status().WithContext("reading " + dir);
  }
  CTML_RETURN_NOT_OK(AddTable(**table, &states, stats).WithContext("reading " + dir));
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

}  // namespace ctml::features
