// Frontend messages of the PostgreSQL v3 protocol, one function per message, each appending its bytes to a
// buffer. No I/O: the transport writes the buffer, so several messages (Parse/Bind/Execute/Sync) go out in
// one write. Reference: PostgreSQL documentation, "Frontend/Backend Protocol", "Message Formats".
module;
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.postgres.protocol:frontend;
import keel.engine;

export namespace keel::pg::protocol {

using ByteBuffer = std::vector<std::uint8_t>;

constexpr std::int32_t protocol_version_3_0 = 196608;  // 3 << 16
constexpr std::int32_t ssl_request_code = 80877103;
constexpr std::int32_t cancel_request_code = 80877102;

enum class Format : std::int16_t { text = 0, binary = 1 };

void put_u8(ByteBuffer& out, std::uint8_t v) { out.push_back(v); }
void put_i16(ByteBuffer& out, std::int16_t v) {
  const auto u = static_cast<std::uint16_t>(v);
  out.push_back(static_cast<std::uint8_t>(u >> 8));
  out.push_back(static_cast<std::uint8_t>(u));
}
void put_i32(ByteBuffer& out, std::int32_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(u >> shift));
}
void put_bytes(ByteBuffer& out, std::span<const std::uint8_t> bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }
void put_bytes(ByteBuffer& out, std::string_view bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }
// A NUL-terminated string; the protocol cannot carry a NUL inside one.
void put_cstring(ByteBuffer& out, std::string_view text, std::string_view what) {
  if (text.find('\0') != std::string_view::npos)
    throw MisuseError(std::string(what) + " contains a NUL byte, which PostgreSQL's protocol cannot carry");
  put_bytes(out, text);
  out.push_back(0);
}

// Writes a message: the type byte (none for startup-phase messages), then a length that counts itself.
class MessageWriter {
public:
  MessageWriter(ByteBuffer& out, char type) : out_(out) {
    if (type) out_.push_back(static_cast<std::uint8_t>(type));
    length_at_ = out_.size();
    put_i32(out_, 0);
  }
  ~MessageWriter() {
    const std::size_t length = out_.size() - length_at_;
    const auto u = static_cast<std::uint32_t>(length);
    for (int i = 0; i < 4; ++i) out_[length_at_ + i] = static_cast<std::uint8_t>(u >> (24 - 8 * i));
  }
  MessageWriter(const MessageWriter&) = delete;
  MessageWriter& operator=(const MessageWriter&) = delete;

private:
  ByteBuffer& out_;
  std::size_t length_at_;
};

// ---- Before and during the startup.

void write_ssl_request(ByteBuffer& out) {
  MessageWriter message(out, 0);
  put_i32(out, ssl_request_code);
}

// StartupMessage: protocol 3.0 and the session parameters (user, database, application_name, options...).
void write_startup(ByteBuffer& out, std::span<const std::pair<std::string, std::string>> parameters) {
  MessageWriter message(out, 0);
  put_i32(out, protocol_version_3_0);
  for (const auto& [name, value] : parameters) {
    put_cstring(out, name, "a startup parameter name");
    put_cstring(out, value, "the startup parameter " + name);
  }
  out.push_back(0);
}

void write_cancel_request(ByteBuffer& out, std::int32_t process_id, std::int32_t secret_key) {
  MessageWriter message(out, 0);
  put_i32(out, cancel_request_code);
  put_i32(out, process_id);
  put_i32(out, secret_key);
}

// PasswordMessage: a cleartext or md5 password.
void write_password(ByteBuffer& out, std::string_view password) {
  MessageWriter message(out, 'p');
  put_cstring(out, password, "the password");
}

// SASLInitialResponse: the chosen mechanism and the client-first-message.
void write_sasl_initial_response(ByteBuffer& out, std::string_view mechanism, std::string_view data) {
  MessageWriter message(out, 'p');
  put_cstring(out, mechanism, "the SASL mechanism");
  put_i32(out, static_cast<std::int32_t>(data.size()));
  put_bytes(out, data);
}

// SASLResponse: the client-final-message.
void write_sasl_response(ByteBuffer& out, std::string_view data) {
  MessageWriter message(out, 'p');
  put_bytes(out, data);
}

// ---- Queries.

// Query: the simple protocol; the text may hold several statements.
void write_query(ByteBuffer& out, std::string_view sql) {
  MessageWriter message(out, 'Q');
  put_cstring(out, sql, "the SQL text");
}

// Parse: prepares `sql` as statement `name` ("" is the unnamed statement). A parameter type of 0 lets the
// server infer it.
void write_parse(ByteBuffer& out, std::string_view name, std::string_view sql, std::span<const std::uint32_t> parameter_types) {
  if (parameter_types.size() > static_cast<std::size_t>(std::numeric_limits<std::uint16_t>::max()))
    throw MisuseError("a statement takes at most 65535 parameters on PostgreSQL; this one has " +
                      std::to_string(parameter_types.size()));
  MessageWriter message(out, 'P');
  put_cstring(out, name, "the statement name");
  put_cstring(out, sql, "the SQL text");
  put_i16(out, static_cast<std::int16_t>(parameter_types.size()));
  for (std::uint32_t oid : parameter_types) put_i32(out, static_cast<std::int32_t>(oid));
}

// A parameter value for Bind: its bytes in the parameter's format, or NULL.
using ParameterValue = std::optional<std::span<const std::uint8_t>>;

// Bind: binds values to statement `statement` as portal `portal`. Formats follow the protocol's rule: none
// means all text, one applies to all, otherwise one per parameter (or result column).
void write_bind(ByteBuffer& out, std::string_view portal, std::string_view statement, std::span<const Format> parameter_formats,
                std::span<const ParameterValue> values, std::span<const Format> result_formats) {
  if (values.size() > static_cast<std::size_t>(std::numeric_limits<std::uint16_t>::max()))
    throw MisuseError("a statement takes at most 65535 parameters on PostgreSQL; this one has " +
                      std::to_string(values.size()));
  MessageWriter message(out, 'B');
  put_cstring(out, portal, "the portal name");
  put_cstring(out, statement, "the statement name");
  put_i16(out, static_cast<std::int16_t>(parameter_formats.size()));
  for (Format f : parameter_formats) put_i16(out, static_cast<std::int16_t>(f));
  put_i16(out, static_cast<std::int16_t>(values.size()));
  for (const ParameterValue& value : values) {
    if (!value) {
      put_i32(out, -1);
      continue;
    }
    if (value->size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
      throw MisuseError("a parameter value is larger than PostgreSQL's 1 GB limit");
    put_i32(out, static_cast<std::int32_t>(value->size()));
    put_bytes(out, *value);
  }
  put_i16(out, static_cast<std::int16_t>(result_formats.size()));
  for (Format f : result_formats) put_i16(out, static_cast<std::int16_t>(f));
}

enum class Target : char { statement = 'S', portal = 'P' };

void write_describe(ByteBuffer& out, Target target, std::string_view name) {
  MessageWriter message(out, 'D');
  put_u8(out, static_cast<std::uint8_t>(target));
  put_cstring(out, name, "the statement or portal name");
}

// Execute: runs a bound portal; max_rows 0 means all rows.
void write_execute(ByteBuffer& out, std::string_view portal, std::int32_t max_rows) {
  MessageWriter message(out, 'E');
  put_cstring(out, portal, "the portal name");
  put_i32(out, max_rows);
}

void write_close(ByteBuffer& out, Target target, std::string_view name) {
  MessageWriter message(out, 'C');
  put_u8(out, static_cast<std::uint8_t>(target));
  put_cstring(out, name, "the statement or portal name");
}

void write_sync(ByteBuffer& out) { MessageWriter message(out, 'S'); }
void write_flush(ByteBuffer& out) { MessageWriter message(out, 'H'); }
void write_terminate(ByteBuffer& out) { MessageWriter message(out, 'X'); }

// ---- COPY FROM STDIN.
void write_copy_data(ByteBuffer& out, std::span<const std::uint8_t> data) {
  MessageWriter message(out, 'd');
  put_bytes(out, data);
}
void write_copy_done(ByteBuffer& out) { MessageWriter message(out, 'c'); }
void write_copy_fail(ByteBuffer& out, std::string_view reason) {
  MessageWriter message(out, 'f');
  put_cstring(out, reason, "the COPY failure reason");
}

}  // namespace keel::pg::protocol
