// Aliases, joins on a condition and correlated subqueries against every engine: the same rows everywhere.
// Rendering is checked in tests/unit/orm_render_test.cpp.
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <vector>
import keel;
#include "orm_fixture.hpp"

using namespace orm_test;
using keel::c;
using Names = std::vector<std::string>;
using Boss = keel::Alias<Employee, "boss">;
using Report = keel::Alias<Employee, "report">;
using Peer = keel::Alias<Employee, "peer">;

namespace {

// Ada (lab, no manager) manages Grace (lab) and Linus (ops); Grace manages Ken (lab).
struct Staff : Fixture {
  Employee ada, grace, linus, ken;
  Staff() {
    keel::create_table<Employee>().run_sync(db);
    ada = keel::insert(Employee{.name = "Ada", .department = "lab", .salary = 300}).run_sync(db);
    grace = keel::insert(Employee{.name = "Grace", .manager = ada, .department = "lab", .salary = 200}).run_sync(db);
    linus = keel::insert(Employee{.name = "Linus", .manager = ada, .department = "ops", .salary = 150}).run_sync(db);
    ken = keel::insert(Employee{.name = "Ken", .manager = grace, .department = "lab", .salary = 100}).run_sync(db);
  }
};

// A struct of the caller's that chosen columns decode into.
struct EmployeeAndBoss {
  std::string name;
  std::optional<std::string> boss;  // a left-joined column: std::optional, or it does not compile
  std::int32_t salary = 0;          // an integer column into a narrower integer, range-checked
};

}  // namespace

TEST_CASE_METHOD(Staff, "alias: a table joined to itself along its own foreign key") {
  using Pair = std::tuple<std::string, std::optional<std::string>>;
  // LEFT JOIN keeps Ada, who has no manager, with NULL for hers.
  CHECK(keel::select(c<&Employee::name>, Boss::c<&Employee::name>)
            .left_join<&Employee::manager, Boss>()
            .order_by(c<&Employee::name>)
            .run_sync(db) ==
        std::vector<Pair>{{"Ada", std::nullopt}, {"Grace", "Ada"}, {"Ken", "Grace"}, {"Linus", "Ada"}});
  // JOIN leaves her out; the alias takes conditions and orders like a table.
  CHECK(keel::select(c<&Employee::name>)
            .join<&Employee::manager, Boss>()
            .where(Boss::c<&Employee::name> == "Ada")
            .order_by(c<&Employee::name>.desc())
            .run_sync(db) == Names{"Linus", "Grace"});
  // Two levels up: the alias joins a second alias on a condition.
  using GrandBoss = keel::Alias<Employee, "grand_boss">;
  CHECK(keel::select(c<&Employee::name>, GrandBoss::c<&Employee::name>)
            .join<&Employee::manager, Boss>()
            .join<GrandBoss>(GrandBoss::c<&Employee::id> == Boss::c<&Employee::manager>)
            .run_sync(db) == std::vector<std::tuple<std::string, std::string>>{{"Ken", "Ada"}});
  // Whole rows, of the table and of an alias.
  const std::vector<Employee> kens =
      keel::select<Employee>().join<&Employee::manager, Boss>().where(Boss::c<&Employee::name> == "Grace").run_sync(db);
  REQUIRE(kens.size() == 1);
  CHECK(kens[0].name == "Ken");
  REQUIRE(kens[0].manager.has_value());
  CHECK(kens[0].manager->value == grace.id);
  const std::vector<Employee> bosses = keel::select<Boss>().where(Boss::c<&Employee::manager>.is_null()).run_sync(db);
  REQUIRE(bosses.size() == 1);
  CHECK(bosses[0].name == "Ada");
  CHECK(bosses[0].salary == 300);
}

TEST_CASE_METHOD(Staff, "into: rows of chosen columns decode into a struct of the caller's") {
  const auto pairs = keel::select(c<&Employee::name>, Boss::c<&Employee::name>, c<&Employee::salary>)
                         .left_join<&Employee::manager, Boss>()
                         .into<EmployeeAndBoss>()
                         .order_by(c<&Employee::name>);
  const std::vector<EmployeeAndBoss> rows = pairs.run_sync(db);
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].name == "Ada");
  CHECK_FALSE(rows[0].boss.has_value());
  CHECK(rows[0].salary == 300);
  CHECK(rows[2].name == "Ken");
  CHECK(rows[2].boss == "Grace");
  CHECK(rows[2].salary == 100);
  const std::optional<EmployeeAndBoss> linus = pairs.where(c<&Employee::name> == "Linus").first().run_sync(db);
  REQUIRE(linus);
  CHECK(linus->boss == "Ada");
  // A union of two such selects decodes into the struct too.
  const auto both = keel::union_all(keel::select(c<&Employee::name>, Boss::c<&Employee::name>, c<&Employee::salary>)
                                        .join<&Employee::manager, Boss>()
                                        .into<EmployeeAndBoss>(),
                                    keel::select(c<&Employee::name>, c<&Employee::department>, c<&Employee::salary>)
                                        .where(c<&Employee::manager>.is_null())
                                        .into<EmployeeAndBoss>())
                        .order_by(c<&Employee::salary>.desc())
                        .run_sync(db);
  REQUIRE(both.size() == 4);
  CHECK(both[0].name == "Ada");
  CHECK(both[0].boss == "lab");
  CHECK(both[3].name == "Ken");
}

TEST_CASE_METHOD(Staff, "alias: the other way along the key, on a condition, counted per manager") {
  const auto reports = keel::select(c<&Employee::name>, keel::count(Report::c<&Employee::id>))
                           .left_join<Report>(Report::c<&Employee::manager> == c<&Employee::id>)
                           .group_by(c<&Employee::name>)
                           .order_by(c<&Employee::name>);
  CHECK(reports.run_sync(db) ==
        std::vector<std::tuple<std::string, std::int64_t>>{{"Ada", 2}, {"Grace", 1}, {"Ken", 0}, {"Linus", 0}});
  // A value in the condition is bound before the WHERE's: only reports paid under 180, of lab employees.
  CHECK(keel::select(c<&Employee::name>, Report::c<&Employee::name>)
            .join<Report>(Report::c<&Employee::manager> == c<&Employee::id> && Report::c<&Employee::salary> < 180)
            .where(c<&Employee::department> == "lab")
            .order_by(c<&Employee::name>, Report::c<&Employee::name>)
            .run_sync(db) == std::vector<std::tuple<std::string, std::string>>{{"Ada", "Linus"}, {"Grace", "Ken"}});
}

TEST_CASE_METHOD(Staff, "alias: tables joined on a condition, not along a key") {
  const std::int64_t rustaceans = keel::select(c<&Band::id>).where(c<&Band::name> == "Rustaceans").run_sync(db).at(0);
  keel::insert(Concert{.band = rustaceans, .venue = "Paradiso", .price = 120},
               Concert{.band = rustaceans, .venue = "Melkweg", .price = 40})
      .run_sync(db);
  using Row = std::tuple<std::string, std::optional<std::string>>;
  CHECK(keel::select(c<&Band::name>, c<&Concert::venue>)
            .left_join<Concert>(c<&Concert::band> == c<&Band::id> && c<&Concert::price> < 50.0)
            .where(c<&Band::popularity> > 500)
            .order_by(c<&Band::name>)
            .run_sync(db) == std::vector<Row>{{"Pythonistas", std::nullopt}, {"Rustaceans", "Melkweg"}});
}

TEST_CASE_METHOD(Staff, "alias: a locking select of a self-join runs in a transaction on every engine") {
  const auto raised = db.transaction_sync([&] {
    const auto reports_of_ada = keel::select(c<&Employee::id>)
                                    .join<&Employee::manager, Boss>()
                                    .where(Boss::c<&Employee::name> == "Ada")
                                    .for_update()
                                    .run_sync(db);
    return keel::update<Employee>()
        .set(c<&Employee::salary>, c<&Employee::salary> + 1)
        .where(c<&Employee::id>.in(reports_of_ada))
        .run_sync(db);
  });
  CHECK(raised == 2);
  CHECK(keel::select(c<&Employee::salary>).where(c<&Employee::name> == "Linus").run_sync(db) ==
        std::vector<std::int64_t>{151});
}

TEST_CASE_METHOD(Staff, "correlated subquery: the outer row's column inside a subquery") {
  // Paid above their department's average: lab averages 200, ops 150.
  const auto average_of_department =
      keel::scalar(keel::select(keel::avg(Peer::c<&Employee::salary>))
                       .where(Peer::c<&Employee::department> == keel::outer(c<&Employee::department>)));
  CHECK(keel::select(c<&Employee::name>).where(c<&Employee::salary> > average_of_department).run_sync(db) ==
        Names{"Ada"});
  // Per manager, as a value in the select list: how many bands each has.
  using Count = std::tuple<std::string, std::optional<std::int64_t>>;
  CHECK(keel::select(c<&Manager::name>,
                     keel::scalar(keel::count<Band>().where(c<&Band::manager> == keel::outer(c<&Manager::id>))))
            .order_by(c<&Manager::name>)
            .run_sync(db) == std::vector<Count>{{"Graydon", 1}, {"Guido", 2}});
  // EXISTS per row; the bands with a concert.
  const std::int64_t pythonistas = keel::select(c<&Band::id>).where(c<&Band::name> == "Pythonistas").run_sync(db).at(0);
  keel::insert(Concert{.band = pythonistas, .venue = "Tivoli"}).run_sync(db);
  CHECK(keel::select(c<&Band::name>)
            .where(keel::exists(keel::select(c<&Concert::id>).where(c<&Concert::band> == keel::outer(c<&Band::id>))))
            .run_sync(db) == Names{"Pythonistas"});
  // In an UPDATE and a DELETE, whose own columns are bare.
  CHECK(keel::update<Band>()
            .set(c<&Band::popularity>,
                 keel::scalar(keel::count<Concert>().where(c<&Concert::band> == keel::outer(c<&Band::id>))))
            .where(c<&Band::popularity> > 0)
            .run_sync(db) == 3);
  CHECK(keel::select(c<&Band::name>).where(c<&Band::popularity> == 1).run_sync(db) == Names{"Pythonistas"});
  const Manager nobody = keel::insert(Manager{.name = "Nobody"}).run_sync(db);
  CHECK(
      keel::delete_from<Manager>()
          .where(keel::not_exists(keel::select(c<&Band::id>).where(c<&Band::manager> == keel::outer(c<&Manager::id>))))
          .run_sync(db) == 1);
  CHECK(keel::count<Manager>().where(c<&Manager::id> == nobody.id).run_sync(db) == 0);
}

TEST_CASE_METHOD(Staff, "correlated subquery: two levels out") {
  // The employees with a report who has a report paid a third of them: Ada (300), through Grace, to Ken (100).
  // Read from Grace's level instead, outer(outer(...)) would find no one (Grace earns 200).
  const auto has_such_grand_report = keel::exists(
      keel::select(Peer::c<&Employee::id>)
          .where(Peer::c<&Employee::manager> == keel::outer(c<&Employee::id>))
          .where(keel::exists(
              keel::select(Report::c<&Employee::id>)
                  .where(Report::c<&Employee::manager> == keel::outer(Peer::c<&Employee::id>) &&
                         Report::c<&Employee::salary> * 3 == keel::outer(keel::outer(c<&Employee::salary>))))));
  CHECK(keel::select(c<&Employee::name>).where(has_such_grand_report).run_sync(db) == Names{"Ada"});
}
