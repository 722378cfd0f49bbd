// Hashing primitives on OpenSSL (SHA-256, HMAC-SHA256), RFC 4648 base32, hex, and xxHash3.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ctml {

std::string Sha256(std::string_view data);                            // 32 raw bytes
std::string HmacSha256(std::string_view key, std::string_view data);  // 32 raw bytes
std::string HexEncode(std::string_view bytes);                        // lower case
std::string Base32Encode(std::string_view bytes);                     // A-Z2-7, no padding
uint64_t Hash64(std::string_view data);                               // XXH3-64, not for security
std::string RandomBytes(size_t n);                                    // CSPRNG

}  // namespace ctml
