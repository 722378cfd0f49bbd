#include "ctml/core/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace ctml::log {
namespace {

std::shared_ptr<spdlog::logger>& Logger() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_logger_mt("ctml");
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    return l;
  }();
  return logger;
}

std::string Escape(std::string_view v) {
  constexpr size_t kMax = 200;
  std::string out;
  bool quote = v.empty() || v.find_first_of(" =\"") != std::string_view::npos;
  for (char c : v.substr(0, kMax)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  if (v.size() > kMax) out += "...";
  return quote ? "\"" + out + "\"" : out;
}

std::string g_service = "ctml";

void Emit(spdlog::level::level_enum level, std::string_view component, std::string_view msg,
          std::initializer_list<Field> fields) {
  auto& logger = Logger();
  if (!logger->should_log(level)) return;
  std::string fs = FormatFields(fields);
  logger->log(level, "service={} component={} msg={}{}{}", g_service, component, Escape(msg),
              fs.empty() ? "" : " ", fs);
}

}  // namespace

std::string FormatFields(std::initializer_list<Field> fields) {
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += ' ';
    out += k;
    out += '=';
    out += Escape(v);
  }
  return out;
}

void Init(std::string_view service, std::string_view level) {
  g_service = std::string(service);
  Logger()->set_level(spdlog::level::from_str(std::string(level)));
  Logger()->flush_on(spdlog::level::info);
}

void Debug(std::string_view c, std::string_view m, std::initializer_list<Field> f) {
  Emit(spdlog::level::debug, c, m, f);
}
void Info(std::string_view c, std::string_view m, std::initializer_list<Field> f) {
  Emit(spdlog::level::info, c, m, f);
}
void Warn(std::string_view c, std::string_view m, std::initializer_list<Field> f) {
  Emit(spdlog::level::warn, c, m, f);
}
void Error(std::string_view c, std::string_view m, std::initializer_list<Field> f) {
  Emit(spdlog::level::err, c, m, f);
}

}  // namespace ctml::log
