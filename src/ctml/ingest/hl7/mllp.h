// MLLP (Minimal Lower Layer Protocol) framing: <VT 0x0B> message <FS 0x1C><CR 0x0D>.
// A pure, incremental decoder (feed it whatever a read returned, one byte or many messages) and
// the encoder. Decisions (docs/ingest/hl7-mllp.md):
//  - bytes outside a frame are garbage: discarded up to the next 0x0B and reported as one
//    kGarbage event per run (pending_garbage() tells how long the current run is, so a server
//    can close a connection that sends nothing else);
//  - a 0x0B inside a frame means the sender restarted: the partial frame is reported as
//    kGarbage and a new frame begins;
//  - 0x1C ends a frame; the 0x0D after it is expected but not required;
//  - a frame longer than max_frame_bytes is reported once, as soon as it crosses the limit, as
//    kOversize with its first kOversizePrefixBytes (enough to read MSH-10); the rest of it is
//    skipped up to its 0x1C (or the next 0x0B);
//  - a connection that ends inside a frame: the partial frame counts as garbage (Finish()).
//
//   MllpDecoder dec(1 << 20);
//   std::vector<MllpEvent> events;
//   dec.Feed(std::string_view(buf, n), &events);
//   for (auto& e : events) if (e.kind == MllpEvent::kMessage) Handle(e.data);
//   socket.write(MllpDecoder::Frame(ack));
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ctml::ingest::hl7 {

inline constexpr char kMllpStart = 0x0B;
inline constexpr char kMllpEnd = 0x1C;
inline constexpr char kMllpCr = 0x0D;

struct MllpEvent {
  enum Kind { kMessage, kOversize, kGarbage };
  Kind kind = kMessage;
  std::string data;  // kMessage: the message; kOversize: its first bytes; kGarbage: empty
  size_t bytes = 0;  // kMessage/kOversize: frame payload size; kGarbage: bytes discarded
};

class MllpDecoder {
 public:
  static constexpr size_t kOversizePrefixBytes = 4096;

  explicit MllpDecoder(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  // Consumes `bytes` and appends every event they complete to `out`.
  void Feed(std::string_view bytes, std::vector<MllpEvent>* out);
  // Reports garbage still pending (bytes discarded since the last frame ended) as an event;
  // call when the connection ends.
  void Finish(std::vector<MllpEvent>* out);

  // Length of the current run of bytes outside any frame.
  size_t pending_garbage() const { return garbage_run_; }
  bool in_frame() const { return state_ != State::kIdle; }
  uint64_t garbage_bytes_total() const { return garbage_total_; }

  // Wraps a message in MLLP framing.
  static std::string Frame(std::string_view message);

 private:
  enum class State { kIdle, kInFrame, kOversize, kAfterEnd };
  void FlushGarbage(std::vector<MllpEvent>* out);

  size_t max_frame_bytes_;
  State state_ = State::kIdle;
  std::string frame_;
  size_t frame_bytes_ = 0;
  size_t garbage_run_ = 0;
  uint64_t garbage_total_ = 0;
};

}  // namespace ctml::ingest::hl7
