// libFuzzer target for every binary decoder of PostgreSQL values: the client's typed codecs (keel::pg::PgCodec)
// and the engine's cells (keel::pg::decode_value), for each type they read. The first byte picks the decoder,
// the rest is the value's bytes as the server would send them. Any input may only decode, or throw
// keel::ProtocolError (malformed bytes) or keel::ValueError (a value the C++ type cannot hold); a crash, a
// sanitizer report or another exception is a bug.
#include <array>
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

namespace pg = keel::pg;
namespace types = keel::pg::types;

namespace {

template <class T>
void decode_as(std::uint32_t oid, std::span<const std::uint8_t> bytes) {
  (void)pg::PgCodec<T>::decode(oid, bytes);
}

using Decoder = void (*)(std::uint32_t, std::span<const std::uint8_t>);
struct Case {
  std::uint32_t oid;
  Decoder decode;
};

void engine_cell(std::uint32_t oid, std::span<const std::uint8_t> bytes) { (void)pg::decode_value(oid, bytes); }

// Every type each decoder reads, scalars and arrays.
constexpr std::array cases{
    Case{types::boolean, decode_as<bool>},
    Case{types::int2, decode_as<std::int16_t>},
    Case{types::int4, decode_as<std::int32_t>},
    Case{types::int8, decode_as<std::int64_t>},
    Case{types::oid, decode_as<std::uint32_t>},
    Case{types::float4, decode_as<float>},
    Case{types::float8, decode_as<double>},
    Case{types::text, decode_as<std::string>},
    Case{types::bytea, decode_as<keel::Blob>},
    Case{types::numeric, decode_as<pg::Numeric>},
    Case{types::date, decode_as<pg::Date>},
    Case{types::time, decode_as<pg::Time>},
    Case{types::timetz, decode_as<pg::TimeTz>},
    Case{types::timestamp, decode_as<pg::Timestamp>},
    Case{types::timestamptz, decode_as<pg::TimestampTz>},
    Case{types::interval, decode_as<pg::Interval>},
    Case{types::uuid, decode_as<pg::Uuid>},
    Case{types::json, decode_as<boost::json::value>},
    Case{types::jsonb, decode_as<boost::json::value>},
    Case{types::inet, decode_as<pg::Inet>},
    Case{types::cidr, decode_as<pg::Inet>},
    Case{1000, decode_as<std::vector<bool>>},
    Case{1009, decode_as<pg::Array<std::string>>},
    Case{1016, decode_as<std::vector<std::optional<std::int64_t>>>},
    Case{1007, decode_as<std::vector<std::int32_t>>},
    Case{1022, decode_as<std::vector<double>>},
    Case{1231, decode_as<pg::Array<pg::Numeric>>},
    Case{1182, decode_as<pg::Array<pg::Date>>},
    Case{1185, decode_as<pg::Array<pg::TimestampTz>>},
    Case{1187, decode_as<pg::Array<pg::Interval>>},
    Case{2951, decode_as<pg::Array<pg::Uuid>>},
    Case{1041, decode_as<pg::Array<pg::Inet>>},
    Case{3807, decode_as<pg::Array<boost::json::value>>},
    Case{1001, decode_as<pg::Array<keel::Blob>>},
    // The engine's cells, for every type it reads in binary.
    Case{types::boolean, engine_cell},
    Case{types::int2, engine_cell},
    Case{types::int4, engine_cell},
    Case{types::int8, engine_cell},
    Case{types::float4, engine_cell},
    Case{types::float8, engine_cell},
    Case{types::text, engine_cell},
    Case{types::bytea, engine_cell},
    Case{types::numeric, engine_cell},
    Case{types::date, engine_cell},
    Case{types::time, engine_cell},
    Case{types::timestamp, engine_cell},
    Case{types::timestamptz, engine_cell},
    Case{types::interval, engine_cell},
    Case{types::uuid, engine_cell},
    Case{types::json, engine_cell},
    Case{types::jsonb, engine_cell},
    Case{1000, engine_cell},
    Case{1016, engine_cell},
    Case{1009, engine_cell},
    Case{1231, engine_cell},
    Case{1182, engine_cell},
    Case{1185, engine_cell},
    Case{1187, engine_cell},
    Case{2951, engine_cell},
    Case{3807, engine_cell},
    Case{1001, engine_cell},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const Case& c = cases[data[0] % cases.size()];
  try {
    c.decode(c.oid, std::span<const std::uint8_t>(data + 1, size - 1));
  } catch (const keel::ProtocolError&) {
  } catch (const keel::ValueError&) {}
  return 0;
}
