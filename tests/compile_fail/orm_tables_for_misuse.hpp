// Tables for the ORM's compile-fail cases. Included after `import keel;`.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

struct Manager {
  keel::Id id;
  std::string name;
};
struct Band {
  keel::Id id;
  std::string name;
  keel::ForeignKey<Manager> manager;
  std::int64_t popularity = 0;
  std::optional<std::string> country;
};
struct Employee {
  keel::Id id;
  std::string name;
  std::optional<keel::ForeignKey<Employee>> manager;
  std::int64_t salary = 0;
};
struct Event {
  keel::Id id;
  std::chrono::sys_days day;
  keel::Json payload;
};
