#include "ctml/ingest/demo_ids.h"

#include "ctml/core/crypto.h"

namespace ctml::ingest {

std::string DemoPatientId(uint64_t seed, int index) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  uint64_t h = Hash64("demo-patient:" + std::to_string(seed) + ":" + std::to_string(index));
  std::string id = "PT";
  for (int i = 0; i < 8; ++i) {
    id += kAlphabet[h % 36];
    h /= 36;
  }
  return id;
}

}  // namespace ctml::ingest
