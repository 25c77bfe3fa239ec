// The extended query protocol's colder steps: Parse + Describe of a statement, the statement cache's
// misses (concurrent callers of one text wait for one preparation), Bind + Execute of a described statement,
// and a portal's steps. The hot path, a cached statement bound and read (run_bound, send_bound, finish_bound),
// stays in connection.inc, where the query's own translation unit sees it.
module;
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
module keel.postgres;
import keel.engine;
import keel.postgres.protocol;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

namespace keel::pg {

asio::awaitable<ExecResult> PgConnection::run_prepared(const Prepared& prepared, std::span<EncodedParameters> sets,
                                                       RowSink* sink, RowCollector* records,
                                                       std::optional<std::chrono::steady_clock::time_point> deadline,
                                                       ExclusiveHold& hold) {
  ensure_open();
  if (!pipeline_->turn_is_free(hold.held())) co_await pipeline_->wait_for_turn(hold.held(), deadline);
  auto reply = send_bound(prepared, sets, sink, records, hold);
  co_await pipeline_->send_and_wait(*reply, deadline);
  co_return finish_bound(*reply);
}

void PgConnection::write_pending_closes(proto::ByteBuffer& out) {
  cache_.write_closes(out);
  for (const auto& [target, name] : to_close_) proto::write_close(out, target, name);
  to_close_.clear();
}

asio::awaitable<PgConnection::PortalStep> PgConnection::run_portal(const Prepared& prepared,
                                                                   const EncodedParameters* bind,
                                                                   const std::string& portal, std::size_t max_rows,
                                                                   RowSink& sink, ExclusiveHold& hold) {
  ensure_open();
  const auto deadline = deadline_for(std::nullopt, std::chrono::steady_clock::now());
  if (!pipeline_->turn_is_free(hold.held())) co_await pipeline_->wait_for_turn(hold.held(), deadline);
  const auto& formats = sink_formats(prepared);
  auto reply =
      std::allocate_shared<BoundReply>(RecyclingAllocator<BoundReply>(), prepared, formats, &sink, nullptr, row_cells_);
  auto& out = pipeline_->out();
  write_pending_closes(out);
  if (bind) write_bind_of(out, portal, prepared, *bind, formats);
  if (max_rows > 0)
    proto::write_execute(out, portal, static_cast<std::int32_t>(std::min<std::size_t>(max_rows, INT32_MAX)));
  proto::write_sync(out);
  pipeline_->queue(reply);
  if (hold.held()) {  // an unnamed statement is bound: others may follow it now
    pipeline_->unlock_exclusive();
    hold.pipeline = nullptr;
  }
  co_await pipeline_->send_and_wait(*reply, deadline);
  finish_bound(*reply);
  co_return PortalStep{reply->rows_seen, reply->suspended};
}

asio::awaitable<PgConnection::Prepared> PgConnection::parse_and_describe(
    std::string name, std::string_view sql, std::span<const std::uint32_t> types,
    std::optional<std::chrono::steady_clock::time_point> deadline, bool owner) {
  auto reply = std::make_shared<DescribeReply>();
  if (!pipeline_->turn_is_free(owner)) co_await pipeline_->wait_for_turn(owner, deadline);
  ensure_open();
  auto& out = pipeline_->out();
  write_pending_closes(out);
  proto::write_parse(out, name, sql, types);
  proto::write_describe(out, proto::Target::statement, name);
  proto::write_sync(out);
  pipeline_->queue(reply);
  co_await pipeline_->send_and_wait(*reply, deadline);
  reply->rethrow();
  if (reply->caller_canceled) {
    // The server prepared it before the cancellation reached it; the statement it was for must not run.
    if (!name.empty()) to_close_.emplace_back(proto::Target::statement, name);
    throw CanceledError("the query was cancelled while its statement was prepared; it was not run");
  }
  if (name.empty()) reply->prepared.sql = sql;  // parsed again with each Bind (write_bind_of)
  reply->prepared.name = std::move(name);
  co_return std::move(reply->prepared);
}

asio::awaitable<std::shared_ptr<const PgConnection::Prepared>> PgConnection::prepare(
    std::string_view sql, std::span<const std::uint32_t> types,
    std::optional<std::chrono::steady_clock::time_point> deadline, ExclusiveHold& hold) {
  if (!cache_.caches(sql)) {
    co_await pipeline_->lock_exclusive(deadline);
    hold.pipeline = pipeline_.get();
    co_return std::make_shared<const Prepared>(co_await parse_and_describe("", sql, types, deadline, true));
  }
  if (auto found = cached_statement(sql, types)) co_return found;
  const std::string key = cache_.key(sql, types);
  while (true) {
    ensure_open();
    if (auto found = cache_.find(sql, types, std::chrono::steady_clock::now())) co_return found;  // prepared meanwhile
    auto in_flight = preparing_.find(key);
    if (in_flight == preparing_.end()) break;
    auto waiters = in_flight->second;
    co_await waiters->wait(get_executor(), deadline);
    Pipeline::throw_if_given_up(
        deadline,
        Pipeline::stops(co_await asio::this_coro::cancellation_state, co_await asio::this_coro::throw_if_cancelled()),
        "while another call prepared the same statement");
  }
  auto waiters = std::make_shared<Waiters>();
  preparing_.emplace(key, waiters);
  std::exception_ptr failure;
  Prepared prepared;
  try {
    prepared =
        co_await parse_and_describe("keel_s" + std::to_string(++statement_counter_), sql, types, deadline, false);
  } catch (...) {
    failure = std::current_exception();
  }
  preparing_.erase(key);
  waiters->notify_all();
  if (failure) std::rethrow_exception(failure);
  co_return cache_.add(key, std::move(prepared), std::chrono::steady_clock::now());
}

}  // namespace keel::pg
