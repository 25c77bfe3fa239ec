// Must not compile: a value keel cannot bind.
import keel;

struct NotAValue {};
auto misuse() { return keel::raw("SELECT {}", NotAValue{}); }
