// SAS transport v5 (.xpt) through ReadStat: variables first, then one value callback per cell;
// a row is handed to the caller once its last variable has been read.
#include <readstat.h>

#include <cctype>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "ctml/ingest/sdtm/sdtm.h"

namespace ctml::ingest::sdtm {
namespace {

struct XptContext {
  std::vector<std::string> names;
  std::vector<bool> numeric;
  std::unique_ptr<Row> row;
  const RowHandler* on_row = nullptr;
  int64_t current_obs = -1;
  size_t cells = 0;  // cells seen for current_obs
  int64_t rows = 0;
  Status handler_status;
  std::string error;  // ReadStat's own message, if any
};

int OnVariable(int index, readstat_variable_t* variable, const char* /*val_labels*/, void* ctx) {
  auto* c = static_cast<XptContext*>(ctx);
  if (index != static_cast<int>(c->names.size())) return READSTAT_HANDLER_ABORT;
  const char* name = readstat_variable_get_name(variable);
  std::string n = CleanText(name ? name : "");
  for (char& ch : n) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  c->names.push_back(std::move(n));
  c->numeric.push_back(readstat_variable_get_type_class(variable) != READSTAT_TYPE_CLASS_STRING);
  return READSTAT_HANDLER_OK;
}

std::optional<double> NumericValue(readstat_value_t value) {
  if (readstat_value_is_system_missing(value) || readstat_value_is_tagged_missing(value)) {
    return std::nullopt;
  }
  double v = 0;
  switch (readstat_value_type(value)) {
    case READSTAT_TYPE_INT8:
      v = readstat_int8_value(value);
      break;
    case READSTAT_TYPE_INT16:
      v = readstat_int16_value(value);
      break;
    case READSTAT_TYPE_INT32:
      v = readstat_int32_value(value);
      break;
    case READSTAT_TYPE_FLOAT:
      v = readstat_float_value(value);
      break;
    case READSTAT_TYPE_DOUBLE:
      v = readstat_double_value(value);
      break;
    default:
      return std::nullopt;
  }
  if (v != v) return std::nullopt;  // NaN
  return v;
}

int OnValue(int obs_index, readstat_variable_t* variable, readstat_value_t value, void* ctx) {
  auto* c = static_cast<XptContext*>(ctx);
  if (c->names.empty()) return READSTAT_HANDLER_ABORT;
  if (!c->row) c->row = std::make_unique<Row>(&c->names, &c->numeric);
  if (obs_index != c->current_obs) {
    c->current_obs = obs_index;
    c->cells = 0;
    c->row->Reset(obs_index);
  }
  int col = readstat_variable_get_index(variable);
  if (col < 0 || static_cast<size_t>(col) >= c->names.size()) return READSTAT_HANDLER_ABORT;
  auto ucol = static_cast<size_t>(col);
  if (readstat_value_type_class(value) == READSTAT_TYPE_CLASS_STRING) {
    const char* s = readstat_string_value(value);
    c->row->SetText(ucol, CleanText(s ? s : ""));
  } else {
    c->row->SetNumber(ucol, NumericValue(value));
  }
  if (++c->cells == c->names.size()) {
    ++c->rows;
    Status st = (*c->on_row)(*c->row);
    if (!st.ok()) {
      c->handler_status = std::move(st);
      return READSTAT_HANDLER_ABORT;
    }
  }
  return READSTAT_HANDLER_OK;
}

void OnError(const char* message, void* ctx) {
  auto* c = static_cast<XptContext*>(ctx);
  if (message && c->error.size() < 512) c->error += CleanText(message);
}

}  // namespace

Status ReadXpt(const std::string& path, const RowHandler& on_row, int64_t* rows) {
  if (rows) *rows = 0;
  std::error_code ec;
  uintmax_t size = std::filesystem::file_size(path, ec);
  if (ec) return Status::NotFound("cannot open SDTM dataset " + path);
  // A transport file is a sequence of 80-byte card images; any other size means it was cut
  // off (ReadStat would otherwise return the rows before the cut without an error).
  if (size == 0 || size % 80 != 0) {
    return Status::Invalid("not a complete SAS transport v5 file (size " + std::to_string(size) +
                           " is not a multiple of 80 bytes; truncated?): " + path);
  }
  XptContext ctx;
  ctx.on_row = &on_row;
  readstat_parser_t* parser = readstat_parser_init();
  if (!parser) return Status::Internal("readstat_parser_init failed");
  readstat_set_variable_handler(parser, OnVariable);
  readstat_set_value_handler(parser, OnValue);
  readstat_set_error_handler(parser, OnError);
  readstat_error_t err = readstat_parse_xport(parser, path.c_str(), &ctx);
  readstat_parser_free(parser);
  if (rows) *rows = ctx.rows;
  if (!ctx.handler_status.ok()) return ctx.handler_status;
  if (err != READSTAT_OK) {
    std::string msg = "not a readable SAS transport v5 file " + path + ": ";
    const char* what = readstat_error_message(err);
    msg += what ? what : "error";
    if (!ctx.error.empty()) msg += " (" + ctx.error + ")";
    return Status::Invalid(msg);
  }
  if (ctx.names.empty()) return Status::Invalid("SAS transport file has no variables: " + path);
  if (ctx.current_obs >= 0 && ctx.cells != ctx.names.size()) {
    return Status::Invalid("SAS transport file ends inside a row: " + path);
  }
  return Status::OK();
}

}  // namespace ctml::ingest::sdtm
