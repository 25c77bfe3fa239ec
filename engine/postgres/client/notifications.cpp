// What the server sends unasked (LISTEN's notifications, notices, parameter changes, the end of the session),
// and the listeners that hear it: asyncpg's add_listener, add_log_listener and add_termination_listener; and
// the query loggers (add_query_logger), which hear each query as it ends.
module;
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
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

void PgConnection::tell_query_loggers(std::string_view sql, const EncodedParameters* params,
                                      std::chrono::steady_clock::time_point started,
                                      const std::exception_ptr& failure) {
  LoggedQuery logged;
  logged.sql = sql;
  logged.elapsed = std::chrono::steady_clock::now() - started;
  logged.error = failure;
  logged.status = failure ? std::string() : last_status_;
  if (failure) logged.error_message = message_of(failure);
  if (params) {
    const TextSettings text{setting("TimeZone").empty() ? "UTC" : setting("TimeZone")};
    const auto values = params->values();
    for (std::size_t i = 0; i < values.size(); ++i) {
      const proto::ParameterValue value = values[i];
      if (!value)
        logged.arguments.push_back(std::nullopt);
      else {
        try {
          logged.arguments.push_back(postgres_text(params->types[i], params->formats[i], *value, text));
        } catch (...) {
          logged.arguments.push_back("(" + std::to_string(value->size()) + " bytes)");
        }
      }
    }
  }
  for (const auto& [id, callback] : std::vector(query_loggers_)) callback(logged);
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
