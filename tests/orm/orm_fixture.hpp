// The ORM suites' fixture: an engine of the engine under test (KEEL_TEST_ENGINE) with the test tables and three
// bands of two managers. Included after `import keel;`.
#pragma once
#include <memory>
#include <string>
#include <vector>
#include "../engine/engine_fixture.hpp"
#include "orm_tables.hpp"

namespace orm_test {

struct Fixture {
  std::shared_ptr<keel::Engine> engine = keel_test::make_engine();
  keel::Engine& db = *engine;
  Manager guido, graydon;

  Fixture() {
    keel::create_table<Manager>().run_sync(db);
    keel::create_table<Band>().run_sync(db);
    keel::create_table<Concert>().run_sync(db);
    keel::create_table<TicketHolder>().run_sync(db);
    guido = keel::insert(Manager{.name = "Guido"}).run_sync(db);
    graydon = keel::insert(Manager{.name = "Graydon"}).run_sync(db);
    keel::insert(Band{.name = "Pythonistas", .manager = guido, .popularity = 1000, .country = "NL"},
                 Band{.name = "Rustaceans", .manager = graydon, .popularity = 2000, .country = "CA"},
                 Band{.name = "C-Sharps", .manager = guido, .popularity = 10})
        .run_sync(db);
  }
  ~Fixture() { keel::set_default_engine(nullptr); }

  std::vector<std::string> names_by_popularity() {
    return keel::select(keel::c<&Band::name>).order_by(keel::c<&Band::popularity>.desc()).run_sync(db);
  }
};

}  // namespace orm_test
