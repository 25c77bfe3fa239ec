#include <catch2/catch.hpp>
#include <exception>
#include <string>
import keel;

namespace {
keel::ErrorFields fields(std::string sqlstate) {
  keel::ErrorFields f;
  f.sqlstate = std::move(sqlstate);
  f.message = "boom";
  f.detail = "some detail";
  return f;
}
}  // namespace

TEST_CASE("a database error is thrown as the most specific class of its SQLSTATE") {
  CHECK_THROWS_AS(keel::throw_database_error(fields("23505")), keel::UniqueViolation);
  CHECK_THROWS_AS(keel::throw_database_error(fields("23502")), keel::NotNullViolation);
  CHECK_THROWS_AS(keel::throw_database_error(fields("23503")), keel::ForeignKeyViolation);
  CHECK_THROWS_AS(keel::throw_database_error(fields("23514")), keel::CheckViolation);
  CHECK_THROWS_AS(keel::throw_database_error(fields("23P01")), keel::IntegrityConstraintViolation);  // by class
  CHECK_THROWS_AS(keel::throw_database_error(fields("40001")), keel::SerializationFailure);
  CHECK_THROWS_AS(keel::throw_database_error(fields("40P01")), keel::DeadlockDetected);
  CHECK_THROWS_AS(keel::throw_database_error(fields("42601")), keel::SyntaxError);
  CHECK_THROWS_AS(keel::throw_database_error(fields("42P01")), keel::UndefinedTable);
  CHECK_THROWS_AS(keel::throw_database_error(fields("42703")), keel::UndefinedColumn);
  CHECK_THROWS_AS(keel::throw_database_error(fields("28P01")), keel::InvalidPassword);
  CHECK_THROWS_AS(keel::throw_database_error(fields("57014")), keel::QueryCanceled);
  CHECK_THROWS_AS(keel::throw_database_error(fields("55P03")), keel::LockNotAvailable);
  CHECK_THROWS_AS(keel::throw_database_error(fields("25P02")), keel::TransactionAborted);
  CHECK_THROWS_AS(keel::throw_database_error(fields("25001")), keel::InvalidTransactionState);
  CHECK_THROWS_AS(keel::throw_database_error(fields("3B001")), keel::InvalidSavepoint);
  CHECK_THROWS_AS(keel::throw_commit_rolled_back(), keel::TransactionAborted);
  CHECK_THROWS_AS(keel::throw_database_error(fields("P0001")), keel::DatabaseError);
}

TEST_CASE("a database error's message shows the server's message, SQLSTATE and detail") {
  try {
    keel::throw_database_error(fields("23505"));
    FAIL("nothing thrown");
  } catch (const keel::DatabaseError& e) {
    CHECK(std::string(e.what()) == "boom (SQLSTATE 23505)\nDETAIL: some detail");
    CHECK(e.sqlstate() == "23505");
    CHECK(e.fields().detail == "some detail");
  }
}

TEST_CASE("message_of says what a failure held in an exception_ptr says") {
  CHECK(keel::message_of(std::make_exception_ptr(keel::MisuseError("wrong use"))) == "wrong use");
  CHECK(keel::message_of(std::make_exception_ptr(42)) == "unknown error");
  CHECK(keel::message_of(nullptr).empty());
}
