// The tables the ORM tests use. Included after `import keel;`.
#pragma once
#include <boost/json/value.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace orm_test {

struct Manager {
  keel::Id id;
  keel::Unique<std::string> name;
};

struct Band {
  keel::Id id;
  keel::Unique<std::string> name;
  keel::ForeignKey<Manager> manager;
  keel::Column<std::int64_t, keel::default_to<0>, keel::indexed> popularity;
  std::optional<std::string> country;
};

struct Concert {
  keel::Id id;
  keel::ForeignKey<Band, keel::on_delete_cascade> band;
  std::string venue;
  double price = 0;
  bool sold_out = false;
  std::optional<std::int32_t> capacity;
  std::optional<keel::ForeignKey<Manager>> promoter;
};

// A given (not generated) text key, a blob, and a table name of its own.
struct TicketHolder {
  static constexpr std::string_view table_name = "holders";
  keel::PrimaryKey<std::string> code;
  keel::Blob photo;
  keel::Column<std::string, keel::default_to<"it's new">> status;
};

// Dates, times, an interval, a UUID, JSON and an exact number, and a nullable instant.
struct Booking {
  keel::Id id;
  std::chrono::sys_days day;
  keel::TimeOfDay starts;
  keel::Timestamp local_start;  // a wall-clock reading
  keel::TimestampTz booked_at;  // an instant
  keel::Interval length;
  keel::Uuid reference{};
  keel::Json details;
  keel::Numeric price;
  std::optional<keel::TimestampTz> cancelled_at;
};

// Arrays: PostgreSQL's arrays, JSON text on SQLite.
struct Playlist {
  keel::Id id;
  std::vector<std::string> tags;
  std::vector<std::int64_t> plays;
  std::vector<std::chrono::sys_days> days;
  std::vector<keel::Uuid> refs;
  std::optional<std::vector<double>> weights;
  std::vector<std::optional<std::int64_t>> scores;  // elements that may be NULL
  std::vector<std::optional<std::string>> notes;
};

// Times of other precisions than keel's microseconds: instants and wall-clock readings of seconds and
// milliseconds, durations of minutes, seconds and milliseconds, and an array of durations.
struct Shift {
  keel::Id id;
  std::chrono::sys_seconds starts;
  std::optional<std::chrono::sys_time<std::chrono::milliseconds>> logged;
  std::chrono::local_time<std::chrono::seconds> local_start;
  std::chrono::minutes length{};
  std::chrono::milliseconds lag{};
  std::optional<std::chrono::seconds> pause;
  std::vector<std::chrono::seconds> laps;
};

// Arrays of JSON documents: any JSON, and structs stored as JSON objects.
struct Clip {
  std::string title;
  std::int64_t seconds = 0;
  friend bool operator==(const Clip&, const Clip&) = default;
};
struct Scrapbook {
  keel::Id id;
  std::vector<boost::json::value> pages;
  std::vector<keel::JsonOf<Clip>> clips;
  std::optional<std::vector<boost::json::value>> drafts;
};

// Columns whose database chooses their values when a row leaves them unset.
struct Post {
  keel::Id id;
  std::string title;
  keel::Column<keel::TimestampTz, keel::default_now> created_at;
  keel::Column<keel::Uuid, keel::default_uuid> public_id;
  keel::Column<std::int64_t, keel::default_sql<"(40 + 2)">> score;
};

// A table that refers to itself: each employee's manager is another employee, read through an alias.
struct Employee {
  keel::Id id;
  std::string name;
  std::optional<keel::ForeignKey<Employee>> manager;
  std::string department;
  std::int64_t salary = 0;
};

// Enums stored as their labels: a PostgreSQL enum type each, text with a CHECK on SQLite. Weather's values are
// not 0, 1, 2, and a label has a quote.
enum class Mood { sad, ok, happy };
enum class Weather : std::uint8_t { sun = 10, rain = 20, storm = 30 };

struct Diary {
  keel::Id id;
  Mood mood = Mood::ok;
  keel::Column<Mood, keel::indexed> morning;  // a second column of the same enum: one type
  std::optional<Weather> weather;
};

}  // namespace orm_test

template <>
struct keel::SqlEnum<orm_test::Mood> {
  static constexpr std::string_view name = "mood";
  static constexpr keel::EnumLabel<orm_test::Mood> labels[] = {
      {orm_test::Mood::sad, "sad"}, {orm_test::Mood::ok, "ok"}, {orm_test::Mood::happy, "happy"}};
};
template <>
struct keel::SqlEnum<orm_test::Weather> {
  static constexpr std::string_view name = "weather";
  static constexpr keel::EnumLabel<orm_test::Weather> labels[] = {{orm_test::Weather::sun, "sunny"},
                                                                  {orm_test::Weather::rain, "it's raining"},
                                                                  {orm_test::Weather::storm, "storm"}};
};

namespace orm_test {

// Arrays of enums: an array of the enum's type on PostgreSQL, a JSON array of labels on SQLite. Sky's labels
// hold what array text quotes or escapes, and one spells NULL.
enum class Sky { clear, odd, null_word };

struct Forecast {
  keel::Id id;
  std::vector<Sky> skies;
  std::vector<std::optional<Weather>> weathers;  // NULL elements
  std::optional<std::vector<Mood>> moods;
};

}  // namespace orm_test

template <>
struct keel::SqlEnum<orm_test::Sky> {
  static constexpr std::string_view name = "sky";
  static constexpr keel::EnumLabel<orm_test::Sky> labels[] = {
      {orm_test::Sky::clear, "clear"}, {orm_test::Sky::odd, R"( a, "b" {c} \d)"}, {orm_test::Sky::null_word, "NULL"}};
};

namespace orm_test {

// Enum columns with a default_to: DEFAULT the enumerator's label, on PostgreSQL's enum type and on SQLite's text.
// Weather's label has a quote, and its values are not 0, 1, 2.
struct Journal {
  keel::Id id;
  std::string note;
  keel::Column<Mood, keel::default_to<Mood::ok>> mood;
  keel::Column<Weather, keel::default_to<Weather::rain>> weather;
};

}  // namespace orm_test
