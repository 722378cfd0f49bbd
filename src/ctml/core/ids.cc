#include "ctml/core/ids.h"

#include "ctml/core/crypto.h"
#include "ctml/core/time.h"

namespace ctml {

std::string NewUuidV7() {
  std::string b = RandomBytes(16);
  uint64_t ms = static_cast<uint64_t>(NowMicros() / 1000);
  for (int i = 0; i < 6; ++i) b[i] = static_cast<char>((ms >> (40 - 8 * i)) & 0xff);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x70);
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  std::string h = HexEncode(b);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20);
}

}  // namespace ctml
