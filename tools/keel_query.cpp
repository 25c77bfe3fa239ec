// keel-query: runs SQL on PostgreSQL and prints what it returns, as `psql -c` would.
//   keel-query [--psql] [--prepared] DSN SQL [ARG...]
// Without arguments SQL may hold several statements, run as one script on the simple protocol (COPY ... TO
// STDOUT prints its data). With arguments (or --prepared) it is one prepared statement, and the arguments are
// bound as text ($1, $2...; the server reads each as the type the statement needs). Rows
// print with '|' between fields, under a header of column names; --psql prints them exactly as
// `psql -X -A -t -F '|'` does (no header, NULL as an empty field, PostgreSQL's own text form of every value,
// decoded here from the binary format). A statement that returns no rows prints its command status
// ("CREATE TABLE", "INSERT 0 1"). NOTICEs and WARNINGs go to stderr as psql prints them. A failing statement
// exits with status 1 and prints the error on stderr with its DETAIL, HINT, CONTEXT and the statement's line
// with the error position marked (--psql: psql's layout; otherwise "ERROR <SQLSTATE>: message" first). Ctrl-C cancels
// the running statement on the server.
#include <boost/asio.hpp>
#include <signal.h>
#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>
import keel;
import keel.postgres;

namespace asio = boost::asio;
namespace pg = keel::pg;

namespace {

constexpr std::string_view usage_text =
    "usage: keel-query [--psql] [--prepared] DSN SQL [ARG...]\n"
    "  Runs SQL on the PostgreSQL server that DSN names (a postgresql:// URI or libpq's key=value string; the\n"
    "  PG* environment variables fill in what it leaves out) and prints each statement's rows, or its command\n"
    "  status. Without ARGs, SQL may hold several statements; COPY ... TO STDOUT prints its data, and\n"
    "  COPY ... FROM STDIN reads standard input's lines until a line \\. or the end of input.\n"
    "  ARG...  values for $1, $2, ... of one statement, bound as text\n"
    "  --psql  print rows as psql -X -A -t -F '|' does: no header, NULL as an empty field\n"
    "  --prepared  run SQL as one prepared statement, rows in binary shown in PostgreSQL's text form\n"
    "  Ctrl-C cancels the statement on the server. Exit status: 0 done, 1 failed, 2 bad usage.\n";

// The number of characters (UTF-8 code points) in `text`: the server's error position counts characters.
std::size_t characters(std::string_view text) {
  std::size_t n = 0;
  for (const char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The byte offset of the character at 1-based `position`.
std::size_t byte_offset(std::string_view text, int position) {
  std::size_t offset = 0;
  for (int seen = 0; offset < text.size(); ++offset)
    if ((static_cast<unsigned char>(text[offset]) & 0xC0) != 0x80 && ++seen == position) break;
  return offset;
}

// psql's "LINE n: <the line>" and a caret under the error position.
void print_position(std::ostream& out, std::string_view sql, int position) {
  const std::size_t at = std::min(byte_offset(sql, position), sql.size());
  const std::size_t newline_before = at == 0 ? std::string_view::npos : sql.rfind('\n', at - 1);
  const std::size_t line_start = newline_before == std::string_view::npos ? 0 : newline_before + 1;
  const std::size_t line_end = std::min(sql.find('\n', at), sql.size());
  const auto line_number = 1 + std::count(sql.begin(), sql.begin() + static_cast<std::ptrdiff_t>(line_start), '\n');
  const std::string prefix = "LINE " + std::to_string(line_number) + ": ";
  out << prefix << sql.substr(line_start, line_end - line_start) << "\n"
      << std::string(prefix.size() + characters(sql.substr(line_start, at - line_start)), ' ') << "^\n";
}

// A server's message (an error, a notice) as psql prints it: the primary line, the position, DETAIL, HINT,
// CONTEXT.
void print_message(std::ostream& out, const keel::ErrorFields& fields, std::string_view sql, bool psql) {
  if (psql)
    out << fields.severity << ":  " << fields.message << "\n";
  else
    out << fields.severity << " " << fields.sqlstate << ": " << fields.message << "\n";
  if (fields.position && *fields.position > 0) print_position(out, sql, *fields.position);
  if (!fields.detail.empty()) out << "DETAIL:  " << fields.detail << "\n";
  if (!fields.hint.empty()) out << "HINT:  " << fields.hint << "\n";
  // psql's SHOW_CONTEXT is "errors" by default: a NOTICE's or WARNING's context is left out.
  const bool is_error = fields.severity == "ERROR" || fields.severity == "FATAL" || fields.severity == "PANIC";
  if (is_error && !fields.where.empty()) out << "CONTEXT:  " << fields.where << "\n";
}

// A statement's rows, '|' between fields; NULL as an empty field (--psql) or as NULL under a header of names.
template <class Rows, class Cell>
void print_rows(const std::vector<std::string>& columns, const Rows& rows, bool psql, Cell&& cell) {
  if (!psql && !rows.empty()) {
    for (std::size_t i = 0; i < columns.size(); ++i) std::cout << (i ? "|" : "") << columns[i];
    std::cout << "\n";
  }
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < columns.size(); ++i) {
      if (i) std::cout << '|';
      if (auto text = cell(row, i))
        std::cout << *text;
      else if (!psql)
        std::cout << "NULL";
    }
    std::cout << '\n';
  }
}

// COPY ... FROM STDIN's data, as psql -c reads it: standard input's lines, until a line "\." or the end of input
// (each COPY of a script takes up where the one before stopped). While it waits for input, the event loop that
// would hear Ctrl-C is not running: Ctrl-C then ends keel-query at once, as an unhandled SIGINT does, and the
// server, its connection gone, keeps nothing of the COPY.
class StdinLines {
public:
  std::string_view operator()() {
    struct sigaction plain{}, previous{};
    plain.sa_handler = SIG_DFL;
    ::sigaction(SIGINT, &plain, &previous);
    chunk_.clear();
    for (std::string line; chunk_.size() < 64 * 1024 && !ended_ && std::getline(std::cin, line);) {
      if (line == "\\.") {
        ended_ = true;
        break;
      }
      chunk_ += line;
      chunk_ += '\n';
    }
    if (chunk_.empty()) ended_ = false;  // this COPY has its data; the next one reads on
    ::sigaction(SIGINT, &previous, nullptr);
    return chunk_;
  }

private:
  std::string chunk_;
  bool ended_ = false;
};

// Without arguments: the text as a script on the simple protocol, as psql -c sends it. Each statement's rows
// come in the server's own text format; COPY ... TO STDOUT's data goes to stdout, COPY ... FROM STDIN's comes
// from stdin.
asio::awaitable<void> run_script(pg::PgConnection& connection, const std::string& sql, bool psql) {
  StdinLines stdin_lines;
  co_await connection.run_script(
      sql,
      [&](const pg::TextResult& result) {
        if (result.returns_rows)
          print_rows(result.columns, result.rows, psql, [](const auto& row, std::size_t i) { return row[i]; });
        else if (!result.copied_out)  // psql prints a COPY TO's data, not its status
          std::cout << result.status << "\n";
      },
      [&](std::span<const std::uint8_t> chunk) {
        std::cout.write(reinterpret_cast<const char*>(chunk.data()), static_cast<std::streamsize>(chunk.size()));
      },
      std::ref(stdin_lines));
}

// With arguments (or --prepared): one statement, prepared, the arguments bound as text (the server infers each type),
// rows in binary and shown in PostgreSQL's own text form.
asio::awaitable<void> run_bound(pg::PgConnection& connection, const std::string& sql,
                                const std::vector<std::string>& args, bool psql) {
  const bool returns_rows = !(co_await connection.prepare(sql)).get_attributes().empty();
  const std::vector<keel::Value> values(args.begin(), args.end());
  const std::vector<pg::Record> rows = co_await connection.fetch_values(sql, values);
  if (!returns_rows) {
    std::cout << connection.status_message() << "\n";
    co_return;
  }
  std::vector<std::string> columns;
  for (std::size_t i = 0; !rows.empty() && i < rows[0].size(); ++i) columns.emplace_back(rows[0].name(i));
  const pg::TextSettings settings{connection.setting("TimeZone")};
  print_rows(columns, rows, psql, [&](const pg::Record& row, std::size_t i) -> std::optional<std::string> {
    if (auto bytes = row.bytes(i)) return pg::postgres_text(row.type_oid(i), row.format(i), *bytes, settings);
    return std::nullopt;
  });
}

asio::awaitable<int> run(std::string dsn, std::string sql, std::vector<std::string> args, bool psql, bool prepared) {
  auto connection = co_await pg::PgConnection::connect(dsn);
  connection->add_log_listener(
      [&](const pg::PgConnection::Notice& notice) { print_message(std::cerr, notice, sql, psql); });
  if (args.empty() && !prepared)
    co_await run_script(*connection, sql, psql);
  else
    co_await run_bound(*connection, sql, args, psql);
  co_await connection->close();
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (!words.empty() && (words.front() == "--help" || words.front() == "-h")) {
    std::cout << usage_text;
    return 0;
  }
  bool psql = false, prepared = false;
  while (!words.empty() && (words.front() == "--psql" || words.front() == "--prepared")) {
    (words.front() == "--psql" ? psql : prepared) = true;
    words.erase(words.begin());
  }
  if (words.size() < 2) {
    std::cerr << usage_text;
    return 2;
  }
  const std::string sql = words[1];
  try {
    asio::io_context loop;
    // Ctrl-C: Asio's cancellation reaches the running statement, and the client sends the server a
    // CancelRequest for it, as psql does.
    asio::cancellation_signal cancel;
    asio::signal_set interrupt(loop, SIGINT);
    interrupt.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      std::cerr << "Cancel request sent\n";
      cancel.emit(asio::cancellation_type::terminal);
      // A second Ctrl-C does not wait for the cancel (a server that does not answer it).
      interrupt.async_wait([](const boost::system::error_code& again, int) {
        if (!again) std::_Exit(130);
      });
    });
    std::exception_ptr failure;
    int status = 1;
    asio::co_spawn(loop, run(words[0], sql, {words.begin() + 2, words.end()}, psql, prepared),
                   asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, int result) {
                     failure = e;
                     status = result;
                     interrupt.cancel();  // the loop then runs out of work
                   }));
    loop.run();
    if (failure) std::rethrow_exception(failure);
    return status;
  } catch (const keel::DatabaseError& e) {
    print_message(std::cerr, e.fields(), sql, psql);
    return 1;
  } catch (const keel::CanceledError& e) {
    // The server's 57014 ends a cancelled call as keel's CanceledError; psql shows the server's error.
    std::cerr << (psql ? "ERROR:  canceling statement due to user request\n"
                       : "keel-query: " + std::string(e.what()) + "\n");
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "keel-query: " << e.what() << "\n";
    return 1;
  }
}
