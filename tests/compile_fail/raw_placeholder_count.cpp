// Must not compile: two {} placeholders, one value.
import keel;

auto misuse() { return keel::raw("SELECT * FROM band WHERE a = {} AND b = {}", 1); }
