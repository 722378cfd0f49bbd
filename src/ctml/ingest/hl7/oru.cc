#include "ctml/ingest/hl7/oru.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <cmath>

#include "ctml/core/crypto.h"
#include "ctml/core/json.h"
#include "ctml/core/time.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::ingest::hl7 {
namespace {

constexpr size_t kMaxSubjectIdChars = 128;
constexpr size_t kMaxCodeChars = 256;    // codes, names, units, flags
constexpr size_t kMaxHeaderChars = 256;  // MSH-3..6 echoed in the ACK
constexpr size_t kMaxSiteChars = 64;
const EncodingChars kStandardEncoding{};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view FirstPart(std::string_view s, char sep) { return s.substr(0, s.find(sep)); }

Hl7Outcome Reject(Hl7Outcome out, AckCode code, int hl7_code, std::string segment, int sequence,
                  int field, std::string reason, std::string message) {
  out.ack = code;
  out.events.clear();
  out.error = Hl7Error{hl7_code, std::move(segment), sequence,
                       field,    std::move(reason),  std::move(message)};
  return out;
}

// Splits `s` on `sep` and calls fn(part) for every part.
template <class Fn>
void ForEachPart(std::string_view s, char sep, Fn fn) {
  size_t start = 0;
  for (;;) {
    size_t p = s.find(sep, start);
    fn(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
}

// The first repetition of a field re-encoded with the standard encoding characters
// (components and subcomponents kept), for echoing MSH-3..6 in the ACK.
std::string Reencode(const Segment& seg, size_t field, const EncodingChars& enc) {
  std::string_view rep = FirstPart(seg.Raw(field), enc.repetition);
  if (rep.size() > kMaxHeaderChars) rep = rep.substr(0, kMaxHeaderChars);
  std::string out;
  bool first_comp = true;
  ForEachPart(rep, enc.component, [&](std::string_view comp) {
    if (!first_comp) out += kStandardEncoding.component;
    first_comp = false;
    bool first_sub = true;
    ForEachPart(comp, enc.subcomponent, [&](std::string_view sub) {
      if (!first_sub) out += kStandardEncoding.subcomponent;
      first_sub = false;
      out += Escape(Unescape(sub, enc), kStandardEncoding);
    });
  });
  return out;
}

std::string Cap(std::string s, size_t n) {
  if (s.size() > n) s.resize(n);
  return s;
}

Json NullableString(const std::string& s) { return s.empty() ? Json(nullptr) : Json(s); }

bool IsNumberText(std::string_view s) { return ParseNumber(s).has_value(); }

// The leading number of `s` when it is followed by nothing or a blank ("9 mcg/dL").
std::optional<double> LeadingNumber(std::string_view s) {
  s = Trim(s);
  size_t end = 0;
  if (end < s.size() && (s[end] == '+' || s[end] == '-')) ++end;
  while (end < s.size() && (std::isdigit(static_cast<unsigned char>(s[end])) || s[end] == '.')) {
    ++end;
  }
  if (end < s.size() && !std::isspace(static_cast<unsigned char>(s[end]))) return std::nullopt;
  return ParseNumber(s.substr(0, end));
}

std::optional<bool> IsAbnormalFlag(std::string_view flag) {
  static constexpr std::string_view kAbnormal[] = {"L",  "H",  "LL", "HH", "<", ">", "A",
                                                   "AA", "LU", "HU", "U",  "D", "B", "W"};
  if (flag.empty()) return std::nullopt;
  if (flag == "N") return false;
  for (auto a : kAbnormal) {
    if (flag == a) return true;
  }
  return std::nullopt;
}

// The first repetition of a field, decoded whole (components kept with the message's separator
// decoded as-is: ST values may legitimately carry a literal component character).
std::string FirstRepetition(const Segment& seg, size_t field, const EncodingChars& enc) {
  std::string_view raw = seg.Raw(field);
  return Unescape(FirstPart(raw, enc.repetition), enc);
}

std::string SnText(const std::string& cmp, const std::string& n1, const std::string& sep,
                   const std::string& n2) {
  return cmp + n1 + sep + n2;
}

}  // namespace

const char* AckCodeName(AckCode code) {
  switch (code) {
    case AckCode::kAA:
      return "AA";
    case AckCode::kAE:
      return "AE";
    case AckCode::kAR:
      return "AR";
  }
  return "AE";
}

const char* ErrorCodeText(int code) {
  switch (code) {
    case kSegmentSequenceError:
      return "Segment sequence error";
    case kRequiredFieldMissing:
      return "Required field missing";
    case kDataTypeError:
      return "Data type error";
    case kTableValueNotFound:
      return "Table value not found";
    case kUnsupportedMessageType:
      return "Unsupported message type";
    case kUnsupportedVersionId:
      return "Unsupported version id";
    case kApplicationInternalError:
      return "Application internal error";
    default:
      return "Error";
  }
}

std::optional<double> ParseNumber(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.empty() || s.size() > 64) return std::nullopt;
  size_t i = 0;
  bool negative = false;
  if (s[i] == '+' || s[i] == '-') negative = s[i++] == '-';
  size_t digits = 0, dots = 0;
  for (size_t k = i; k < s.size(); ++k) {
    if (s[k] == '.') {
      ++dots;
    } else if (std::isdigit(static_cast<unsigned char>(s[k]))) {
      ++digits;
    } else {
      return std::nullopt;
    }
  }
  if (digits == 0 || dots > 1) return std::nullopt;
  std::string body(s.substr(i));
  if (body.front() == '.') body.insert(body.begin(), '0');
  if (body.back() == '.') body.pop_back();
  double v = 0;
  auto r = std::from_chars(body.data(), body.data() + body.size(), v);
  if (r.ec != std::errc() || r.ptr != body.data() + body.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return negative ? -v : v;
}

RefRange ParseRefRange(std::string_view text) {
  RefRange r;
  std::string_view s = Trim(text);
  if (s.empty()) return r;
  if (s[0] == '<' || s[0] == '>') {
    bool less = s[0] == '<';
    s.remove_prefix(1);
    if (!s.empty() && s[0] == '=') s.remove_prefix(1);
    auto v = LeadingNumber(s);
    if (less) {
      r.high = v;
    } else {
      r.low = v;
    }
    return r;
  }
  // "a-b" where a may itself be negative: the separator is the first '-' after position 0.
  size_t dash = s.find('-', 1);
  if (dash == std::string_view::npos) return r;
  auto lo = ParseNumber(s.substr(0, dash));
  auto hi = LeadingNumber(s.substr(dash + 1));
  if (lo && hi) {
    r.low = lo;
    r.high = hi;
  }
  return r;
}

std::string Hl7EventId(std::string_view facility, std::string_view control_id, int obx_index) {
  std::string key = fmt::format("{}/{}/{}", facility, control_id, obx_index);
  return "hl7-" + HexEncode(Sha256(key)).substr(0, 32);
}

std::string NewAckControlId() { return "ACK" + HexEncode(RandomBytes(8)).substr(0, 16); }

AckHeader HeaderOf(const Message& msg) {
  const Segment& msh = msg.msh();
  AckHeader h;
  const EncodingChars& enc = msg.encoding();
  h.sending_application = Reencode(msh, 3, enc);
  h.sending_facility = Reencode(msh, 4, enc);
  h.receiving_application = Reencode(msh, 5, enc);
  h.receiving_facility = Reencode(msh, 6, enc);
  h.control_id = Cap(msg.ControlId(), kMaxHeaderChars);
  h.processing_id = Cap(msg.ProcessingId(), 8);
  h.version = Cap(msg.Version(), 16);
  h.trigger_event = Cap(msh.Get(9, 2), 16);
  h.message_type = Cap(msg.MessageType(), 40);
  return h;
}

std::optional<AckHeader> PeekHeader(std::string_view prefix) {
  size_t eol = prefix.find_first_of("\r\n");
  bool terminated = eol != std::string_view::npos;
  std::string_view line = prefix.substr(0, eol);
  // Skip a byte order mark / leading blank lines as Message::Parse does.
  if (!terminated && line.size() > 4096) line = line.substr(0, 4096);
  auto msg = Message::Parse(line, ParseLimits{.max_bytes = 1 << 16, .max_segments = 1});
  if (!msg.ok()) return std::nullopt;
  // An unterminated line may end inside MSH-10: only trust it when a separator follows it.
  if (!terminated && msg->msh().field_count() < 11) return std::nullopt;
  AckHeader h = HeaderOf(*msg);
  if (h.control_id.empty()) return std::nullopt;
  return h;
}

std::string BuildAck(const AckHeader& o, AckCode code, const Hl7Error* error,
                     std::string_view ack_control_id, int64_t now_us) {
  const EncodingChars& enc = kStandardEncoding;
  std::string iso = FormatIso8601(now_us);  // YYYY-MM-DDTHH:MM:SS.ffffffZ
  std::string ts = iso.substr(0, 4) + iso.substr(5, 2) + iso.substr(8, 2) + iso.substr(11, 2) +
                   iso.substr(14, 2) + iso.substr(17, 2) + "+0000";
  std::string trigger = o.trigger_event.empty() ? "R01" : Escape(o.trigger_event, enc);
  std::string out = fmt::format(
      "MSH|^~\\&|{}|{}|{}|{}|{}||ACK^{}^ACK|{}|{}|{}\r", o.receiving_application,
      o.receiving_facility, o.sending_application, o.sending_facility, ts, trigger,
      Escape(ack_control_id, enc), o.processing_id.empty() ? "P" : Escape(o.processing_id, enc),
      o.version.empty() ? "2.5.1" : Escape(o.version, enc));
  out += fmt::format("MSA|{}|{}", AckCodeName(code), Escape(o.control_id, enc));
  if (code != AckCode::kAA && error) out += "|" + Escape(Cap(error->message, 80), enc);
  out += "\r";
  if (code != AckCode::kAA && error) {
    std::string code_text = ErrorCodeText(error->code);
    std::string location;  // ERL: segment^sequence^field
    std::string eld;       // v2.3/2.4 ELD: segment^sequence^field^code&text&HL70357
    if (!error->segment.empty()) {
      location = fmt::format("{}^{}^{}", Escape(error->segment, enc), error->sequence,
                             error->field > 0 ? std::to_string(error->field) : std::string());
    }
    eld = fmt::format("{}^{}^{}^{}&{}&HL70357", error->segment.empty() ? "" : error->segment,
                      error->segment.empty() ? std::string() : std::to_string(error->sequence),
                      error->field > 0 ? std::to_string(error->field) : std::string(), error->code,
                      code_text);
    out += fmt::format("ERR|{}|{}|{}^{}^HL70357|E||||{}\r", eld, location, error->code, code_text,
                       Escape(error->message, enc));
  }
  return out;
}

Hl7Outcome ProcessHl7(std::string_view text, const privacy::Deidentifier& deid,
                      const OruOptions& options, int64_t received_at_us) {
  auto msg = Message::Parse(text);
  if (!msg.ok()) {
    Hl7Outcome out;
    if (auto h = PeekHeader(text)) out.header = *h;
    const std::string field = msg.status().field();
    return Reject(std::move(out), AckCode::kAE, kSegmentSequenceError,
                  field == "MSH" ? "MSH" : std::string(), field == "MSH" ? 1 : 0, 0, "MALFORMED",
                  msg.status().message());
  }
  return ConvertOru(*msg, deid, options, received_at_us);
}

Hl7Outcome ConvertOru(const Message& msg, const privacy::Deidentifier& deid,
                      const OruOptions& options, int64_t received_at_us) {
  Hl7Outcome out;
  out.header = HeaderOf(msg);
  const Segment& msh = msg.msh();
  const EncodingChars& enc = msg.encoding();

  if (out.header.control_id.empty()) {
    return Reject(std::move(out), AckCode::kAE, kRequiredFieldMissing, "MSH", 1, 10,
                  "MISSING_FIELD", "MSH-10 message control id is required");
  }
  if (msh.Get(9, 1) != "ORU" || msh.Get(9, 2) != "R01") {
    return Reject(
        std::move(out), AckCode::kAR, kUnsupportedMessageType, "MSH", 1, 9, "UNSUPPORTED_MESSAGE",
        "MSH-9 message type " + Cap(msg.MessageType(), 20) + " is not supported (only ORU^R01)");
  }
  const std::string version = msg.Version();
  if (version.empty()) {
    return Reject(std::move(out), AckCode::kAE, kRequiredFieldMissing, "MSH", 1, 12,
                  "MISSING_FIELD", "MSH-12 version id is required");
  }
  if (!IsSupportedVersion(version)) {
    return Reject(std::move(out), AckCode::kAR, kUnsupportedVersionId, "MSH", 1, 12,
                  "UNSUPPORTED_MESSAGE",
                  "MSH-12 version " + Cap(version, 10) + " is not supported (2.3 to 2.5.1)");
  }
  std::string msh7 = msh.Get(7, 1);
  if (msh7.empty()) {
    return Reject(std::move(out), AckCode::kAE, kRequiredFieldMissing, "MSH", 1, 7, "MISSING_FIELD",
                  "MSH-7 date/time of message is required");
  }
  auto msh_time = ParseHl7Time(msh7);
  if (!msh_time.ok()) {
    return Reject(std::move(out), AckCode::kAE, kDataTypeError, "MSH", 1, 7, "INVALID_DATE",
                  "MSH-7 is not a valid HL7 timestamp");
  }
  std::string facility = msg.SendingFacility();
  std::string site_id = facility.empty() ? "UNKNOWN" : Cap(facility, kMaxSiteChars);

  std::optional<std::string> subject_id;  // current patient (never logged or stored)
  const Segment* obr = nullptr;
  int pid_seq = 0, obr_seq = 0, obx_seq = 0;
  std::vector<CanonicalEvent> events;

  for (const Segment& seg : msg.segments()) {
    if (seg.id() == "PID") {
      ++pid_seq;
      obr = nullptr;  // a new patient result group starts
      std::string id = seg.Get(3, 1);
      int field = 3;
      if (id.empty()) {
        id = seg.Get(2, 1);
        field = 2;
      }
      id = std::string(Trim(id));
      if (id.empty()) {
        return Reject(std::move(out), AckCode::kAE, kRequiredFieldMissing, "PID", pid_seq, 3,
                      "MISSING_FIELD", "PID-3 (or PID-2) patient identifier is required");
      }
      if (id.size() > kMaxSubjectIdChars) {
        return Reject(std::move(out), AckCode::kAE, kDataTypeError, "PID", pid_seq, field,
                      "INVALID_VALUE",
                      fmt::format("PID-{} patient identifier is longer than {} characters", field,
                                  kMaxSubjectIdChars));
      }
      subject_id = std::move(id);
      continue;
    }
    if (seg.id() == "OBR") {
      ++obr_seq;
      obr = &seg;
      continue;
    }
    if (seg.id() != "OBX") continue;
    ++obx_seq;
    ++out.obx_total;
    if (!subject_id) {
      return Reject(std::move(out), AckCode::kAE, kSegmentSequenceError, "OBX", obx_seq, 0,
                    "MISSING_FIELD", "OBX before any PID segment");
    }
    if (!obr) {
      return Reject(std::move(out), AckCode::kAE, kSegmentSequenceError, "OBX", obx_seq, 0,
                    "MALFORMED", "OBX before any OBR segment of its patient");
    }
    auto fail = [&](int code, int field, const char* reason, std::string why) {
      return Reject(std::move(out), AckCode::kAE, code, "OBX", obx_seq, field, reason,
                    fmt::format("OBX-{} (OBX #{}): {}", field, obx_seq, why));
    };
    std::string value_type = std::string(Trim(seg.Get(2, 1)));
    std::string obx5 = FirstRepetition(seg, 5, enc);
    if (value_type.empty()) {
      if (Trim(obx5).empty()) {  // nothing reported: skipped like an unsupported type
        ++out.obx_skipped;
        ++out.skipped_by_type["(none)"];
        continue;
      }
      return fail(kRequiredFieldMissing, 2, "MISSING_FIELD",
                  "value type is required when OBX-5 is valued");
    }
    if (value_type != "NM" && value_type != "SN" && value_type != "ST") {
      ++out.obx_skipped;
      ++out.skipped_by_type[Cap(value_type, 8)];
      continue;
    }

    Json value = nullptr;
    std::string value_text;
    if (value_type == "NM") {
      value_text = std::string(Trim(obx5));
      if (!value_text.empty()) {
        auto v = ParseNumber(value_text);
        if (!v) return fail(kDataTypeError, 5, "INVALID_VALUE", "NM value is not a number");
        value = *v;
      }
    } else if (value_type == "SN") {
      std::string cmp = std::string(Trim(seg.Get(5, 1)));
      std::string n1 = std::string(Trim(seg.Get(5, 2)));
      std::string sep = std::string(Trim(seg.Get(5, 3)));
      std::string n2 = std::string(Trim(seg.Get(5, 4)));
      static constexpr std::string_view kComparators[] = {"", ">", "<", ">=", "<=", "=", "<>"};
      bool cmp_ok = false;
      for (auto c : kComparators) cmp_ok = cmp_ok || cmp == c;
      if (!cmp_ok) return fail(kDataTypeError, 5, "INVALID_VALUE", "SN comparator is invalid");
      if ((!n1.empty() && !IsNumberText(n1)) || (!n2.empty() && !IsNumberText(n2))) {
        return fail(kDataTypeError, 5, "INVALID_VALUE", "SN number is not a number");
      }
      if (!sep.empty() && sep != ":" && sep != "-" && sep != "+" && sep != "/" && sep != ".") {
        return fail(kDataTypeError, 5, "INVALID_VALUE", "SN separator/suffix is invalid");
      }
      value_text = SnText(cmp, n1, sep, n2);
      if (!n1.empty() && sep.empty() && n2.empty()) value = *ParseNumber(n1);
    } else {  // ST
      value_text = obx5;
      if (value_text.size() > options.max_text_chars) {
        return fail(kDataTypeError, 5, "INVALID_VALUE",
                    fmt::format("ST value is longer than {} characters", options.max_text_chars));
      }
      value_text = privacy::Deidentifier::ScrubText(value_text);
    }
    if (value_text.size() > options.max_text_chars) {
      return fail(kDataTypeError, 5, "INVALID_VALUE",
                  fmt::format("value is longer than {} characters", options.max_text_chars));
    }

    std::string test = std::string(Trim(seg.Get(3, 1)));
    if (test.empty()) {
      return fail(kRequiredFieldMissing, 3, "MISSING_FIELD", "observation identifier is required");
    }
    std::string test_name = seg.Get(3, 2);
    std::string code_system = seg.Get(3, 3);
    std::string unit = seg.Get(6, 1);
    std::string flag = seg.Get(8, 1);
    std::string status = seg.Get(11, 1);
    for (auto [s, f] : {std::pair{&test, 3},
                        {&test_name, 3},
                        {&code_system, 3},
                        {&unit, 6},
                        {&flag, 8},
                        {&status, 11}}) {
      if (s->size() > kMaxCodeChars) {
        return fail(kDataTypeError, f, "INVALID_VALUE",
                    fmt::format("component is longer than {} characters", kMaxCodeChars));
      }
    }
    std::string ref_text = FirstRepetition(seg, 7, enc);
    if (ref_text.size() > options.max_text_chars) {
      return fail(
          kDataTypeError, 7, "INVALID_VALUE",
          fmt::format("reference range is longer than {} characters", options.max_text_chars));
    }
    RefRange range = ParseRefRange(ref_text);
    ref_text = privacy::Deidentifier::ScrubText(ref_text);

    PartialTime when = *msh_time;
    std::string obx14 = seg.Get(14, 1);
    std::string obr7 = obr->Get(7, 1);
    if (!obx14.empty()) {
      auto t = ParseHl7Time(obx14);
      if (!t.ok()) {
        return fail(kDataTypeError, 14, "INVALID_DATE", "not a valid HL7 timestamp");
      }
      when = *t;
    } else if (!obr7.empty()) {
      auto t = ParseHl7Time(obr7);
      if (!t.ok()) {
        return Reject(std::move(out), AckCode::kAE, kDataTypeError, "OBR", obr_seq, 7,
                      "INVALID_DATE", "OBR-7 observation date/time is not a valid HL7 timestamp");
      }
      when = *t;
    }

    Json payload = {
        {"test", test},
        {"code_system", code_system.empty() ? "L" : code_system},
        {"test_name", NullableString(test_name)},
        {"value", value},
        {"value_text", value_text},
        {"unit", NullableString(unit)},
        {"ref_low", range.low ? Json(*range.low) : Json(nullptr)},
        {"ref_high", range.high ? Json(*range.high) : Json(nullptr)},
        {"ref_text", NullableString(ref_text)},
        {"abnormal_flag", NullableString(flag)},
        {"is_abnormal", nullptr},
        {"category", nullptr},
        {"specimen", nullptr},
        {"visit", nullptr},
        {"visit_num", nullptr},
        {"status", NullableString(status)},
        {"precision", PrecisionName(when.precision)},
    };
    if (auto ab = IsAbnormalFlag(flag)) payload["is_abnormal"] = *ab;

    CanonicalEvent ev;
    ev.event_id = Hl7EventId(facility, out.header.control_id, obx_seq);
    ev.event_type = "lab_result";
    ev.study_id = options.study_id.empty() ? "UNKNOWN" : options.study_id;
    ev.site_id = site_id;
    ev.subject_key = deid.SubjectKey(*subject_id);
    ev.event_time_us = deid.ShiftTime(*subject_id, when.micros);
    ev.received_at_us = deid.ShiftTime(*subject_id, received_at_us);
    ev.source = "hl7";
    ev.payload_json = payload.dump(-1, ' ', false, Json::error_handler_t::replace);
    events.push_back(std::move(ev));
  }
  if (pid_seq == 0) {
    return Reject(std::move(out), AckCode::kAE, kSegmentSequenceError, "PID", 0, 0, "MISSING_FIELD",
                  "required segment PID is missing");
  }
  out.ack = AckCode::kAA;
  out.events = std::move(events);
  return out;
}

}  // namespace ctml::ingest::hl7
