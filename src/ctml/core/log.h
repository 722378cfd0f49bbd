// PHI-safe structured logging (logfmt lines on stderr).
//
//   ctml::log::Init("gateway", "info");
//   ctml::log::Info("gateway", "accepted", {{"event_id", id}, {"topic", "patient-vitals"}});
//
// There is deliberately no call that takes a request body: callers log identifiers that are
// safe (event ids, pseudonyms, counts), never payloads. Values are escaped and capped at 200
// characters so that a mistake cannot dump a record into a log.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace ctml::log {

using Field = std::pair<std::string_view, std::string>;

void Init(std::string_view service, std::string_view level = "info");
void Debug(std::string_view component, std::string_view msg, std::initializer_list<Field> f = {});
void Info(std::string_view component, std::string_view msg, std::initializer_list<Field> f = {});
void Warn(std::string_view component, std::string_view msg, std::initializer_list<Field> f = {});
void Error(std::string_view component, std::string_view msg, std::initializer_list<Field> f = {});

// Renders fields as logfmt (exposed for tests).
std::string FormatFields(std::initializer_list<Field> fields);

}  // namespace ctml::log
