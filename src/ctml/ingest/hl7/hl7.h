// HL7 v2 message parsing (pure, no I/O): segments split on CR (LF and CRLF also accepted),
// encoding characters taken from MSH-1/MSH-2, values decoded from HL7 escape sequences on
// access. Versions 2.3 to 2.5.1 are what ctml accepts (IsSupportedVersion); the parser itself
// does not care.
//
//   CTML_ASSIGN_OR_RETURN(ctml::ingest::hl7::Message msg, ctml::ingest::hl7::Message::Parse(text));
//   msg.MessageType();                       // "ORU^R01"
//   msg.ControlId();                         // MSH-10
//   for (const auto* obx : msg.All("OBX")) {
//     std::string code = obx->Get(3, 1);     // OBX-3.1, decoded
//     std::string unit = obx->Get(6);        // OBX-6.1
//   }
//
// Field numbers are HL7's: for MSH, field 1 is the field separator and field 2 the encoding
// characters (returned raw), so MSH-10 is Get(10) like everywhere else.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/core/time.h"

namespace ctml::ingest::hl7 {

struct EncodingChars {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';
};

// Decodes \F\ \S\ \T\ \R\ \E\, \Xhh..\ (hex bytes), \.br\ (line break); drops the formatting and
// character-set sequences \H\ \N\ \Cxxyy\ \Mxxyyzz\ \Zxx\; keeps anything else (unknown or
// unterminated sequences) literally.
std::string Unescape(std::string_view raw, const EncodingChars& enc);
// Escapes the five encoding characters (and CR/LF as \X0D\ / \X0A\) for writing a value.
std::string Escape(std::string_view value, const EncodingChars& enc);

struct ParseLimits {
  size_t max_bytes = 16u << 20;
  size_t max_segments = 10000;
  size_t max_fields_per_segment = 1000;
};

class Segment {
 public:
  Segment(std::string_view id, std::vector<std::string_view> fields, const EncodingChars* enc)
      : id_(id), fields_(std::move(fields)), enc_(enc) {}

  std::string_view id() const { return id_; }
  // Highest field number present (trailing empty fields included).
  size_t field_count() const { return fields_.empty() ? 0 : fields_.size() - 1; }
  // The raw (escaped) text of field `field`, all repetitions; "" when absent.
  std::string_view Raw(size_t field) const;
  // The decoded value of field/component/subcomponent (1-based) of repetition `rep` (0-based);
  // "" when absent.
  std::string Get(size_t field, size_t component = 1, size_t subcomponent = 1,
                  size_t rep = 0) const;
  // The raw text of one component (subcomponents and escapes kept).
  std::string_view RawComponent(size_t field, size_t component, size_t rep = 0) const;
  size_t Repetitions(size_t field) const;  // 0 when the field is empty

 private:
  std::string_view id_;
  std::vector<std::string_view> fields_;  // fields_[n] = field n; fields_[0] = segment id
  const EncodingChars* enc_;
};

class Message {
 public:
  // Fails (kInvalid, field "MSH") when the text does not start with an MSH segment with valid
  // encoding characters, or a limit is exceeded.
  static Result<Message> Parse(std::string_view text, const ParseLimits& limits = {});

  const EncodingChars& encoding() const { return *enc_; }
  const std::vector<Segment>& segments() const { return segments_; }
  const Segment& msh() const { return segments_.front(); }
  // The first segment with this id, or nullptr.
  const Segment* First(std::string_view id) const;
  std::vector<const Segment*> All(std::string_view id) const;

  std::string MessageType() const;           // MSH-9.1 + "^" + MSH-9.2, e.g. "ORU^R01"
  std::string ControlId() const;             // MSH-10
  std::string Version() const;               // MSH-12.1, e.g. "2.5.1"
  std::string SendingApplication() const;    // MSH-3.1
  std::string SendingFacility() const;       // MSH-4.1 (MSH-4.2 when .1 is empty)
  std::string ReceivingApplication() const;  // MSH-5.1
  std::string ReceivingFacility() const;     // MSH-6.1
  std::string MessageTime() const;           // MSH-7.1 (HL7 TS, undecoded form)
  std::string ProcessingId() const;          // MSH-11.1

 private:
  std::unique_ptr<std::string> text_;  // owned copy; segments point into it
  std::unique_ptr<EncodingChars> enc_;
  std::vector<Segment> segments_;
};

// "2.3", "2.3.1", "2.4", "2.5", "2.5.1".
bool IsSupportedVersion(std::string_view version);

// An HL7 TS/DTM value parsed to UTC µs: YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ], placed at the
// start of the period it names; no zone means UTC. An hour-only time counts as kMinute (the
// platform has no hour precision). A zone given with a date-only value is ignored (a calendar
// date stays that date). Years outside 1800..2200 are rejected.
Result<PartialTime> ParseHl7Time(std::string_view ts);

}  // namespace ctml::ingest::hl7
