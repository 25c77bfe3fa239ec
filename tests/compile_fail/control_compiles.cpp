// Must compile: the harness's control, proving that the failures above come from the misuse they show.
#include <string>
import keel;

void fine(keel::Engine& engine) {
  engine.atomic().add(keel::raw("INSERT INTO band VALUES ({})", std::string("x")));
  auto query = keel::raw("SELECT * FROM band WHERE a = {} AND b = {}", 1, 2);
}
