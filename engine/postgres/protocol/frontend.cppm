// Frontend messages of the PostgreSQL v3 protocol, one function per message, each appending its bytes to a
// buffer. No I/O: the transport writes the buffer, so several messages (Parse/Bind/Execute/Sync) go out in
// one write. Reference: PostgreSQL documentation, "Frontend/Backend Protocol", "Message Formats".
module;
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.postgres.protocol:frontend;
import keel.core;

export namespace keel::pg::protocol {

/// Bytes of messages to send, or of a value's binary form.
using ByteBuffer = std::vector<std::uint8_t>;

/// The protocol version StartupMessage asks for: 3.0.
constexpr std::int32_t protocol_version_3_0 = 196608;  // 3 << 16
/// SSLRequest's code, in place of a protocol version.
constexpr std::int32_t ssl_request_code = 80877103;
/// CancelRequest's code, in place of a protocol version.
constexpr std::int32_t cancel_request_code = 80877102;

/// A value's format on the wire.
enum class Format : std::int16_t { text = 0, binary = 1 };

// The writers below run for every message of every query: inline (a module's functions are not, unless
// declared so), so that push_back's fast path is inlined too.
/// Appends a byte.
inline void put_u8(ByteBuffer& out, std::uint8_t v) { out.push_back(v); }
/// Appends a 16-bit integer, big-endian.
inline void put_i16(ByteBuffer& out, std::int16_t v) {
  const auto u = static_cast<std::uint16_t>(v);
  out.push_back(static_cast<std::uint8_t>(u >> 8));
  out.push_back(static_cast<std::uint8_t>(u));
}
/// Appends a 32-bit integer, big-endian.
inline void put_i32(ByteBuffer& out, std::int32_t v) {
  const auto u = static_cast<std::uint32_t>(v);
  out.push_back(static_cast<std::uint8_t>(u >> 24));
  out.push_back(static_cast<std::uint8_t>(u >> 16));
  out.push_back(static_cast<std::uint8_t>(u >> 8));
  out.push_back(static_cast<std::uint8_t>(u));
}
/// Appends bytes.
inline void put_bytes(ByteBuffer& out, std::span<const std::uint8_t> bytes) {
  out.insert(out.end(), bytes.begin(), bytes.end());
}
/// Appends the characters' bytes.
inline void put_bytes(ByteBuffer& out, std::string_view bytes) { out.insert(out.end(), bytes.begin(), bytes.end()); }
/// Room for n more bytes, growing geometrically (a plain reserve would grow to fit exactly, again and again).
inline void ensure_room(ByteBuffer& out, std::size_t n) {
  if (out.capacity() - out.size() < n) out.reserve(std::max(out.size() + n, 2 * out.capacity()));
}
/// Throws MisuseError: `what` holds a NUL byte, which the protocol cannot carry.
[[noreturn]] void refuse_nul(std::string_view what) {
  throw MisuseError(std::string(what) + " contains a NUL byte, which PostgreSQL's protocol cannot carry");
}
/// A NUL-terminated string; the protocol cannot carry a NUL inside one.
inline void put_cstring(ByteBuffer& out, std::string_view text, std::string_view what) {
  if (!text.empty() && std::memchr(text.data(), 0, text.size())) refuse_nul(what);
  put_bytes(out, text);
  out.push_back(0);
}

/// Writes a message whose body size is known before: one resize, then plain stores into the bytes it made.
class SizedMessage {
public:
  /// Starts a message of `type` with room for `body_size` bytes of body, which the members below write in order.
  SizedMessage(ByteBuffer& out, char type, std::size_t body_size) {
    const std::size_t start = out.size();
    out.resize(start + 1 + 4 + body_size);
    at_ = out.data() + start;
    u8(static_cast<std::uint8_t>(type));
    i32(static_cast<std::int32_t>(4 + body_size));
  }
  /// A byte.
  void u8(std::uint8_t v) { *at_++ = v; }
  /// A 16-bit integer, big-endian.
  void i16(std::int16_t v) {
    const auto u = static_cast<std::uint16_t>(v);
    at_[0] = static_cast<std::uint8_t>(u >> 8);
    at_[1] = static_cast<std::uint8_t>(u);
    at_ += 2;
  }
  /// A 32-bit integer, big-endian.
  void i32(std::int32_t v) {
    const auto u = static_cast<std::uint32_t>(v);
    at_[0] = static_cast<std::uint8_t>(u >> 24);
    at_[1] = static_cast<std::uint8_t>(u >> 16);
    at_[2] = static_cast<std::uint8_t>(u >> 8);
    at_[3] = static_cast<std::uint8_t>(u);
    at_ += 4;
  }
  /// Bytes.
  void bytes(std::span<const std::uint8_t> b) {
    if (!b.empty()) std::memcpy(at_, b.data(), b.size());
    at_ += b.size();
  }
  /// The characters' bytes.
  void bytes(std::string_view b) { bytes(std::span(reinterpret_cast<const std::uint8_t*>(b.data()), b.size())); }

private:
  std::uint8_t* at_ = nullptr;
};

/// Writes a message: the type byte (none for startup-phase messages), then a length that counts itself.
class MessageWriter {
public:
  /// Starts a message of `type` (0 for a startup-phase message, which has none) at the end of `out`.
  inline MessageWriter(ByteBuffer& out, char type) : out_(out) {
    if (type) out_.push_back(static_cast<std::uint8_t>(type));
    length_at_ = out_.size();
    put_i32(out_, 0);
  }
  /// Writes the message's length, once its body was appended to `out`.
  inline ~MessageWriter() {
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

/// SSLRequest: asks the server for TLS; it answers with one byte, S or N.
void write_ssl_request(ByteBuffer& out) {
  MessageWriter message(out, 0);
  put_i32(out, ssl_request_code);
}

/// StartupMessage: protocol 3.0 and the session parameters (user, database, application_name, options...).
void write_startup(ByteBuffer& out, std::span<const std::pair<std::string, std::string>> parameters) {
  MessageWriter message(out, 0);
  put_i32(out, protocol_version_3_0);
  for (const auto& [name, value] : parameters) {
    put_cstring(out, name, "a startup parameter name");
    put_cstring(out, value, "the startup parameter " + name);
  }
  out.push_back(0);
}

/// CancelRequest: asks the server, on a connection of its own, to cancel what a session is running.
void write_cancel_request(ByteBuffer& out, std::int32_t process_id, std::int32_t secret_key) {
  MessageWriter message(out, 0);
  put_i32(out, cancel_request_code);
  put_i32(out, process_id);
  put_i32(out, secret_key);
}

/// PasswordMessage: a cleartext or md5 password.
void write_password(ByteBuffer& out, std::string_view password) {
  MessageWriter message(out, 'p');
  put_cstring(out, password, "the password");
}

/// SASLInitialResponse: the chosen mechanism and the client-first-message.
void write_sasl_initial_response(ByteBuffer& out, std::string_view mechanism, std::string_view data) {
  MessageWriter message(out, 'p');
  put_cstring(out, mechanism, "the SASL mechanism");
  put_i32(out, static_cast<std::int32_t>(data.size()));
  put_bytes(out, data);
}

/// SASLResponse: the client-final-message.
void write_sasl_response(ByteBuffer& out, std::string_view data) {
  MessageWriter message(out, 'p');
  put_bytes(out, data);
}

// ---- Queries.

/// Query: the simple protocol; the text may hold several statements.
void write_query(ByteBuffer& out, std::string_view sql) {
  MessageWriter message(out, 'Q');
  put_cstring(out, sql, "the SQL text");
}

/// Parse: prepares `sql` as statement `name` ("" is the unnamed statement). A parameter type of 0 lets the
/// server infer it.
void write_parse(ByteBuffer& out, std::string_view name, std::string_view sql,
                 std::span<const std::uint32_t> parameter_types) {
  if (parameter_types.size() > static_cast<std::size_t>(std::numeric_limits<std::uint16_t>::max()))
    throw MisuseError("a statement takes at most 65535 parameters on PostgreSQL; this one has " +
                      std::to_string(parameter_types.size()));
  MessageWriter message(out, 'P');
  put_cstring(out, name, "the statement name");
  put_cstring(out, sql, "the SQL text");
  put_i16(out, static_cast<std::int16_t>(parameter_types.size()));
  for (std::uint32_t oid : parameter_types) put_i32(out, static_cast<std::int32_t>(oid));
}

/// A parameter value for Bind: its bytes in the parameter's format, or NULL.
using ParameterValue = std::optional<std::span<const std::uint8_t>>;

/// Values as Bind takes them: any sized range of ParameterValues (a vector, a span, or a view that makes them
/// from a buffer of its own).
template <class Values>
concept ParameterValues = std::ranges::sized_range<const Values> &&
                          std::convertible_to<std::ranges::range_reference_t<const Values>, ParameterValue>;

/// Bind: binds values to statement `statement` as portal `portal`. Formats follow the protocol's rule: none
/// means all text, one applies to all, otherwise one per parameter (or result column).
template <ParameterValues Values>
void write_bind(ByteBuffer& out, std::string_view portal, std::string_view statement,
                std::span<const Format> parameter_formats, const Values& values,
                std::span<const Format> result_formats) {
  if (values.size() > static_cast<std::size_t>(std::numeric_limits<std::uint16_t>::max()))
    throw MisuseError("a statement takes at most 65535 parameters on PostgreSQL; this one has " +
                      std::to_string(values.size()));
  if (portal.find('\0') != std::string_view::npos) refuse_nul("the portal name");
  if (statement.find('\0') != std::string_view::npos) refuse_nul("the statement name");
  std::size_t body =
      portal.size() + 1 + statement.size() + 1 + 2 + 2 * parameter_formats.size() + 2 + 2 + 2 * result_formats.size();
  for (const ParameterValue value : values) {
    if (value && value->size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
      throw MisuseError("a parameter value is larger than PostgreSQL's 1 GB limit");
    body += 4 + (value ? value->size() : 0);
  }
  // Every query sends one: sized up front, then written with plain stores (checked above, so nothing throws
  // halfway through the message).
  SizedMessage m(out, 'B', body);
  m.bytes(portal);
  m.u8(0);
  m.bytes(statement);
  m.u8(0);
  m.i16(static_cast<std::int16_t>(parameter_formats.size()));
  for (Format f : parameter_formats) m.i16(static_cast<std::int16_t>(f));
  m.i16(static_cast<std::int16_t>(values.size()));
  for (const ParameterValue value : values) {
    if (!value) {
      m.i32(-1);
      continue;
    }
    m.i32(static_cast<std::int32_t>(value->size()));
    m.bytes(*value);
  }
  m.i16(static_cast<std::int16_t>(result_formats.size()));
  for (Format f : result_formats) m.i16(static_cast<std::int16_t>(f));
}

/// What Describe and Close name: a prepared statement or a portal.
enum class Target : char { statement = 'S', portal = 'P' };

/// Describe: asks for a statement's parameter and result types, or a portal's result types.
void write_describe(ByteBuffer& out, Target target, std::string_view name) {
  MessageWriter message(out, 'D');
  put_u8(out, static_cast<std::uint8_t>(target));
  put_cstring(out, name, "the statement or portal name");
}

/// Execute: runs a bound portal; max_rows 0 means all rows.
void write_execute(ByteBuffer& out, std::string_view portal, std::int32_t max_rows) {
  if (portal.find('\0') != std::string_view::npos) refuse_nul("the portal name");
  SizedMessage m(out, 'E', portal.size() + 1 + 4);
  m.bytes(portal);
  m.u8(0);
  m.i32(max_rows);
}

/// Close: drops a statement or a portal on the server.
void write_close(ByteBuffer& out, Target target, std::string_view name) {
  MessageWriter message(out, 'C');
  put_u8(out, static_cast<std::uint8_t>(target));
  put_cstring(out, name, "the statement or portal name");
}

/// Sync: ends a unit of extended-protocol messages; the server answers with ReadyForQuery.
void write_sync(ByteBuffer& out) { SizedMessage(out, 'S', 0); }
/// Flush: asks the server to send what it has ready.
void write_flush(ByteBuffer& out) { MessageWriter message(out, 'H'); }
/// Terminate: says goodbye before closing.
void write_terminate(ByteBuffer& out) { MessageWriter message(out, 'X'); }

// ---- COPY FROM STDIN.
/// CopyData: a chunk of COPY's data.
void write_copy_data(ByteBuffer& out, std::span<const std::uint8_t> data) {
  MessageWriter message(out, 'd');
  put_bytes(out, data);
}
/// CopyDone: the end of COPY's data.
void write_copy_done(ByteBuffer& out) { MessageWriter message(out, 'c'); }
/// CopyFail: ends a COPY FROM STDIN with an error that says `reason`.
void write_copy_fail(ByteBuffer& out, std::string_view reason) {
  MessageWriter message(out, 'f');
  put_cstring(out, reason, "the COPY failure reason");
}

}  // namespace keel::pg::protocol
