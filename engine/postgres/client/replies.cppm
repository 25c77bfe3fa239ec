// The replies to the connection's requests, each a state machine over the server's messages, with no socket:
// a frame in (on_message), whether the waiting caller may go on (caller_may_resume), and the outcome once the
// ReadyForQuery has come (done, rethrow, and what each kept). The pipeline feeds them as frames arrive;
// tests/unit/pg_replies_test.cpp feeds them canned frames. Nothing here is exported.
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/this_coro.hpp>
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>
export module keel.postgres:replies;
import keel.engine;
import keel.postgres.protocol;
import :call_options;
import :pipeline;
import :record;
import :row_collectors;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

namespace keel::pg {

/// Receives COPY's output, chunk by chunk (PgConnection::CopySink).
using CopySink = std::function<void(std::span<const std::uint8_t>)>;

// A COPY FROM STDIN goes to its end on the server whatever happens to its caller: a cancellation ends it with
// CopyFail between two chunks (the server drops what it got), never in the middle of the stream. So the COPY
// runs with throw_if_cancelled off (Asio would throw at the next co_await, with the connection inside the COPY)
// and looks for a cancellation itself; the caller's setting comes back at its end.
class CopyCancellation {
public:
  static asio::awaitable<CopyCancellation> begin() {
    CopyCancellation c;
    c.throwing_ = co_await asio::this_coro::throw_if_cancelled();
    if (c.throwing_) co_await asio::this_coro::throw_if_cancelled(false);
    // A COPY run by a caller cleaning up after its cancellation is not stopped by that one.
    c.cancelled_before_ = (co_await asio::this_coro::cancellation_state).cancelled() != asio::cancellation_type::none;
    co_return c;
  }
  // Whether the caller was cancelled since begin(), given its cancellation state now.
  inline bool came(const asio::cancellation_state& now) const noexcept {
    return !cancelled_before_ && now.cancelled() != asio::cancellation_type::none;
  }
  asio::awaitable<void> end() const {
    if (throwing_) co_await asio::this_coro::throw_if_cancelled(true);
  }

private:
  bool throwing_ = false, cancelled_before_ = false;
};

/// A statement the server has parsed and described (PgConnection::Prepared).
struct DescribedStatement {
  std::string name;                             ///< its name on the server; empty for the unnamed statement
  std::vector<proto::FieldDescription> fields;  ///< its result columns
  std::vector<std::uint32_t> parameter_types;   ///< as the server resolved them
  std::string sql;  ///< the unnamed statement's text, parsed again with each Bind; empty for a named one
  /// The result formats and description Records and fetch_as last used, kept for the next run (they depend
  /// only on the fields and the custom codecs).
  mutable std::shared_ptr<const RecordDescription> collected;
  mutable std::optional<std::vector<proto::Format>> sink_formats;  ///< the same for keel's row sinks
};

// A simple Query's replies: the last command tag and the first error. COPY TO's data goes to the sink, when
// there is one; a COPY FROM STDIN resumes the caller, who sends its data or refuses it (CopyFail).
class SimpleReply final : public Reply {
public:
  using ResultHandler = std::function<void(const TextResult&)>;
  bool may_be_abandoned() const override { return false; }
  explicit SimpleReply(CopySink* sink = nullptr, ResultHandler* on_result = nullptr)
      : sink_(sink), on_result_(on_result) {}
  void on_message(const proto::Frame& frame) override {
    if (on_result_ && !refused) {
      try {
        take_result_message(frame);
      } catch (const ProtocolError&) {
        throw;
      } catch (...) {
        refused = std::current_exception();  // the handler's: the rest is read and dropped
      }
    }
    switch (frame.type) {
      case 'C':
        tag = proto::parse_command_complete(frame.body).tag;
        changed_session = changed_session || proto::changes_session(tag);
        break;
      case 'E': note_error(frame); break;
      case 'G': ++copy_ins_asked; break;
      case 'd':
        if (!sink_ || refused) break;
        try {
          (*sink_)(frame.body);
        } catch (...) {
          refused = std::current_exception();  // the rest is read and dropped
        }
        break;
      case 'T':
      case 'D':
      case 'I':
      case 'H':
      case 'c': break;  // rows of a simple query are not returned
      default:
        throw ProtocolError("unexpected message '" + std::string(1, frame.type) +
                            "' from the server in a simple query");
    }
  }
  bool caller_may_resume() const override { return done || copy_ins_asked > copy_ins_answered; }
  std::string tag;
  bool changed_session = false;
  int copy_ins_asked = 0, copy_ins_answered = 0;  // each COPY FROM STDIN of the script, in turn
  std::exception_ptr refused;                     // the sink's or the result handler's

private:
  // Each statement's rows and status, for run_script.
  void take_result_message(const proto::Frame& frame) {
    switch (frame.type) {
      case 'H': result_.copied_out = true; break;  // COPY ... TO STDOUT: its data goes to the sink
      case 'T':
        result_ = TextResult{.returns_rows = true};
        for (const auto& field : proto::parse_row_description(frame.body).fields) result_.columns.push_back(field.name);
        break;
      case 'D': {
        proto::parse_data_row(frame.body, cells_);
        auto& row = result_.rows.emplace_back();
        for (const auto& cell : cells_)
          row.push_back(cell ? std::optional<std::string>(std::in_place, reinterpret_cast<const char*>(cell->data()),
                                                          cell->size())
                             : std::nullopt);
        break;
      }
      case 'C':
        result_.status = proto::parse_command_complete(frame.body).tag;
        (*on_result_)(result_);
        result_ = TextResult{};
        break;
      default: break;
    }
  }

  CopySink* sink_;
  ResultHandler* on_result_;
  TextResult result_;
  std::vector<std::optional<proto::Bytes>> cells_;
};

// Parse + Describe + Sync: the statement's parameter types and result columns.
class DescribeReply final : public Reply {
public:
  using Reply::Reply;
  void on_message(const proto::Frame& frame) override {
    switch (frame.type) {
      case '1':
      case '3':
      case 'n': break;
      case 't': prepared.parameter_types = proto::parse_parameter_description(frame.body).type_oids; break;
      case 'T': prepared.fields = proto::parse_row_description(frame.body).fields; break;
      case 'E': note_error(frame); break;
      default:
        throw ProtocolError("unexpected message '" + std::string(1, frame.type) +
                            "' from the server preparing a statement");
    }
  }
  DescribedStatement prepared;
};

// Bind + Execute (one or more) + Sync: rows go to the sink, or into Records, as they arrive.
class BoundReply final : public Reply {
public:
  // `cells` is the connection's scratch for one row's cells: replies are read one at a time.
  BoundReply(const DescribedStatement& prepared, const std::vector<proto::Format>& formats, RowSink* sink,
             RowCollector* records, std::vector<std::optional<proto::Bytes>>& cells)
      : prepared_(prepared), formats_(formats), sink_(sink), records_(records), cells_(cells) {}
  void on_message(const proto::Frame& frame) override {
    switch (frame.type) {
      case '2':
      case 'I':
      case '1':
      case '3': break;
      case 's': suspended = true; break;
      case 'n':
        if (!prepared_.fields.empty()) columns_changed();
        break;
      case 'T':
        if (!same_columns(proto::parse_row_description(frame.body).fields)) columns_changed();
        break;
      case 'D':
        ++rows_seen;
        if (error || refused || (!sink_ && !records_)) break;
        proto::parse_data_row(frame.body, cells_);
        if (cells_.size() != prepared_.fields.size())
          throw ProtocolError("a row's column count differs from its description");
        try {
          if (records_)
            records_->add(description_, prepared_.fields, formats_, cells_);
          else
            sink_->on_row(PgRowReader(prepared_.fields, formats_, cells_));
        } catch (...) {
          refused = std::current_exception();  // the caller cannot take the row; the rest is read and dropped
        }
        break;
      case 'C':
        status = proto::parse_command_complete(frame.body).tag;
        rows_affected += proto::rows_in_command_tag(status);
        changed_session = changed_session || proto::changes_session(status);
        break;
      case 'E': note_error(frame); break;
      default:
        throw ProtocolError("unexpected message '" + std::string(1, frame.type) + "' from the server in a query");
    }
  }
  void use_description(std::shared_ptr<const RecordDescription> description) { description_ = std::move(description); }
  std::string status;
  std::uint64_t rows_affected = 0;
  std::size_t rows_seen = 0;
  bool suspended = false;  // a portal's Execute stopped at its row limit
  bool changed_session = false;
  std::exception_ptr refused;

private:
  // The unnamed statement's Describe (write_bind_of): its columns must still be those described, or its rows
  // would be read with the wrong formats. They differ only after a concurrent ALTER TABLE or the like.
  bool same_columns(const std::vector<proto::FieldDescription>& fields) const {
    return std::ranges::equal(fields, prepared_.fields,
                              [](const auto& a, const auto& b) { return a.type_oid == b.type_oid; });
  }
  void columns_changed() {
    if (!refused)
      refused = std::make_exception_ptr(ClientError(
          "the statement's result columns changed between its description and its run (a concurrent ALTER TABLE?): "
          "it ran, but its rows were not read"));
  }
  const DescribedStatement& prepared_;
  const std::vector<proto::Format>& formats_;
  RowSink* sink_;
  RowCollector* records_;
  std::vector<std::optional<proto::Bytes>>& cells_;
  std::shared_ptr<const RecordDescription> description_;
};

// COPY ... FROM STDIN: CopyInResponse, then (after the client's CopyDone or CopyFail) CommandComplete.
class CopyInReply final : public Reply {
public:
  bool may_be_abandoned() const override { return false; }
  using Reply::Reply;
  void on_message(const proto::Frame& frame) override {
    switch (frame.type) {
      case 'G': accepting = true; break;
      case 'C': tag = proto::parse_command_complete(frame.body).tag; break;
      case 'E': note_error(frame); break;
      case 'T':
      case 'D':
      case 'H':
      case 'd':
      case 'c': break;
      default:
        throw ProtocolError("unexpected message '" + std::string(1, frame.type) + "' from the server in COPY FROM");
    }
  }
  bool caller_may_resume() const override { return done || (accepting && !sending); }
  std::string tag;
  bool accepting = false, sending = false;
};
}  // namespace keel::pg
