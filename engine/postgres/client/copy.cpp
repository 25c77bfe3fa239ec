// COPY, as asyncpg has it: a table's or a query's rows out to a sink or a file, and data in from a source, a
// string or a file. The data moves in CopyData messages with the connection held; a failure or a cancellation
// in the middle ends the COPY on the server (CopyFail), and the connection stays usable.
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
module keel.postgres;
import keel.engine;
import keel.postgres.protocol;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

namespace keel::pg {

namespace {

// A string constant of COPY's options, quoted.
std::string literal(std::string_view text) {
  std::string quoted;
  append_quoted_literal(quoted, text);
  return quoted;
}

// The file COPY's output goes to, emptied first.
std::shared_ptr<std::ofstream> open_for_writing(const std::filesystem::path& file) {
  auto out = std::make_shared<std::ofstream>(file, std::ios::binary | std::ios::trunc);
  if (!*out) throw MisuseError("cannot write " + file.string());
  return out;
}

// A sink that appends each chunk to `out`.
CopySink file_sink(std::shared_ptr<std::ofstream> out, std::filesystem::path file) {
  return [out, file](std::span<const std::uint8_t> chunk) {
    out->write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(chunk.size()));
    if (!*out) throw MisuseError("cannot write " + file.string());
  };
}

}  // namespace

asio::awaitable<std::string> PgConnection::copy_from_table(std::string_view table, CopySink sink, CopyOptions options) {
  co_return co_await copy_out("COPY " + table_target(table, options) + " TO STDOUT" + render(options), std::move(sink));
}

asio::awaitable<std::string> PgConnection::copy_from_query(std::string_view query, CopySink sink, CopyOptions options) {
  co_return co_await copy_out("COPY (" + std::string(query) + ") TO STDOUT" + render(options), std::move(sink));
}

asio::awaitable<std::string> PgConnection::copy_from_table(std::string_view table, const std::filesystem::path& file,
                                                           CopyOptions options) {
  auto out = open_for_writing(file);
  co_return co_await copy_from_table(table, file_sink(out, file), std::move(options));
}

asio::awaitable<std::string> PgConnection::copy_from_query(std::string_view query, const std::filesystem::path& file,
                                                           CopyOptions options) {
  auto out = open_for_writing(file);
  co_return co_await copy_from_query(query, file_sink(out, file), std::move(options));
}

asio::awaitable<std::string> PgConnection::copy_to_table(std::string_view table, CopySource source,
                                                         CopyOptions options) {
  co_return co_await copy_in("COPY " + table_target(table, options) + " FROM STDIN" + render(options),
                             copy_data_from(source));
}

asio::awaitable<std::string> PgConnection::copy_in_statement(std::string statement, std::string_view data,
                                                             bool send_at_once) {
  bool given = false;
  co_return co_await copy_in(
      std::move(statement),
      [&](proto::ByteBuffer& out) {
        if (std::exchange(given, true) || data.empty()) return false;
        proto::write_copy_data(out, std::span(reinterpret_cast<const std::uint8_t*>(data.data()), data.size()));
        return true;
      },
      send_at_once);
}

asio::awaitable<std::string> PgConnection::copy_to_table(std::string_view table, std::string_view data,
                                                         CopyOptions options) {
  co_return co_await copy_in_statement("COPY " + table_target(table, options) + " FROM STDIN" + render(options), data);
}

asio::awaitable<std::string> PgConnection::copy_to_table(std::string_view table, const std::filesystem::path& file,
                                                         CopyOptions options) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw MisuseError("copy_to_table: cannot read " + file.string());
  std::string chunk(64 * 1024, '\0');
  co_return co_await copy_to_table(
      table,
      [&]() -> std::string_view {
        in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        return std::string_view(chunk.data(), static_cast<std::size_t>(in.gcount()));
      },
      std::move(options));
}

asio::awaitable<std::string> PgConnection::copy_out(std::string sql, CopySink sink) {
  co_return co_await simple_query(sql, std::nullopt, &sink);
}

asio::awaitable<std::string> PgConnection::copy_in(std::string sql, std::function<bool(proto::ByteBuffer&)> produce,
                                                   bool send_at_once) {
  ensure_open();
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = deadline_for(std::nullopt, started);
  co_await pipeline_->lock_exclusive(deadline);
  ExclusiveHold hold{pipeline_.get()};
  const CopyCancellation cancellation = co_await CopyCancellation::begin();
  std::exception_ptr failure, source_failure;
  auto reply = std::make_shared<CopyInReply>();
  try {
    ensure_open();
    proto::write_query(pipeline_->out(), sql);
    pipeline_->queue(reply);
    if (!send_at_once) {
      co_await pipeline_->send_and_wait(*reply, deadline);
    }
    if (!reply->done) {
      reply->sending = true;
      source_failure = co_await send_copy_data(produce, *reply, cancellation);
      co_await pipeline_->send_and_wait(*reply, deadline,
                                        cancellation.came(co_await asio::this_coro::cancellation_state));
    }
    if (source_failure) std::rethrow_exception(source_failure);
    reply->rethrow();
    last_status_ = reply->tag;
  } catch (...) {
    failure = std::current_exception();
  }
  co_await cancellation.end();
  co_return logged_outcome(sql, started, failure, reply->tag);
}

std::string PgConnection::column_list(const std::vector<std::string>& columns) {
  std::string list;
  for (const auto& c : columns) list += (list.empty() ? "" : ", ") + quote_identifier(c);
  return list;
}

std::string PgConnection::table_target(std::string_view table, const CopyOptions& options) {
  std::string target = options.schema_name.empty() ? "" : quote_identifier(options.schema_name) + ".";
  target += quote_identifier(table);
  if (!options.columns.empty()) target += " (" + column_list(options.columns) + ")";
  return target;
}

std::string PgConnection::render(const CopyOptions& o) {
  std::vector<std::string> parts;
  if (!o.format.empty()) {
    if (o.format != "text" && o.format != "csv" && o.format != "binary")
      throw MisuseError("COPY format must be text, csv or binary, not \"" + o.format + "\"");
    parts.push_back("FORMAT " + o.format);
  }
  if (o.delimiter) parts.push_back("DELIMITER " + literal(std::string(1, *o.delimiter)));
  if (o.null) parts.push_back("NULL " + literal(*o.null));
  if (o.header) parts.push_back(std::string("HEADER ") + (*o.header ? "true" : "false"));
  if (o.quote) parts.push_back("QUOTE " + literal(std::string(1, *o.quote)));
  if (o.escape) parts.push_back("ESCAPE " + literal(std::string(1, *o.escape)));
  if (!o.force_quote.empty()) parts.push_back("FORCE_QUOTE (" + column_list(o.force_quote) + ")");
  if (!o.force_not_null.empty()) parts.push_back("FORCE_NOT_NULL (" + column_list(o.force_not_null) + ")");
  if (!o.force_null.empty()) parts.push_back("FORCE_NULL (" + column_list(o.force_null) + ")");
  if (!o.encoding.empty()) parts.push_back("ENCODING " + literal(o.encoding));
  if (parts.empty()) return "";
  std::string text = " (";
  for (std::size_t i = 0; i < parts.size(); ++i) text += (i ? ", " : "") + parts[i];
  return text + ")";
}

asio::awaitable<std::exception_ptr> PgConnection::send_copy_data(const std::function<bool(proto::ByteBuffer&)>& produce,
                                                                 const Reply& reply,
                                                                 const CopyCancellation& cancellation) {
  std::exception_ptr failure;
  while (!reply.done && !pipeline_->broken()) {
    if (cancellation.came(co_await asio::this_coro::cancellation_state)) {
      failure = std::make_exception_ptr(
          CanceledError("the COPY was cancelled while its data was sent; the server dropped what it got"));
      break;
    }
    bool more = false;
    try {
      more = produce(pipeline_->out());
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure || !more) break;
    if (pipeline_->out().size() >= 256 * 1024 && !pipeline_->flush_now()) co_await pipeline_->flush();
  }
  if (failure)
    proto::write_copy_fail(pipeline_->out(), "the client's data source failed: " + message_of(failure));
  else
    proto::write_copy_done(pipeline_->out());
  co_return failure;
}

std::function<bool(proto::ByteBuffer&)> PgConnection::copy_data_from(CopySource& source) {
  return [&source](proto::ByteBuffer& out) {
    const std::string_view chunk = source();
    if (chunk.empty()) return false;
    proto::write_copy_data(out, std::span(reinterpret_cast<const std::uint8_t*>(chunk.data()), chunk.size()));
    return true;
  };
}

}  // namespace keel::pg
