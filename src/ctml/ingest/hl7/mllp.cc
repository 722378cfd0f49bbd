#include "ctml/ingest/hl7/mllp.h"

#include <algorithm>

namespace ctml::ingest::hl7 {

void MllpDecoder::FlushGarbage(std::vector<MllpEvent>* out) {
  if (garbage_run_ == 0) return;
  out->push_back(MllpEvent{MllpEvent::kGarbage, {}, garbage_run_});
  garbage_run_ = 0;
}

void MllpDecoder::Feed(std::string_view bytes, std::vector<MllpEvent>* out) {
  size_t i = 0;
  while (i < bytes.size()) {
    const char c = bytes[i];
    switch (state_) {
      case State::kIdle:
        if (c == kMllpStart) {
          FlushGarbage(out);
          state_ = State::kInFrame;
          frame_.clear();
          frame_bytes_ = 0;
        } else if (c != '\r' && c != '\n') {  // line ends between frames are tolerated
          ++garbage_run_;
          ++garbage_total_;
        }
        ++i;
        break;
      case State::kInFrame: {
        // Copy the run up to the next control byte in one go.
        size_t stop = bytes.find_first_of(std::string_view("\x0B\x1C", 2), i);
        size_t end = stop == std::string_view::npos ? bytes.size() : stop;
        size_t take = end - i;
        if (frame_bytes_ + take > max_frame_bytes_) {
          size_t room =
              frame_.size() < kOversizePrefixBytes ? kOversizePrefixBytes - frame_.size() : 0;
          frame_.append(bytes.substr(i, std::min(room, take)));
          frame_bytes_ += take;
          out->push_back(MllpEvent{MllpEvent::kOversize, std::move(frame_), frame_bytes_});
          frame_.clear();
          state_ = State::kOversize;
          i = end;
          break;
        }
        frame_.append(bytes.substr(i, take));
        frame_bytes_ += take;
        i = end;
        if (stop == std::string_view::npos) break;
        if (bytes[stop] == kMllpEnd) {
          out->push_back(MllpEvent{MllpEvent::kMessage, std::move(frame_), frame_bytes_});
          frame_.clear();
          state_ = State::kAfterEnd;
        } else {  // a new start byte: the sender abandoned the partial frame
          garbage_total_ += frame_bytes_ + 1;
          out->push_back(MllpEvent{MllpEvent::kGarbage, {}, frame_bytes_ + 1});
          frame_.clear();
          frame_bytes_ = 0;
        }
        ++i;
        break;
      }
      case State::kOversize: {
        size_t stop = bytes.find_first_of(std::string_view("\x0B\x1C", 2), i);
        if (stop == std::string_view::npos) {
          frame_bytes_ += bytes.size() - i;
          i = bytes.size();
          break;
        }
        frame_bytes_ += stop - i;
        if (bytes[stop] == kMllpEnd) {
          state_ = State::kAfterEnd;
        } else {
          state_ = State::kInFrame;
          frame_.clear();
          frame_bytes_ = 0;
        }
        i = stop + 1;
        break;
      }
      case State::kAfterEnd:
        state_ = State::kIdle;
        if (c == kMllpCr) ++i;  // else: reprocess the byte as outside a frame
        break;
    }
  }
}

void MllpDecoder::Finish(std::vector<MllpEvent>* out) {
  if (state_ == State::kInFrame) {
    garbage_run_ += frame_bytes_ + 1;
    garbage_total_ += frame_bytes_ + 1;
  }
  state_ = State::kIdle;
  frame_.clear();
  frame_bytes_ = 0;
  FlushGarbage(out);
}

std::string MllpDecoder::Frame(std::string_view message) {
  std::string out;
  out.reserve(message.size() + 3);
  out.push_back(kMllpStart);
  out.append(message);
  out.push_back(kMllpEnd);
  out.push_back(kMllpCr);
  return out;
}

}  // namespace ctml::ingest::hl7
