// Must not compile: an atomic run takes queries only.
#include <string>
import keel;

void misuse(keel::Engine& engine) { engine.atomic().add(std::string("INSERT INTO band VALUES (1)")); }
