#include <fmt/format.h>

#include <cctype>

#include "ctml/ingest/hl7/hl7.h"

namespace ctml::ingest::hl7 {
namespace {

// The n-th (0-based) part of `s` split on `sep`; "" when there are fewer parts.
std::string_view NthPart(std::string_view s, char sep, size_t n) {
  size_t start = 0;
  for (size_t i = 0; i < n; ++i) {
    size_t p = s.find(sep, start);
    if (p == std::string_view::npos) return {};
    start = p + 1;
  }
  size_t end = s.find(sep, start);
  return s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ValidSeparator(char c) {
  auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && !std::isalnum(u);
}

bool ValidSegmentId(std::string_view id) {
  if (id.size() != 3) return false;
  for (char c : id) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

Status Malformed(const std::string& why) { return Status::Invalid(why, "MSH"); }

}  // namespace

std::string Unescape(std::string_view raw, const EncodingChars& enc) {
  if (raw.find(enc.escape) == std::string_view::npos) return std::string(raw);
  std::string out;
  out.reserve(raw.size());
  size_t i = 0;
  while (i < raw.size()) {
    char c = raw[i];
    if (c != enc.escape) {
      out.push_back(c);
      ++i;
      continue;
    }
    size_t end = raw.find(enc.escape, i + 1);
    if (end == std::string_view::npos) {  // unterminated: keep literally
      out.append(raw.substr(i));
      break;
    }
    std::string_view seq = raw.substr(i + 1, end - i - 1);
    bool consumed = true;
    if (seq == "F") {
      out.push_back(enc.field);
    } else if (seq == "S") {
      out.push_back(enc.component);
    } else if (seq == "T") {
      out.push_back(enc.subcomponent);
    } else if (seq == "R") {
      out.push_back(enc.repetition);
    } else if (seq == "E") {
      out.push_back(enc.escape);
    } else if (seq == ".br") {
      out.push_back('\n');
    } else if (seq == "H" || seq == "N") {
      // highlighting on/off: formatting only
    } else if (!seq.empty() && (seq[0] == 'C' || seq[0] == 'M' || seq[0] == 'Z')) {
      // character-set switches and locally defined escapes: dropped
    } else if (!seq.empty() && seq[0] == 'X' && seq.size() % 2 == 1 && seq.size() > 1) {
      std::string bytes;
      for (size_t k = 1; k < seq.size() && consumed; k += 2) {
        int hi = HexValue(seq[k]), lo = HexValue(seq[k + 1]);
        if (hi < 0 || lo < 0) {
          consumed = false;
        } else {
          bytes.push_back(static_cast<char>(hi * 16 + lo));
        }
      }
      if (consumed) out += bytes;
    } else {
      consumed = false;
    }
    if (!consumed) {  // unknown sequence: keep it as sent
      out.append(raw.substr(i, end - i + 1));
    }
    i = end + 1;
  }
  return out;
}

std::string Escape(std::string_view value, const EncodingChars& enc) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == enc.escape) {
      out += enc.escape, out += 'E', out += enc.escape;
    } else if (c == enc.field) {
      out += enc.escape, out += 'F', out += enc.escape;
    } else if (c == enc.component) {
      out += enc.escape, out += 'S', out += enc.escape;
    } else if (c == enc.subcomponent) {
      out += enc.escape, out += 'T', out += enc.escape;
    } else if (c == enc.repetition) {
      out += enc.escape, out += 'R', out += enc.escape;
    } else if (c == '\r') {
      out += enc.escape, out += "X0D", out += enc.escape;
    } else if (c == '\n') {
      out += enc.escape, out += "X0A", out += enc.escape;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string_view Segment::Raw(size_t field) const {
  return field < fields_.size() ? fields_[field] : std::string_view();
}

std::string_view Segment::RawComponent(size_t field, size_t component, size_t rep) const {
  if (component == 0) return {};
  std::string_view f = Raw(field);
  if (id_ == "MSH" && field <= 2) return component == 1 && rep == 0 ? f : std::string_view();
  std::string_view r = NthPart(f, enc_->repetition, rep);
  return NthPart(r, enc_->component, component - 1);
}

std::string Segment::Get(size_t field, size_t component, size_t subcomponent, size_t rep) const {
  if (subcomponent == 0) return {};
  if (id_ == "MSH" && field <= 2) return std::string(RawComponent(field, component, rep));
  std::string_view c = RawComponent(field, component, rep);
  return Unescape(NthPart(c, enc_->subcomponent, subcomponent - 1), *enc_);
}

size_t Segment::Repetitions(size_t field) const {
  std::string_view f = Raw(field);
  if (f.empty()) return 0;
  if (id_ == "MSH" && field <= 2) return 1;
  size_t n = 1;
  for (char c : f) n += c == enc_->repetition;
  return n;
}

Result<Message> Message::Parse(std::string_view text, const ParseLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return Malformed(fmt::format("message exceeds {} bytes", limits.max_bytes));
  }
  // Tolerate a UTF-8 byte order mark and blank lines before MSH.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  while (!text.empty() && (text.front() == '\r' || text.front() == '\n' || text.front() == ' ')) {
    text.remove_prefix(1);
  }
  if (text.empty()) return Malformed("empty message");
  if (text.size() < 8 || text.substr(0, 3) != "MSH") {
    return Malformed("message does not start with an MSH segment");
  }
  Message m;
  m.text_ = std::make_unique<std::string>(text);
  m.enc_ = std::make_unique<EncodingChars>();
  std::string_view all(*m.text_);
  EncodingChars& enc = *m.enc_;
  enc.field = all[3];
  size_t enc_end = all.find(enc.field, 4);
  size_t line_end = all.find_first_of("\r\n");
  if (enc_end == std::string_view::npos ||
      (line_end != std::string_view::npos && enc_end > line_end)) {
    return Malformed("MSH-2 encoding characters are not terminated by the field separator");
  }
  std::string_view enc_chars = all.substr(4, enc_end - 4);
  if (enc_chars.size() < 4 || enc_chars.size() > 5) {
    return Malformed("MSH-2 must hold 4 encoding characters");
  }
  enc.component = enc_chars[0];
  enc.repetition = enc_chars[1];
  enc.escape = enc_chars[2];
  enc.subcomponent = enc_chars[3];
  const char seps[] = {enc.field, enc.component, enc.repetition, enc.escape, enc.subcomponent};
  for (size_t i = 0; i < std::size(seps); ++i) {
    if (!ValidSeparator(seps[i])) return Malformed("MSH-1/MSH-2 hold an invalid separator");
    for (size_t j = 0; j < i; ++j) {
      if (seps[i] == seps[j]) return Malformed("MSH-1/MSH-2 separators must be distinct");
    }
  }

  size_t pos = 0;
  while (pos < all.size()) {
    size_t end = all.find_first_of("\r\n", pos);
    if (end == std::string_view::npos) end = all.size();
    std::string_view line = all.substr(pos, end - pos);
    pos = end + 1;
    // Trailing blanks and stray control bytes at a frame's end are not segments.
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    if (line.empty()) continue;
    if (m.segments_.size() >= limits.max_segments) {
      return Malformed(fmt::format("message has more than {} segments", limits.max_segments));
    }
    std::vector<std::string_view> fields;
    size_t id_end = line.find(enc.field);
    std::string_view id = line.substr(0, id_end);
    if (!ValidSegmentId(id)) {
      return Status::Invalid(
          fmt::format("segment {} has an invalid segment id", m.segments_.size() + 1), "segment");
    }
    const bool is_msh = id == "MSH";
    if (is_msh && !m.segments_.empty()) {
      return Status::Invalid("more than one MSH segment (batches are not supported)", "MSH");
    }
    fields.push_back(id);
    if (is_msh) {
      fields.push_back(line.substr(3, 1));            // MSH-1
      fields.push_back(line.substr(4, enc_end - 4));  // MSH-2
      id_end = enc_end;
    }
    if (id_end != std::string_view::npos) {
      size_t start = id_end + 1;
      for (;;) {
        if (fields.size() > limits.max_fields_per_segment) {
          return Status::Invalid(
              fmt::format("segment {} has more than {} fields", id, limits.max_fields_per_segment),
              std::string(id));
        }
        size_t p = line.find(enc.field, start);
        if (p == std::string_view::npos) {
          fields.push_back(line.substr(start));
          break;
        }
        fields.push_back(line.substr(start, p - start));
        start = p + 1;
      }
    }
    m.segments_.emplace_back(id, std::move(fields), m.enc_.get());
  }
  if (m.segments_.empty() || m.segments_.front().id() != "MSH") {
    return Malformed("message does not start with an MSH segment");
  }
  return m;
}

const Segment* Message::First(std::string_view id) const {
  for (const auto& s : segments_) {
    if (s.id() == id) return &s;
  }
  return nullptr;
}

std::vector<const Segment*> Message::All(std::string_view id) const {
  std::vector<const Segment*> out;
  for (const auto& s : segments_) {
    if (s.id() == id) out.push_back(&s);
  }
  return out;
}

std::string Message::MessageType() const {
  std::string type = msh().Get(9, 1);
  std::string event = msh().Get(9, 2);
  return event.empty() ? type : type + "^" + event;
}
std::string Message::ControlId() const { return msh().Get(10); }
std::string Message::Version() const { return msh().Get(12); }
std::string Message::SendingApplication() const { return msh().Get(3); }
std::string Message::SendingFacility() const {
  std::string f = msh().Get(4, 1);
  return f.empty() ? msh().Get(4, 2) : f;
}
std::string Message::ReceivingApplication() const { return msh().Get(5); }
std::string Message::ReceivingFacility() const { return msh().Get(6); }
std::string Message::MessageTime() const { return msh().Get(7); }
std::string Message::ProcessingId() const { return msh().Get(11); }

bool IsSupportedVersion(std::string_view v) {
  return v == "2.3" || v == "2.3.1" || v == "2.4" || v == "2.5" || v == "2.5.1";
}

Result<PartialTime> ParseHl7Time(std::string_view ts) {
  auto bad = [&](const char* why) {
    // The value itself is not quoted: timestamps may be birth dates.
    return Status::Invalid(fmt::format("invalid HL7 timestamp: {}", why));
  };
  size_t digits = 0;
  while (digits < ts.size() && ts[digits] >= '0' && ts[digits] <= '9') ++digits;
  if (digits < 4) return bad("expected at least YYYY");
  if (digits != 4 && digits != 6 && digits != 8 && digits != 10 && digits != 12 && digits != 14) {
    return bad("expected YYYY[MM[DD[HH[MM[SS]]]]]");
  }
  std::string_view d = ts.substr(0, digits);
  size_t pos = digits;
  std::string frac;
  if (pos < ts.size() && ts[pos] == '.') {
    if (digits != 14) return bad("fraction without seconds");
    ++pos;
    while (pos < ts.size() && ts[pos] >= '0' && ts[pos] <= '9' && frac.size() < 9) {
      frac.push_back(ts[pos++]);
    }
    if (frac.empty()) return bad("empty fraction");
  }
  std::string zone;
  if (pos < ts.size() && (ts[pos] == '+' || ts[pos] == '-')) {
    std::string_view z = ts.substr(pos + 1);
    bool ok = z.size() == 4;
    for (char c : z) ok = ok && c >= '0' && c <= '9';
    if (!ok) {
      return bad("zone must be +/-ZZZZ");
    }
    zone = fmt::format("{}{}:{}", ts[pos], z.substr(0, 2), z.substr(2, 2));
    pos = ts.size();
  }
  if (pos != ts.size()) return bad("unexpected characters");
  int year = std::stoi(std::string(d.substr(0, 4)));
  if (year < 1800 || year > 2200) return bad("year out of range");

  TimePrecision p = TimePrecision::kSecond;
  if (digits == 4) {
    p = TimePrecision::kYear;
  } else if (digits == 6) {
    p = TimePrecision::kMonth;
  } else if (digits == 8) {
    p = TimePrecision::kDay;
  } else if (digits <= 12) {
    p = TimePrecision::kMinute;
  }
  auto part = [&](size_t at, const char* fallback) {
    return at + 2 <= digits ? std::string(d.substr(at, 2)) : std::string(fallback);
  };
  std::string iso = fmt::format("{}-{}-{}T{}:{}:{}", d.substr(0, 4), part(4, "01"), part(6, "01"),
                                part(8, "00"), part(10, "00"), part(12, "00"));
  if (!frac.empty()) iso += "." + frac;
  if (digits > 8) iso += zone;  // a calendar date keeps its date whatever the zone
  auto t = ParseIso8601(iso);
  if (!t.ok()) return bad("no such date or time");
  return PartialTime{*t, p};
}

}  // namespace ctml::ingest::hl7
