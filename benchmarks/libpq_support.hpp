// libpq's side of keel's PostgreSQL benchmarks: a connection that closes itself, and a result check that
// throws with libpq's message. Included by keel-bench and keel-orm-pg-bench.
#pragma once
#include <libpq-fe.h>
#include <memory>
#include <stdexcept>
#include <string>

namespace keel_bench {

struct PqDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using PqConnection = std::unique_ptr<PGconn, PqDeleter>;

inline PqConnection pq_connect(const std::string& dsn) {
  PqConnection c(PQconnectdb(dsn.c_str()));
  if (PQstatus(c.get()) != CONNECTION_OK) throw std::runtime_error(std::string("libpq: ") + PQerrorMessage(c.get()));
  return c;
}

// Clears the result and throws when its status is not the one expected.
inline void pq_check(PGresult* r, ExecStatusType expected, PGconn* c) {
  if (PQresultStatus(r) != expected) {
    const std::string message = PQerrorMessage(c);
    PQclear(r);
    throw std::runtime_error("libpq: " + message);
  }
}

}  // namespace keel_bench
