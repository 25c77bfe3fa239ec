// Backend messages of the PostgreSQL v3 protocol: cutting a byte stream into messages, and decoding each
// message, as pure functions over bytes. Truncated or malformed input is a ProtocolError that names what was
// wrong; nothing reads past the bytes it was given. Reference: PostgreSQL documentation, "Message Formats".
module;
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>
export module keel.postgres.protocol:backend;
import keel.core;

export namespace keel::pg::protocol {

/// A view of received bytes: a message body, or part of one.
using Bytes = std::span<const std::uint8_t>;

/// The largest message keel accepts: PostgreSQL's own limit for a field is 1 GB; a length beyond this bound
/// is a corrupt stream, not a big row.
constexpr std::size_t max_message_size = (std::size_t{1} << 30) + 1024;

/// A bounds-checked reader over one message body.
class Reader {
public:
  /// A reader of `body`, the body of a message of `message_type` (which errors name).
  inline Reader(Bytes body, char message_type) : body_(body), type_(message_type) {}

  /// The next byte.
  inline std::uint8_t u8() { return need(1)[0]; }
  /// The next 16-bit integer, big-endian.
  inline std::int16_t i16() {
    const Bytes b = need(2);
    return static_cast<std::int16_t>(static_cast<std::uint16_t>((b[0] << 8) | b[1]));
  }
  /// The next 32-bit integer, big-endian.
  inline std::int32_t i32() {
    const Bytes b = need(4);
    return static_cast<std::int32_t>((std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) |
                                     (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]});
  }
  /// A count that must not be negative.
  inline std::size_t count16(std::string_view what) {
    const std::int16_t n = i16();
    if (n < 0) fail("a negative " + std::string(what));
    return static_cast<std::size_t>(n);
  }
  /// The next NUL-terminated string, without its NUL.
  std::string_view cstring() {
    const std::size_t rest = body_.size() - at_;
    for (std::size_t i = 0; i < rest; ++i) {
      if (body_[at_ + i] == 0) {
        std::string_view s(reinterpret_cast<const char*>(body_.data() + at_), i);
        at_ += i + 1;
        return s;
      }
    }
    fail("a string without its terminating NUL");
  }
  /// The next n bytes.
  inline Bytes bytes(std::size_t n) { return need(n); }
  /// Every byte left.
  Bytes rest() {
    Bytes r = body_.subspan(at_);
    at_ = body_.size();
    return r;
  }
  /// Whether every byte was read.
  inline bool at_end() const noexcept { return at_ == body_.size(); }
  /// How many bytes are left.
  std::size_t remaining() const noexcept { return body_.size() - at_; }
  /// Throws ProtocolError unless every byte was read.
  inline void expect_end() {
    if (!at_end()) fail(std::to_string(remaining()) + " unexpected bytes at the end");
  }

  /// Throws ProtocolError: the message is malformed, as `problem` says.
  [[noreturn]] void fail(const std::string& problem) const {
    throw ProtocolError("malformed '" + std::string(1, type_) + "' message from the server: " + problem);
  }

private:
  inline Bytes need(std::size_t n) {
    if (n > body_.size() - at_) [[unlikely]]
      truncated(n);
    Bytes b = body_.subspan(at_, n);
    at_ += n;
    return b;
  }
  [[noreturn]] void truncated(std::size_t n) const {
    fail("truncated (needed " + std::to_string(n) + " more bytes, " + std::to_string(body_.size() - at_) + " left)");
  }
  Bytes body_;
  std::size_t at_ = 0;
  char type_;
};

/// One message cut from the stream: its type byte and its body (without the length).
struct Frame {
  char type = 0;         ///< the message's type byte
  Bytes body;            ///< its body
  std::size_t size = 0;  ///< bytes of the stream it used: 1 + 4 + body
};

/// Cuts the first message from `stream`: nullopt when more bytes are needed, ProtocolError when the length is
/// impossible.
inline std::optional<Frame> next_frame(Bytes stream) {
  if (stream.size() < 5) return std::nullopt;
  const std::uint32_t length = (std::uint32_t{stream[1]} << 24) | (std::uint32_t{stream[2]} << 16) |
                               (std::uint32_t{stream[3]} << 8) | std::uint32_t{stream[4]};
  if (length < 4)
    throw ProtocolError("malformed message from the server: type '" + std::string(1, static_cast<char>(stream[0])) +
                        "' with length " + std::to_string(length) + " (less than 4)");
  if (length > max_message_size)
    throw ProtocolError("malformed message from the server: type '" + std::string(1, static_cast<char>(stream[0])) +
                        "' claims " + std::to_string(length) + " bytes, more than keel accepts");
  if (stream.size() - 1 < length) return std::nullopt;
  return Frame{static_cast<char>(stream[0]), stream.subspan(5, length - 4), std::size_t{length} + 1};
}

// ---- Messages.

/// What an Authentication message asks for: its request code.
enum class AuthKind : std::int32_t {
  ok = 0,
  kerberos_v5 = 2,
  cleartext_password = 3,
  md5_password = 5,
  scm_credential = 6,
  gss = 7,
  gss_continue = 8,
  sspi = 9,
  sasl = 10,
  sasl_continue = 11,
  sasl_final = 12,
};

/// Authentication: what the server asks of the client, or that it is done (ok).
struct Authentication {
  AuthKind kind = AuthKind::ok;              ///< what it asks for
  std::vector<std::uint8_t> md5_salt;        ///< md5_password: 4 bytes
  std::vector<std::string> sasl_mechanisms;  ///< sasl
  std::string sasl_data;                     ///< sasl_continue, sasl_final
};

/// ParameterStatus: a session setting's value, at startup and whenever it changes.
struct ParameterStatus {
  std::string name;   ///< the setting's name
  std::string value;  ///< its value
};

/// BackendKeyData: what a CancelRequest names the session by.
struct BackendKeyData {
  std::int32_t process_id = 0;  ///< the session's backend process
  std::int32_t secret_key = 0;  ///< the key that makes a CancelRequest for the session valid
};

/// The transaction status ReadyForQuery reports: idle, in a transaction, or in a failed one.
enum class TransactionStatus : char { idle = 'I', in_transaction = 'T', failed = 'E' };

/// ReadyForQuery: the server is ready for a new request.
struct ReadyForQuery {
  TransactionStatus status = TransactionStatus::idle;  ///< the session's transaction status
};

/// One column of a RowDescription.
struct FieldDescription {
  std::string name;                ///< the column's name
  std::uint32_t table_oid = 0;     ///< the table it comes from; 0 when none
  std::int16_t column_number = 0;  ///< its attribute number in that table; 0 when none
  std::uint32_t type_oid = 0;      ///< its type's OID
  std::int16_t type_size = 0;      ///< the type's size (pg_type.typlen); negative for a variable size
  std::int32_t type_modifier = 0;  ///< the type modifier (atttypmod)
  std::int16_t format = 0;         ///< its format: 0 text, 1 binary
};

/// RowDescription: the columns of the rows that follow.
struct RowDescription {
  std::vector<FieldDescription> fields;  ///< one per column
};

/// A DataRow's cells as views into the message: nullopt for NULL.
struct DataRow {
  std::vector<std::optional<Bytes>> cells;  ///< one per column
};

/// CommandComplete: a command finished.
struct CommandComplete {
  std::string tag;  ///< "INSERT 0 1", "SELECT 5", "CREATE TABLE"
};

/// ErrorResponse: the request failed.
struct ErrorResponse {
  ErrorFields fields;  ///< the error's fields
};
/// NoticeResponse: a notice or a warning.
struct NoticeResponse {
  ErrorFields fields;  ///< the notice's fields
};

/// ParseComplete: Parse succeeded.
struct ParseComplete {};
/// BindComplete: Bind succeeded.
struct BindComplete {};
/// CloseComplete: Close succeeded.
struct CloseComplete {};
/// NoData: the statement returns no rows.
struct NoData {};
/// EmptyQueryResponse: the query's text held no statement.
struct EmptyQueryResponse {};
/// PortalSuspended: Execute stopped at its row limit, and the portal has more rows.
struct PortalSuspended {};

/// ParameterDescription: a statement's parameter types.
struct ParameterDescription {
  std::vector<std::uint32_t> type_oids;  ///< one OID per parameter
};

/// NotificationResponse: a NOTIFY on a channel the session listens on.
struct NotificationResponse {
  std::int32_t process_id = 0;  ///< the notifying session's backend process
  std::string channel;          ///< the channel
  std::string payload;          ///< the payload
};

/// CopyInResponse, CopyOutResponse or CopyBothResponse: a COPY began.
struct CopyResponse {
  char direction = 'G';                      ///< G in, H out, W both
  std::int8_t format = 0;                    ///< the overall format: 0 text, 1 binary
  std::vector<std::int16_t> column_formats;  ///< each column's format
};
/// CopyData: a chunk of COPY's data.
struct CopyData {
  Bytes data;  ///< the chunk, a view into the message
};
/// CopyDone: the end of COPY's data.
struct CopyDone {};

/// NegotiateProtocolVersion: the server lacks the minor version or some of the options asked for.
struct NegotiateProtocolVersion {
  std::int32_t newest_minor = 0;                  ///< the newest minor version the server speaks
  std::vector<std::string> unrecognized_options;  ///< the options it did not recognize
};

/// Any backend message, decoded.
using BackendMessage =
    std::variant<Authentication, ParameterStatus, BackendKeyData, ReadyForQuery, RowDescription, DataRow,
                 CommandComplete, ErrorResponse, NoticeResponse, ParseComplete, BindComplete, CloseComplete, NoData,
                 EmptyQueryResponse, PortalSuspended, ParameterDescription, NotificationResponse, CopyResponse,
                 CopyData, CopyDone, NegotiateProtocolVersion>;

// ---- Decoders, one per message.

/// Decodes Authentication ('R').
Authentication parse_authentication(Bytes body) {
  Reader r(body, 'R');
  Authentication auth;
  const std::int32_t code = r.i32();
  switch (code) {
    case 0:
    case 2:
    case 3:
    case 6:
    case 7:
    case 9:
      auth.kind = static_cast<AuthKind>(code);
      r.expect_end();
      break;
    case 5: {
      auth.kind = AuthKind::md5_password;
      const Bytes salt = r.bytes(4);
      auth.md5_salt.assign(salt.begin(), salt.end());
      r.expect_end();
      break;
    }
    case 8:
      auth.kind = AuthKind::gss_continue;
      r.rest();
      break;
    case 10:
      auth.kind = AuthKind::sasl;
      for (std::string_view mechanism = r.cstring(); !mechanism.empty(); mechanism = r.cstring())
        auth.sasl_mechanisms.emplace_back(mechanism);
      r.expect_end();
      break;
    case 11:
    case 12: {
      auth.kind = static_cast<AuthKind>(code);
      const Bytes data = r.rest();
      auth.sasl_data.assign(data.begin(), data.end());
      break;
    }
    default: r.fail("unknown authentication request " + std::to_string(code));
  }
  return auth;
}

/// Decodes ParameterStatus ('S').
ParameterStatus parse_parameter_status(Bytes body) {
  Reader r(body, 'S');
  ParameterStatus status{std::string(r.cstring()), {}};
  status.value = std::string(r.cstring());
  r.expect_end();
  return status;
}

/// Decodes BackendKeyData ('K').
BackendKeyData parse_backend_key_data(Bytes body) {
  Reader r(body, 'K');
  BackendKeyData key{r.i32(), 0};
  key.secret_key = r.i32();
  r.expect_end();
  return key;
}

/// Decodes ReadyForQuery ('Z').
ReadyForQuery parse_ready_for_query(Bytes body) {
  Reader r(body, 'Z');
  const char status = static_cast<char>(r.u8());
  if (status != 'I' && status != 'T' && status != 'E')
    r.fail("unknown transaction status '" + std::string(1, status) + "'");
  r.expect_end();
  return {static_cast<TransactionStatus>(status)};
}

/// Decodes RowDescription ('T').
RowDescription parse_row_description(Bytes body) {
  Reader r(body, 'T');
  RowDescription description;
  const std::size_t n = r.count16("field count");
  description.fields.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    FieldDescription f;
    f.name = std::string(r.cstring());
    f.table_oid = static_cast<std::uint32_t>(r.i32());
    f.column_number = r.i16();
    f.type_oid = static_cast<std::uint32_t>(r.i32());
    f.type_size = r.i16();
    f.type_modifier = r.i32();
    f.format = r.i16();
    if (f.format != 0 && f.format != 1) r.fail("unknown format code " + std::to_string(f.format));
    description.fields.push_back(std::move(f));
  }
  r.expect_end();
  return description;
}

/// Fills `cells` (reusing its capacity) with views of a DataRow's values.
/// Every row of every result passes here: read with plain loads, each length checked against what is left.
inline void parse_data_row(Bytes body, std::vector<std::optional<Bytes>>& cells) {
  auto fail = [](const std::string& problem) -> void {
    throw ProtocolError("malformed 'D' message from the server: " + problem);
  };
  const std::uint8_t* at = body.data();
  const std::uint8_t* const end = at + body.size();
  if (end - at < 2) fail("truncated (no column count)");
  const auto n = static_cast<std::int16_t>(static_cast<std::uint16_t>((at[0] << 8) | at[1]));
  at += 2;
  if (n < 0) fail("a negative column count");
  cells.resize(static_cast<std::size_t>(n));
  for (auto& cell : cells) {
    if (end - at < 4) fail("truncated (a value's length is missing)");
    const auto length = static_cast<std::int32_t>((std::uint32_t{at[0]} << 24) | (std::uint32_t{at[1]} << 16) |
                                                  (std::uint32_t{at[2]} << 8) | std::uint32_t{at[3]});
    at += 4;
    if (length == -1) {
      cell.reset();
      continue;
    }
    if (length < 0) fail("a negative value length " + std::to_string(length));
    if (end - at < length)
      fail("truncated (a value of " + std::to_string(length) + " bytes, " + std::to_string(end - at) + " left)");
    cell.emplace(at, static_cast<std::size_t>(length));
    at += length;
  }
  if (at != end) fail(std::to_string(end - at) + " unexpected bytes at the end");
}

/// Decodes CommandComplete ('C').
CommandComplete parse_command_complete(Bytes body) {
  Reader r(body, 'C');
  CommandComplete complete{std::string(r.cstring())};
  r.expect_end();
  return complete;
}

/// Whether a command leaves state in the session beyond its transaction, which a pool must reset before it
/// lends the connection again: settings (SET, RESET), LISTEN, cursors (DECLARE ... WITH HOLD), prepared
/// statements, DISCARD and LOAD. Advisory locks and set_config() come as SELECT and cannot be told here.
bool changes_session(std::string_view tag) {
  for (std::string_view command :
       {"SET", "RESET", "LISTEN", "DECLARE CURSOR", "PREPARE", "DEALLOCATE", "DISCARD", "LOAD"})
    if (tag.starts_with(command) && (tag.size() == command.size() || tag[command.size()] == ' ')) return true;
  return false;
}

/// The rows a command tag reports: "INSERT 0 5" -> 5, "UPDATE 3" -> 3, "CREATE TABLE" -> 0.
std::uint64_t rows_in_command_tag(std::string_view tag) {
  const std::size_t space = tag.rfind(' ');
  if (space == std::string_view::npos) return 0;
  std::uint64_t rows = 0;
  const std::string_view digits = tag.substr(space + 1);
  if (digits.empty()) return 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return 0;
    rows = rows * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return rows;
}

/// ErrorResponse and NoticeResponse: fields, each a code byte and a string, ended by a zero byte.
ErrorFields parse_error_fields(Bytes body, char type) {
  Reader r(body, type);
  ErrorFields fields;
  for (std::uint8_t code = r.u8(); code != 0; code = r.u8()) {
    const std::string value(r.cstring());
    switch (code) {
      case 'V': fields.severity = value; break;  // not localized; preferred over 'S'
      case 'S':
        if (fields.severity.empty()) fields.severity = value;
        break;
      case 'C': fields.sqlstate = value; break;
      case 'M': fields.message = value; break;
      case 'D': fields.detail = value; break;
      case 'H': fields.hint = value; break;
      case 'P': {
        int position = 0;
        bool valid = !value.empty() && value.size() < 10;
        for (char c : value) valid = valid && c >= '0' && c <= '9';
        if (valid) {
          for (char c : value) position = position * 10 + (c - '0');
          fields.position = position;
        }
        break;
      }
      case 'W': fields.where = value; break;
      case 's': fields.schema = value; break;
      case 't': fields.table = value; break;
      case 'c': fields.column = value; break;
      case 'd': fields.data_type = value; break;
      case 'n': fields.constraint = value; break;
      case 'R': fields.routine = value; break;
      default: break;  // fields added by later servers, and internal ones (q, p, F, L)
    }
  }
  r.expect_end();
  if (fields.sqlstate.size() != 5) fields.sqlstate = type == 'E' ? "XX000" : "00000";
  return fields;
}

/// Decodes ParameterDescription ('t').
ParameterDescription parse_parameter_description(Bytes body) {
  Reader r(body, 't');
  ParameterDescription description;
  const std::int16_t raw = r.i16();  // up to 65535 parameters: the count is unsigned in practice
  const std::size_t n = static_cast<std::uint16_t>(raw);
  description.type_oids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) description.type_oids.push_back(static_cast<std::uint32_t>(r.i32()));
  r.expect_end();
  return description;
}

/// Decodes NotificationResponse ('A').
NotificationResponse parse_notification(Bytes body) {
  Reader r(body, 'A');
  NotificationResponse n;
  n.process_id = r.i32();
  n.channel = std::string(r.cstring());
  n.payload = std::string(r.cstring());
  r.expect_end();
  return n;
}

/// Decodes a CopyInResponse, CopyOutResponse or CopyBothResponse (`type` 'G', 'H' or 'W').
CopyResponse parse_copy_response(Bytes body, char type) {
  Reader r(body, type);
  CopyResponse response;
  response.direction = type;
  response.format = static_cast<std::int8_t>(r.u8());
  if (response.format != 0 && response.format != 1) r.fail("unknown COPY format " + std::to_string(response.format));
  const std::size_t n = r.count16("column count");
  for (std::size_t i = 0; i < n; ++i) response.column_formats.push_back(r.i16());
  r.expect_end();
  return response;
}

/// Decodes NegotiateProtocolVersion ('v').
NegotiateProtocolVersion parse_negotiate_protocol_version(Bytes body) {
  Reader r(body, 'v');
  NegotiateProtocolVersion v;
  v.newest_minor = r.i32();
  const std::int32_t n = r.i32();
  if (n < 0) r.fail("a negative option count");
  for (std::int32_t i = 0; i < n; ++i) v.unrecognized_options.emplace_back(r.cstring());
  r.expect_end();
  return v;
}

/// Decodes a message without a body; throws ProtocolError for one that has bytes.
template <class Empty>
Empty parse_empty(Bytes body, char type) {
  Reader r(body, type);
  r.expect_end();
  return Empty{};
}

/// Decodes any backend message. DataRow and CopyData hold views into the frame's bytes.
BackendMessage decode(const Frame& frame) {
  switch (frame.type) {
    case 'R': return parse_authentication(frame.body);
    case 'S': return parse_parameter_status(frame.body);
    case 'K': return parse_backend_key_data(frame.body);
    case 'Z': return parse_ready_for_query(frame.body);
    case 'T': return parse_row_description(frame.body);
    case 'D': {
      DataRow row;
      parse_data_row(frame.body, row.cells);
      return row;
    }
    case 'C': return parse_command_complete(frame.body);
    case 'E': return ErrorResponse{parse_error_fields(frame.body, 'E')};
    case 'N': return NoticeResponse{parse_error_fields(frame.body, 'N')};
    case '1': return parse_empty<ParseComplete>(frame.body, '1');
    case '2': return parse_empty<BindComplete>(frame.body, '2');
    case '3': return parse_empty<CloseComplete>(frame.body, '3');
    case 'n': return parse_empty<NoData>(frame.body, 'n');
    case 'I': return parse_empty<EmptyQueryResponse>(frame.body, 'I');
    case 's': return parse_empty<PortalSuspended>(frame.body, 's');
    case 't': return parse_parameter_description(frame.body);
    case 'A': return parse_notification(frame.body);
    case 'G':
    case 'H':
    case 'W': return parse_copy_response(frame.body, frame.type);
    case 'd': return CopyData{frame.body};
    case 'c': return parse_empty<CopyDone>(frame.body, 'c');
    case 'v': return parse_negotiate_protocol_version(frame.body);
    default: break;
  }
  const auto code = static_cast<unsigned>(static_cast<unsigned char>(frame.type));
  throw ProtocolError("unknown message type from the server: byte " + std::to_string(code));
}

}  // namespace keel::pg::protocol
