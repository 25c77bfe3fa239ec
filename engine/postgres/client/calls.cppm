// PgConnection's templates of asyncpg's API (fetch, fetchrow, fetchval, executemany, fetchmany,
// copy_records_to_table, set_type_codec) and execute_in_order, defined here, out of the class that declares them,
// so that connection.cppm reads as the connection's API and its hot path. A template is made where it is used:
// each unit that calls one imports this partition (keel.postgres exports it to its users).
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>
export module keel.postgres:calls;
import keel.engine;
import keel.postgres.protocol;
import :call_options;
import :codecs;
import :connection;
import :copy_records;
import :parameter_encoding;
import :pipeline;
import :record;
import :replies;
import :row_collectors;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

namespace keel::pg {

// Doxygen takes these definitions for members other than their declarations, which carry the documentation.
/// \cond

// ---- asyncpg's API. fetch, fetch_as, fetchval and execute (as fetch_values in the class) encode their values at once
// and return run_bound's coroutine: no frame of their own.

template <class... Args>
asio::awaitable<std::vector<Record>> PgConnection::fetch(std::string_view sql, const Args&... args) {
  return run_bound(sql, encode(args...), RecordCollector(custom_codecs_), nullptr, take_records);
}

template <class T, class... Args>
asio::awaitable<std::vector<T>> PgConnection::fetch_as(std::string_view sql, const Args&... args) {
  return run_bound(sql, encode(args...), TypedCollector<T>(custom_codecs_), nullptr,
                   [](TypedCollector<T>& rows, ExecResult) { return std::move(rows.rows); });
}

template <class... Args>
asio::awaitable<std::optional<Record>> PgConnection::fetchrow(std::string_view sql, const Args&... args) {
  co_return first_record(co_await fetch(sql, args...));
}

template <class T, class... Args>
asio::awaitable<T> PgConnection::fetchval(std::string_view sql, const Args&... args) {
  return run_bound(
      sql, encode(args...), FirstValueCollector<T>(custom_codecs_), nullptr,
      [](FirstValueCollector<T>& first, ExecResult) { return value_of_first_row<T>(std::move(first.value)); });
}

template <class... Args>
  requires(value_count_v<Args...> > 0)
asio::awaitable<std::string> PgConnection::execute(std::string_view sql, const Args&... args) {
  return run_bound(sql, encode(args...), NoRows{}, nullptr, [this](NoRows&, ExecResult) { return last_status_; });
}

template <class... Args>
asio::awaitable<std::uint64_t> PgConnection::executemany(std::string_view sql,
                                                         const std::vector<std::tuple<Args...>>& rows,
                                                         std::optional<Timeout> limit) {
  co_return co_await run_many(sql, rows, limit, nullptr);
}

template <class... Args>
asio::awaitable<std::vector<Record>> PgConnection::fetchmany(std::string_view sql,
                                                             const std::vector<std::tuple<Args...>>& sets,
                                                             std::optional<Timeout> limit) {
  RecordCollector records(custom_codecs_);
  co_await run_many(sql, sets, limit, &records);
  co_return std::move(records.records);
}

template <class T, class... Args>
asio::awaitable<std::vector<T>> PgConnection::fetchmany_as(std::string_view sql,
                                                           const std::vector<std::tuple<Args...>>& sets,
                                                           std::optional<Timeout> limit) {
  TypedCollector<T> rows(custom_codecs_);
  co_await run_many(sql, sets, limit, &rows);
  co_return std::move(rows.rows);
}

template <class T>
asio::awaitable<void> PgConnection::set_type_codec(std::string_view type_name,
                                                   std::function<std::string(const T&)> encoder,
                                                   std::function<T(std::string_view)> decoder, proto::Format format) {
  static_assert(std::is_default_constructible_v<T>, "set_type_codec: the C++ type must be default-constructible");
  const auto oid = co_await fetchval<std::optional<std::int64_t>>("SELECT to_regtype($1)::oid::int8", type_name);
  if (!oid) throw MisuseError("set_type_codec: the server has no type named \"" + std::string(type_name) + "\"");
  auto registry = custom_codecs_ ? std::make_shared<CodecRegistry>(*custom_codecs_) : std::make_shared<CodecRegistry>();
  registry->template add<T>(static_cast<std::uint32_t>(*oid), format, std::move(encoder), std::move(decoder));
  custom_codecs_ = std::move(registry);  // Records already handed out keep the registry they came with
}

// ---- Many statements, or one with many sets of values.

template <class Statements>
asio::awaitable<void> PgConnection::execute_in_order(const Statements& statements) {
  const std::size_t count = std::ranges::size(statements);
  bool pipelined = count > 1 && std::ranges::all_of(statements, [&](const auto& s) { return cache_.caches(s.sql()); });
  if (pipelined && count > cache_.capacity()) {
    std::unordered_set<std::string_view> texts;
    for (const auto& s : statements)
      if (texts.insert(s.sql()).second && texts.size() > cache_.capacity()) break;
    pipelined = texts.size() <= cache_.capacity();
  }
  if (!pipelined) {
    std::size_t ran = 0;
    for (const auto& s : statements) {
      // Cancelled while an earlier statement still completed: it stands, and the rest are not sent. (Asio would
      // throw its operation_aborted at the next co_await instead of a keel error.)
      if (ran > 0 &&
          Pipeline::stops(co_await asio::this_coro::cancellation_state, co_await asio::this_coro::throw_if_cancelled()))
        throw CanceledError("the statements were cancelled after " + std::to_string(ran) + " of " +
                            std::to_string(count) + " ran; the rest were not sent");
      co_await query(s.sql(), s.params(), nullptr);
      ++ran;
    }
    co_return;
  }
  std::vector<EncodedParameters> encoded;
  std::vector<std::shared_ptr<const Prepared>> prepared;
  encoded.reserve(count);
  prepared.reserve(count);
  const auto started = std::chrono::steady_clock::now();
  std::exception_ptr failure;
  try {
    for (const auto& s : statements) {
      auto& e = encoded.emplace_back();
      for (const Value& v : s.params()) e.add_value(v);
      ExclusiveHold hold;
      prepared.push_back(co_await prepare(s.sql(), e.types, std::nullopt, hold));
    }
    ensure_open();
    if (!pipeline_->turn_is_free(false)) co_await pipeline_->wait_for_turn(false);
    // Cancelled while a statement was prepared that still completed: none of them is sent.
    if (Pipeline::stops(co_await asio::this_coro::cancellation_state, co_await asio::this_coro::throw_if_cancelled()))
      throw CanceledError("the queries were cancelled before they were sent to the server; none of them ran");
    // No rows are collected, so one reply, described by the first statement, reads them all.
    auto reply = std::allocate_shared<BoundReply>(RecyclingAllocator<BoundReply>(), *prepared.front(),
                                                  sink_formats(*prepared.front()), nullptr, nullptr, row_cells_);
    auto& out = pipeline_->out();
    for (std::size_t i = 0; i < count; ++i) {
      proto::write_bind(out, "", prepared[i]->name, encoded[i].formats, encoded[i].values(),
                        sink_formats(*prepared[i]));
      proto::write_execute(out, "", 0);
    }
    proto::write_sync(out);
    pipeline_->queue(reply);
    if (out.size() > 64 * 1024) pipeline_->read_while_writing();
    co_await pipeline_->send_and_wait(*reply, std::nullopt);
    finish_bound(*reply);
  } catch (...) {
    failure = std::current_exception();
  }
  std::size_t i = 0;
  for (const auto& s : statements) {
    if (i < encoded.size()) log_query(s.sql(), &encoded[i], started, failure);
    ++i;
  }
  if (failure) std::rethrow_exception(failure);
}

template <class... Args>
asio::awaitable<std::uint64_t> PgConnection::run_many(std::string_view sql,
                                                      const std::vector<std::tuple<Args...>>& sets,
                                                      std::optional<Timeout> limit, RowCollector* rows) {
  if (sets.empty()) co_return 0;  // nothing to send
  std::vector<EncodedParameters> encoded;
  encoded.reserve(sets.size());
  for (const auto& set : sets) {
    auto& e = encoded.emplace_back(EncodedParameters{custom_codecs_.get()});
    std::apply([&](const auto&... values) { (e.add(values), ...); }, set);
  }
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = deadline_for(limit ? std::optional(limit->limit) : std::nullopt, started);
  ensure_open();
  std::exception_ptr failure;
  std::uint64_t affected = 0;
  try {
    ExclusiveHold hold;
    const std::shared_ptr<const Prepared> prepared = co_await prepare(sql, encoded.front().types, deadline, hold);
    affected = (co_await run_prepared(*prepared, encoded, nullptr, rows, deadline, hold)).rows_affected;
  } catch (...) {
    failure = std::current_exception();
  }
  log_query(sql, &encoded.front(), started, failure);
  if (failure) std::rethrow_exception(failure);
  co_return affected;
}

// ---- COPY of records.

template <class Records>
asio::awaitable<std::string> PgConnection::copy_records_to_table(std::string_view table, const Records& records,
                                                                 CopyOptions options) {
  const std::string columns = options.columns.empty() ? "*" : column_list(options.columns);
  options.columns.clear();  // they go in the COPY's own column list, below
  const std::string target = table_target(table, options);
  // The columns' types, from a statement the server describes (cached like any other).
  ExclusiveHold hold;
  const auto described = co_await prepare("SELECT " + columns + " FROM " + target + " LIMIT 0", {}, std::nullopt, hold);
  if (hold.held()) {  // uncached (statement_cache_size 0): only its description was wanted
    pipeline_->unlock_exclusive();
    hold.pipeline = nullptr;
  }
  std::vector<std::uint32_t> column_types;
  std::string names;
  for (const auto& field : described->fields) {
    column_types.push_back(field.type_oid);
    names += (names.empty() ? "" : ", ") + quote_identifier(field.name);
  }
  CopyOptions binary;
  binary.format = "binary";
  auto next = std::begin(records);
  const auto end = std::end(records);
  bool header_sent = false, trailer_sent = false;
  CopyChunk chunk;
  const CodecRegistry* custom = custom_codecs_.get();
  co_return co_await copy_in("COPY " + target + " (" + names + ") FROM STDIN" + render(binary),
                             [&](proto::ByteBuffer& out) {
                               if (trailer_sent) return false;
                               chunk.clear();
                               if (!std::exchange(header_sent, true)) write_copy_header(chunk);
                               for (; next != end && chunk.size() < 256 * 1024; ++next)
                                 encode_copy_tuple(*next, column_types, custom, chunk);
                               if (next == end) {
                                 write_copy_trailer(chunk);
                                 trailer_sent = true;
                               }
                               proto::write_copy_data(out, chunk.bytes());
                               return true;
                             });
}

/// \endcond

}  // namespace keel::pg
