// The tables the ORM tests use. Included after `import keel;`.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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

}  // namespace orm_test
