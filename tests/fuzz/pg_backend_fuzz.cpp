// libFuzzer target for the PostgreSQL backend-message decoder. Any input may only decode, or throw
// keel::ProtocolError; a crash, a sanitizer report or another exception is a bug.
// Input: the first byte picks the mode. 0: the rest is a stream, cut into frames and decoded one by one.
// 1: the second byte is a message type and the rest its body, which reaches every decoder directly.
// The binary codecs have a target of their own (pg_codecs_fuzz.cpp).
#include <cstddef>
#include <cstdint>
#include <span>
import keel;
import keel.postgres.protocol;

namespace proto = keel::pg::protocol;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::span<const std::uint8_t> input(data + 1, size - 1);
  try {
    if (data[0] % 2 == 0) {
      while (auto frame = proto::next_frame(input)) {
        (void)proto::decode(*frame);
        input = input.subspan(frame->size);
      }
    } else {
      proto::Frame frame{static_cast<char>(input[0]), input.subspan(1), input.size() + 4};
      (void)proto::decode(frame);
    }
  } catch (const keel::ProtocolError&) {}
  return 0;
}
