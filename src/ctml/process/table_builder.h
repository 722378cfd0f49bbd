// A small row-oriented helper over Arrow builders for the lake writers of this module.
// Arrow headers stay in table_builder.cc.
//
//   TableBuilder b({{"event_id", ColumnType::kString}, {"event_time", ColumnType::kTimestampUs}});
//   b.String(0, "e1"); b.Timestamp(1, t); b.EndRow();
//   CTML_ASSIGN_OR_RETURN(auto table, b.Finish());
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ctml/core/status.h"

namespace arrow {
class Table;
}

namespace ctml::process {

enum class ColumnType { kString, kInt32, kInt64, kDouble, kTimestampUs, kBool };

struct ColumnDef {
  std::string name;
  ColumnType type;
};

class TableBuilder {
 public:
  explicit TableBuilder(std::vector<ColumnDef> columns);
  ~TableBuilder();
  TableBuilder(TableBuilder&&) noexcept;
  TableBuilder& operator=(TableBuilder&&) noexcept;
  void String(size_t col, const std::string& v);
  void Int32(size_t col, int32_t v);
  void Int64(size_t col, int64_t v);
  void Double(size_t col, double v);  // NaN is stored as null
  void Timestamp(size_t col, int64_t micros_utc);
  void Bool(size_t col, bool v);
  void Null(size_t col);
  int64_t rows() const { return rows_; }
  void EndRow() { ++rows_; }
  Result<std::shared_ptr<arrow::Table>> Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int64_t rows_ = 0;
};

}  // namespace ctml::process
