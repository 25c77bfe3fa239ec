// A consumer of an installed keel: a table, an insert and a select on the embedded SQLite engine.
#include <cstdio>
#include <memory>
#include <string>
import keel;

struct Note {
  keel::Id id;
  std::string text;
};

int main() {
  auto db = std::make_shared<keel::SqliteEngine>(":memory:");
  keel::set_default_engine(db);
  keel::create_table<Note>().run_sync();
  keel::insert(Note{.text = "from an installed keel"}).run_sync();
  const auto notes = keel::select<Note>().run_sync();
  if (notes.size() != 1) return 1;
  std::printf("%s, keel %s\n", notes[0].text.c_str(), std::string(keel::version_text).c_str());
  return 0;
}
