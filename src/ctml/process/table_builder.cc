#include "ctml/process/table_builder.h"

#include <arrow/api.h>

#include <cmath>

namespace ctml::process {

struct TableBuilder::Impl {
  std::vector<ColumnDef> defs;
  std::vector<std::unique_ptr<arrow::ArrayBuilder>> builders;
};

TableBuilder::TableBuilder(std::vector<ColumnDef> columns) : impl_(std::make_unique<Impl>()) {
  impl_->defs = std::move(columns);
  for (const auto& d : impl_->defs) {
    switch (d.type) {
      case ColumnType::kString:
        impl_->builders.push_back(std::make_unique<arrow::StringBuilder>());
        break;
      case ColumnType::kInt32:
        impl_->builders.push_back(std::make_unique<arrow::Int32Builder>());
        break;
      case ColumnType::kInt64:
        impl_->builders.push_back(std::make_unique<arrow::Int64Builder>());
        break;
      case ColumnType::kDouble:
        impl_->builders.push_back(std::make_unique<arrow::DoubleBuilder>());
        break;
      case ColumnType::kTimestampUs:
        impl_->builders.push_back(std::make_unique<arrow::TimestampBuilder>(
            arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), arrow::default_memory_pool()));
        break;
      case ColumnType::kBool:
        impl_->builders.push_back(std::make_unique<arrow::BooleanBuilder>());
        break;
    }
  }
}

TableBuilder::~TableBuilder() = default;
TableBuilder::TableBuilder(TableBuilder&&) noexcept = default;
TableBuilder& TableBuilder::operator=(TableBuilder&&) noexcept = default;

// Appends to in-memory builders only fail on allocation failure, which we let abort like any
// other out-of-memory condition.
void TableBuilder::String(size_t c, const std::string& v) {
  (void)static_cast<arrow::StringBuilder*>(impl_->builders[c].get())->Append(v);
}
void TableBuilder::Int32(size_t c, int32_t v) {
  (void)static_cast<arrow::Int32Builder*>(impl_->builders[c].get())->Append(v);
}
void TableBuilder::Int64(size_t c, int64_t v) {
  (void)static_cast<arrow::Int64Builder*>(impl_->builders[c].get())->Append(v);
}
void TableBuilder::Double(size_t c, double v) {
  auto* b = static_cast<arrow::DoubleBuilder*>(impl_->builders[c].get());
  (void)(std::isnan(v) ? b->AppendNull() : b->Append(v));
}
void TableBuilder::Timestamp(size_t c, int64_t v) {
  (void)static_cast<arrow::TimestampBuilder*>(impl_->builders[c].get())->Append(v);
}
void TableBuilder::Bool(size_t c, bool v) {
  (void)static_cast<arrow::BooleanBuilder*>(impl_->builders[c].get())->Append(v);
}
void TableBuilder::Null(size_t c) { (void)impl_->builders[c]->AppendNull(); }

Result<std::shared_ptr<arrow::Table>> TableBuilder::Finish() {
  std::vector<std::shared_ptr<arrow::Field>> fields;
  std::vector<std::shared_ptr<arrow::Array>> arrays;
  for (size_t i = 0; i < impl_->defs.size(); ++i) {
    std::shared_ptr<arrow::Array> arr;
    auto st = impl_->builders[i]->Finish(&arr);
    if (!st.ok())
      return Status::Internal("building column " + impl_->defs[i].name + ": " + st.ToString());
    if (arr->length() != rows_) {
      return Status::Internal("column " + impl_->defs[i].name + " has " +
                              std::to_string(arr->length()) + " values for " +
                              std::to_string(rows_) + " rows");
    }
    fields.push_back(arrow::field(impl_->defs[i].name, arr->type()));
    arrays.push_back(arr);
  }
  return arrow::Table::Make(arrow::schema(fields), arrays, rows_);
}

}  // namespace ctml::process
