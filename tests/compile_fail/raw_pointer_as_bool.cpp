// Must not compile: a pointer converts to bool in C++, but it is not a SQL value.
import keel;

int answer = 42;
auto misuse() { return keel::raw("SELECT {}", &answer); }
