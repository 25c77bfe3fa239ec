// Must not compile: outer(outer(...)) names the outermost employee, but the innermost subquery reads employee
// under the same name, so the column would read the innermost row.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  using Peer = keel::Alias<Employee, "peer">;
  const auto innermost = keel::select(c<&Employee::id>)
                             .where(c<&Employee::manager> == keel::outer(Peer::c<&Employee::id>) &&
                                    c<&Employee::salary> * 3 == keel::outer(keel::outer(c<&Employee::salary>)));
  const auto middle = keel::select(Peer::c<&Employee::id>)
                          .where(Peer::c<&Employee::manager> == keel::outer(c<&Employee::id>))
                          .where(keel::exists(innermost));
  return keel::select(c<&Employee::name>).where(keel::exists(middle));
}
