// libFuzzer target for the client's side of a SCRAM-SHA-256 exchange, against what a server could send. The
// input is the server-first-message, a newline, then the server-final-message. Any input may only complete the
// exchange, or throw keel::pg::protocol::AuthenticationError, whose message never holds the password. A crash,
// a sanitizer report, another exception, or the password in an error's message is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
import keel;
import keel.postgres.protocol;

namespace proto = keel::pg::protocol;

namespace {
constexpr std::string_view password = "pencil";

// Iteration counts past a few thousand only make each run slow (PBKDF2), not the parser more exercised.
bool asks_many_iterations(std::string_view text) {
  for (std::size_t at = text.find("i="); at != std::string_view::npos; at = text.find("i=", at + 2)) {
    std::size_t digits = 0;
    while (at + 2 + digits < text.size() && text[at + 2 + digits] >= '0' && text[at + 2 + digits] <= '9') ++digits;
    if (digits > 4 || (digits == 4 && text.substr(at + 2, 4) > "4096")) return true;
  }
  return false;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (asks_many_iterations(input) || input.find(password) != std::string_view::npos) return 0;
  const std::size_t newline = input.find('\n');
  const std::string_view server_first = input.substr(0, newline);
  const std::string_view server_final =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  (void)proto::saslprep_password(input);  // any bytes: prepared, or returned as they are
  proto::ScramClient scram{std::string(password), {.username = "user", .nonce = "rOprNGfwEbeRWgbNEkqO"}};
  try {
    (void)scram.client_final_message(server_first);
    scram.verify_server_final(server_final);
  } catch (const proto::AuthenticationError& e) {
    if (std::string_view(e.what()).find(password) != std::string_view::npos) std::abort();
  }
  return 0;
}
