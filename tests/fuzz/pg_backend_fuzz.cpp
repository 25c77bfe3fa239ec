// libFuzzer target for the PostgreSQL backend-message decoder. Any input may only decode, or throw
// keel::ProtocolError; a crash, a sanitizer report or another exception is a bug.
// Input: the first byte picks the mode. 0: the rest is a stream, cut into frames and decoded one by one.
// 1: the second byte is a message type and the rest its body, which reaches every decoder directly.
// 2: the second byte picks a binary codec (numeric, arrays, inet, json, date and time types) for the rest.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>
#include <boost/json.hpp>
import keel;
import keel.postgres;
import keel.postgres.protocol;

namespace proto = keel::pg::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::span<const std::uint8_t> input(data + 1, size - 1);
  try {
    if (data[0] % 3 == 2) {
      namespace pg = keel::pg;
      const std::span<const std::uint8_t> value = input.subspan(1);
      switch (input[0] % 8) {
        case 0: (void)pg::PgCodec<pg::Numeric>::decode(pg::types::numeric, value); break;
        case 1: (void)pg::PgCodec<pg::Array<std::string>>::decode(1009, value); break;
        case 2: (void)pg::PgCodec<pg::Array<pg::Numeric>>::decode(1231, value); break;
        case 3: (void)pg::PgCodec<pg::Inet>::decode(pg::types::inet, value); break;
        case 4: (void)pg::PgCodec<boost::json::value>::decode(pg::types::jsonb, value); break;
        case 5: (void)pg::PgCodec<pg::Interval>::decode(pg::types::interval, value); break;
        case 6: (void)pg::PgCodec<std::vector<std::optional<std::int64_t>>>::decode(1016, value); break;
        default: (void)pg::PgCodec<pg::TimeTz>::decode(pg::types::timetz, value); break;
      }
      return 0;
    }
    if (data[0] % 3 == 0) {
      while (auto frame = proto::next_frame(input)) {
        (void)proto::decode(*frame);
        input = input.subspan(frame->size);
      }
    } else {
      proto::Frame frame{static_cast<char>(input[0]), input.subspan(1), input.size() + 4};
      (void)proto::decode(frame);
    }
  } catch (const keel::ProtocolError&) {
  } catch (const keel::ValueError&) {  // a well-formed value that the requested C++ type cannot hold
  }
  return 0;
}
