// What the server sends unasked (LISTEN's notifications, notices, parameter changes, the end of the session),
// and the listeners that hear it: asyncpg's add_listener, add_log_listener and add_termination_listener; and
// the query loggers (add_query_logger), which hear each query as it ends.
module;
#include <boost/asio/awaitable.hpp>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>
module keel.postgres;
import keel.engine;
import keel.postgres.protocol;

namespace asio = boost::asio;
namespace proto = keel::pg::protocol;

namespace keel::pg {

asio::awaitable<ListenerId> PgConnection::add_listener(std::string channel,
                                                       std::function<void(const Notification&)> callback) {
  const bool first = !listeners_.contains(channel);
  const ListenerId id = ++listener_ids_;
  if (first) co_await execute("LISTEN " + quote_identifier(channel));
  listeners_[channel].emplace_back(id, std::move(callback));
  update_reading();
  co_return id;
}

asio::awaitable<void> PgConnection::remove_listener(const std::string& channel, ListenerId id) {
  auto found = listeners_.find(channel);
  if (found == listeners_.end()) co_return;
  std::erase_if(found->second, [id](const auto& entry) { return entry.first == id; });
  if (!found->second.empty()) co_return;
  listeners_.erase(found);
  update_reading();
  if (!is_closed()) co_await execute("UNLISTEN " + quote_identifier(channel));
}

ListenerId PgConnection::add_log_listener(std::function<void(const Notice&)> callback) {
  log_listeners_.emplace_back(++listener_ids_, std::move(callback));
  return listener_ids_;
}

void PgConnection::remove_log_listener(ListenerId id) {
  std::erase_if(log_listeners_, [id](const auto& entry) { return entry.first == id; });
}

ListenerId PgConnection::add_termination_listener(std::function<void()> callback) {
  termination_listeners_.emplace_back(++listener_ids_, std::move(callback));
  return listener_ids_;
}

void PgConnection::remove_termination_listener(ListenerId id) {
  std::erase_if(termination_listeners_, [id](const auto& entry) { return entry.first == id; });
}

ListenerId PgConnection::add_query_logger(std::function<void(const LoggedQuery&)> callback) {
  query_loggers_.emplace_back(++listener_ids_, std::move(callback));
  return listener_ids_;
}

void PgConnection::remove_query_logger(ListenerId id) {
  std::erase_if(query_loggers_, [id](const auto& entry) { return entry.first == id; });
}

void PgConnection::on_parameter_status(const proto::Frame& frame) {
  auto status = proto::parse_parameter_status(frame.body);
  settings_[status.name] = status.value;
}

void PgConnection::on_notice(const proto::Frame& frame) {
  if (log_listeners_.empty()) return;
  const Notice notice = proto::parse_error_fields(frame.body, 'N');
  for (const auto& [id, callback] : std::vector(log_listeners_)) callback(notice);
}

void PgConnection::on_notification(const proto::Frame& frame) {
  const auto message = proto::parse_notification(frame.body);
  auto found = listeners_.find(std::string(message.channel));
  if (found == listeners_.end()) return;
  const Notification notification{message.process_id, std::string(message.channel), std::string(message.payload)};
  for (const auto& [id, callback] : std::vector(found->second)) callback(notification);
}

void PgConnection::on_terminated(std::exception_ptr) {
  if (closing_) return;
  for (const auto& [id, callback] : std::vector(termination_listeners_)) callback();
}

}  // namespace keel::pg
