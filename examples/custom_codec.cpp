// Your own C++ types as values, three ways:
//   1. keel::ToValue<T> and keel::FromCell<T>: T binds and reads through any engine (here PostgresEngine);
//   2. keel::pg::PgCodec<T>: the client sends and reads T in binary, as a type PostgreSQL has;
//   3. PgConnection::set_type_codec<T>: the client reads and writes a server type it has no codec for (an
//      enum here; hstore, a PostGIS type...), in its text form, as asyncpg's set_type_codec does.
//   custom_codec "host=/var/run/postgresql dbname=app"   (no argument: the PG* variables and libpq's defaults)
#include <boost/asio.hpp>
#include <cstdint>
#include <exception>
#include <iostream>
#include <span>
#include <string>
#include <string_view>
import keel;

namespace asio = boost::asio;
namespace pg = keel::pg;

// An amount of money in cents, so that no float ever rounds it.
struct Cents {
  std::int64_t value = 0;
};
// A temperature: a double to the database, a type of its own in C++.
struct Celsius {
  double degrees = 0;
};
enum class Mood { sad, ok, happy };

// 1. Every engine: bind as an integer, read from an integer cell (a wrong one throws TypeMismatchError).
template <>
struct keel::ToValue<Cents> {
  static keel::Value encode(const Cents& c) { return keel::Value(c.value); }
};
template <>
struct keel::FromCell<Cents> {
  static Cents decode(const keel::Cell& cell, const keel::CellOrigin& origin) {
    return Cents{keel::FromCell<std::int64_t>::decode(cell, origin)};
  }
};

// 2. The client, in binary: sent as float8, read from float8 (or whatever double's codec reads).
template <>
struct keel::pg::PgCodec<Celsius> {
  static constexpr std::uint32_t oid = pg::types::float8;
  template <class Buffer>
  static void encode(const Celsius& c, Buffer& out) {
    pg::PgCodec<double>::encode(c.degrees, out);
  }
  static Celsius decode(std::uint32_t oid, std::span<const std::uint8_t> bytes) {
    return Celsius{pg::PgCodec<double>::decode(oid, bytes)};
  }
};

namespace {

std::string cents_text(Cents c) {
  return std::to_string(c.value / 100) + (c.value % 100 < 10 ? ".0" : ".") + std::to_string(c.value % 100);
}

asio::awaitable<void> tour(std::string dsn) {
  // 1. Through the engine: a raw query binds Cents, and a row reads it back.
  keel::PostgresEngine engine(dsn);
  keel::Rows rows = co_await engine.raw("SELECT {} + {} AS total", Cents{1999}, Cents{1});
  std::cout << "engine: 19.99 + 0.01 = " << cents_text(rows[0].get<Cents>("total")) << "\n";
  co_await engine.close();

  auto db = co_await pg::PgConnection::connect(dsn);
  // 2. Celsius in and out in binary.
  const Celsius warmer = co_await db->fetchval<Celsius>("SELECT $1 + 1.5", Celsius{20});
  std::cout << "PgCodec: 20 degrees + 1.5 = " << warmer.degrees << " degrees (parameter type "
            << co_await db->fetchval<std::string>("SELECT pg_typeof($1)::text", Celsius{0}) << ")\n";

  // 3. An enum the server defines. Without a codec, reading it as Mood is refused; with one, it round-trips.
  co_await db->execute("DROP TYPE IF EXISTS example_mood; CREATE TYPE example_mood AS ENUM ('sad', 'ok', 'happy')");
  try {
    co_await db->fetchval<Mood>("SELECT 'ok'::example_mood");
  } catch (const keel::TypeMismatchError&) {
    std::cout << "set_type_codec: before it, example_mood does not read as Mood\n";
  }
  co_await db->set_type_codec<Mood>(
      "example_mood",
      [](const Mood& m) {
        return std::string(m == Mood::sad ? "sad" : m == Mood::ok ? "ok" : "happy");
      },
      [](std::string_view text) { return text == "sad"  ? Mood::sad
                                         : text == "ok" ? Mood::ok
                                                        : Mood::happy; });
  const Mood read = co_await db->fetchval<Mood>("SELECT 'happy'::example_mood");
  const bool same = co_await db->fetchval<bool>("SELECT $1 = 'sad'::example_mood", Mood::sad);
  std::cout << "set_type_codec: read " << (read == Mood::happy ? "Mood::happy" : "another mood")
            << "; Mood::sad bound equals 'sad': " << (same ? "yes" : "no") << "\n";
  co_await db->execute("DROP TYPE example_mood");
  co_await db->close();
}

}  // namespace

int main(int argc, char** argv) try {
  keel::run_sync(tour(argc > 1 ? argv[1] : ""));  // on a private event loop of this thread
} catch (const std::exception& e) {
  std::cerr << "custom_codec failed: " << e.what() << "\n";
  return 1;
}
