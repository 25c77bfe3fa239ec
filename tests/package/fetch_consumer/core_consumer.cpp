// Built against keel.core inside a project that fetched keel: a value and the version.
#include <cstdint>
#include <cstdio>
#include <string>
import keel.core;

int main() {
  const keel::Value answer{std::int64_t{42}};
  if (answer.as<std::int64_t>() != 42) return 1;
  std::printf("keel %s built inside another project\n", std::string(keel::version_text).c_str());
  return 0;
}
