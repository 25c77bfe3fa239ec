// Bytes of the PostgreSQL wire protocol written by hand, for tests that feed keel canned backend messages.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

namespace pg_frames {

using Bytes = std::vector<std::uint8_t>;

inline Bytes bytes_of(std::string_view text) { return Bytes(text.begin(), text.end()); }

// A backend message: type, length, body.
inline Bytes message(char type, const Bytes& body) {
  Bytes out{static_cast<std::uint8_t>(type)};
  const auto length = static_cast<std::uint32_t>(body.size() + 4);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(length >> shift));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}
inline void add_i32(Bytes& out, std::int32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(static_cast<std::uint32_t>(v) >> shift));
}
inline void add_i16(Bytes& out, std::int16_t v) {
  out.push_back(static_cast<std::uint8_t>(static_cast<std::uint16_t>(v) >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
inline void add_cstring(Bytes& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
  out.push_back(0);
}

}  // namespace pg_frames
