// libFuzzer target for the connection-string parser (key=value strings and postgresql:// URIs). Any input may
// only parse, or throw keel::pg::DsnError; and no error may quote the password. The fuzzer's text gets a
// password of its own: password=... before a key=value string, or the URI's user info. A crash, a
// sanitizer report, another exception, or the password in an error's message is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
import keel;
import keel.postgres;

namespace {
constexpr std::string_view secret = "Zq7secretXw";

std::optional<std::string> no_environment(std::string_view) { return std::nullopt; }
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.find(secret) != std::string_view::npos) return 0;  // the input names the secret itself
  std::string dsn;
  bool uri = false;
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    if (input.starts_with(scheme)) {
      dsn = std::string(scheme) + "fuzz:" + std::string(secret) + "@" + std::string(input.substr(scheme.size()));
      uri = true;
    }
  }
  // First in a key=value string, where nothing the fuzzer writes can run into it.
  if (!uri) dsn = "password=" + std::string(secret) + " " + std::string(input);
  try {
    const keel::pg::ConnectOptions options = keel::pg::parse_dsn(dsn, no_environment);
    // Where the text names no other password (nor user info of its own), the one given is the one read.
    if (input.find("password") == std::string_view::npos && input.find('@') == std::string_view::npos &&
        options.password != std::string(secret))
      std::abort();
  } catch (const keel::pg::DsnError& e) {
    if (std::string_view(e.what()).find(secret) != std::string_view::npos) std::abort();  // a leaked password
  }
  return 0;
}
