// Query loggers on an engine (SQLite here; every engine has them): a callback hears each statement the engine
// runs, with its values, the time it took, the rows it returned or changed, and its error. This program uses
// the sync forms, as code without coroutines would.
//   query_logger [file.sqlite]   (default: a private in-memory database)
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
import keel;

using keel::c;

struct Task {
  static constexpr std::string_view table_name = "example_task";
  keel::Id id;
  std::string title;
  bool done = false;
};

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : ":memory:";
  try {
    keel::SqliteEngine db(path);
    int heard = 0, failed = 0;
    std::chrono::nanoseconds total{};
    // Your own logger: print what you need, count, time, or send it to your logging library. It runs on the
    // thread that ran the statement, after the statement, and a logger that throws does not fail it.
    const keel::QueryLoggerId mine = db.add_query_logger([&](const keel::LoggedStatement& s) {
      ++heard;
      total += s.elapsed;
      std::cout << "  [sql] " << s.sql;
      for (std::size_t i = 0; i < s.params.size(); ++i)
        std::cout << (i ? ", " : "  -- values: ") << keel::describe(s.params[i]);
      if (s.error) {
        ++failed;
        try {
          std::rethrow_exception(s.error);
        } catch (const std::exception& e) {
          std::cout << "\n        error: " << e.what() << "\n";
        }
      } else {
        std::cout << "\n        " << s.rows << " row(s) returned, " << s.rows_affected << " changed\n";
      }
    });

    std::cout << "create the table, empty it (a file may hold an earlier run's rows), insert:\n";
    keel::create_table<Task>().if_not_exists().run_sync(db);
    keel::delete_from<Task>().force().run_sync(db);
    keel::insert(Task{.title = "write the example"}, Task{.title = "run it", .done = true}).run_sync(db);
    std::cout << "select and update:\n";
    auto open = keel::select<Task>().where(c<&Task::done> == false).run_sync(db);
    keel::update<Task>().set(c<&Task::done>, true).where(c<&Task::title> == open.at(0).title).run_sync(db);
    std::cout << "a statement that fails:\n";
    try {
      db.raw_sync("SELECT no_such_column FROM example_task");
    } catch (const keel::UndefinedColumn&) {}
    db.remove_query_logger(mine);
    db.raw_sync("SELECT 'not heard'");  // removed: it hears nothing more
    std::cout << "the logger heard " << heard << " statements, " << failed << " failed, "
              << std::chrono::duration_cast<std::chrono::microseconds>(total).count() << " us in all\n";

    // The ready-made logger prints to std::clog, as Piccolo's log_queries and log_responses do.
    // (PostgresOptions::log_queries / log_responses install it on the PostgreSQL engine.)
    std::cout << "keel::printing_logger, on std::clog:\n" << std::flush;
    const keel::QueryLoggerId printing = db.add_query_logger(keel::printing_logger());
    keel::count<Task>().where(c<&Task::done> == true).run_sync(db);
    db.remove_query_logger(printing);
  } catch (const std::exception& e) {
    std::cerr << "query_logger failed: " << e.what() << "\n";
    return 1;
  }
}
