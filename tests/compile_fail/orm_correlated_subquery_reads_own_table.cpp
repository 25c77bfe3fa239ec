// Must not compile: keel::outer names the outer query's employee, but the subquery reads employee under the same
// name, so the "outer" column would read the subquery's own row.
import keel;
#include "orm_tables_for_misuse.hpp"

auto misuse() {
  using keel::c;
  const auto peers_average = keel::scalar(
      keel::select(keel::avg(c<&Employee::salary>)).where(c<&Employee::manager> == keel::outer(c<&Employee::manager>)));
  return keel::select(c<&Employee::name>).where(c<&Employee::salary> > peers_average);
}
