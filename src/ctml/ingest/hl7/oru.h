// HL7 v2 ORU^R01 -> canonical `lab_result` events, and the HL7 ACK answering a message
// (docs/ingest/hl7-mllp.md). Pure: no I/O, no clock (the caller passes times and ids).
//
//   OruOptions opts{.study_id = "CDISCPILOT01"};
//   Hl7Outcome out = ProcessHl7(frame_text, deid, opts, NowMicros());
//   if (out.ack == AckCode::kAA) { core.Submit(out.events, ...); }
//   std::string ack = BuildAck(out.header, out.ack, out.error ? &*out.error : nullptr,
//                              NewAckControlId(), NowMicros());
//
// A message is all-or-nothing: either every supported OBX becomes an event (AA), or none does
// (AE / AR with an ERR segment naming segment, field and reason, never a value).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctml/core/status.h"
#include "ctml/ingest/canonical_event.h"
#include "ctml/ingest/hl7/hl7.h"

namespace ctml::privacy {
class Deidentifier;
}

namespace ctml::ingest::hl7 {

enum class AckCode { kAA, kAE, kAR };
const char* AckCodeName(AckCode code);  // "AA" | "AE" | "AR"

// HL7 table 0357 (message error condition codes) values ctml answers with.
enum ErrorCode : int {
  kSegmentSequenceError = 100,
  kRequiredFieldMissing = 101,
  kDataTypeError = 102,
  kTableValueNotFound = 103,
  kUnsupportedMessageType = 200,
  kUnsupportedVersionId = 203,
  kApplicationInternalError = 207,
};
const char* ErrorCodeText(int code);  // "Segment sequence error", ...

struct Hl7Error {
  int code = kApplicationInternalError;  // table 0357
  std::string segment;                   // "OBX"; "" when not about a segment
  int sequence = 0;                      // 1-based occurrence of `segment` in the message
  int field = 0;                         // 1-based field number; 0 = the whole segment
  std::string reason;                    // UPPER_SNAKE reason code for the audit trail
  std::string message;                   // user message; names fields, never values
};

// What the ACK needs from the original message (empty when unknown). MSH-3..6 are kept
// re-encoded with the standard encoding characters "^~\&" (components kept), the rest decoded.
struct AckHeader {
  std::string sending_application;    // MSH-3
  std::string sending_facility;       // MSH-4
  std::string receiving_application;  // MSH-5
  std::string receiving_facility;     // MSH-6
  std::string control_id;             // MSH-10
  std::string processing_id;          // MSH-11.1
  std::string version;                // MSH-12.1
  std::string trigger_event;          // MSH-9.2
  std::string message_type;           // "ORU^R01"
};

struct OruOptions {
  std::string study_id = "UNKNOWN";
  size_t max_text_chars = 2048;  // OBX-5 (ST/SN), OBX-7: longer -> AE 102
};

struct Hl7Outcome {
  AckCode ack = AckCode::kAE;
  std::optional<Hl7Error> error;       // set unless ack == kAA
  AckHeader header;                    // what could be read of MSH
  std::vector<CanonicalEvent> events;  // only when kAA
  int64_t obx_total = 0;
  int64_t obx_skipped = 0;                         // OBX of unsupported value types
  std::map<std::string, int64_t> skipped_by_type;  // "CE" -> 2, ...
};

// Parses `text` (one HL7 message) and converts it. Never fails: problems become AE/AR outcomes.
Hl7Outcome ProcessHl7(std::string_view text, const privacy::Deidentifier& deid,
                      const OruOptions& options, int64_t received_at_us);
// Converts an already parsed message.
Hl7Outcome ConvertOru(const Message& msg, const privacy::Deidentifier& deid,
                      const OruOptions& options, int64_t received_at_us);

// Reads the MSH segment only (for frames too large to parse): the ACK header, when the bytes
// hold a complete-enough MSH up to MSH-10.
std::optional<AckHeader> PeekHeader(std::string_view prefix);
AckHeader HeaderOf(const Message& msg);

// MSH (sending/receiving swapped, new control id, original version, ACK^<event>^ACK), MSA
// (code, original control id, text), and ERR when `error` is given. Segments end with CR.
std::string BuildAck(const AckHeader& original, AckCode code, const Hl7Error* error,
                     std::string_view ack_control_id, int64_t now_us);
// A fresh control id for an ACK (20 characters, fits MSH-10 of every version).
std::string NewAckControlId();

// "hl7-" + first 32 hex of sha256(facility + "/" + control_id + "/" + obx_index).
std::string Hl7EventId(std::string_view facility, std::string_view control_id, int obx_index);

// Reference range text -> bounds: "3.5-5.0", "<10", ">2", "<9 mcg/dL" (text after the number
// is ignored when separated by a blank). Missing bounds stay nullopt.
struct RefRange {
  std::optional<double> low;
  std::optional<double> high;
};
RefRange ParseRefRange(std::string_view text);
// An HL7 NM value: optional sign, digits, optional decimal point and digits (no exponent);
// leading/trailing blanks allowed.
std::optional<double> ParseNumber(std::string_view text);

}  // namespace ctml::ingest::hl7
