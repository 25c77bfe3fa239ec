// The client side of PostgreSQL's password authentication, as pure computations over bytes: md5 and
// SCRAM-SHA-256 (RFC 5802, RFC 7677), with tls-server-end-point channel binding for SCRAM-SHA-256-PLUS.
// Hashes, HMAC, PBKDF2, base64 and random nonces come from OpenSSL.
module;
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
export module keel.postgres.protocol:authentication;
import keel.core;
import :saslprep;

export namespace keel::pg::protocol {

/// Base64 of the bytes.
std::string base64_encode(std::span<const std::uint8_t> bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}
/// Base64 of the text's bytes.
std::string base64_encode(std::string_view text) {
  return base64_encode(std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

/// Decodes base64; nullopt when the text is not base64.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  for (char c : text)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
          c == '='))
      return std::nullopt;
  std::vector<std::uint8_t> out(3 * text.size() / 4);
  const int n =
      EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the bytes that the padding stands for; drop them.
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

/// The md5 password: "md5" + md5hex(md5hex(password + user) + salt).
std::string md5_password(std::string_view user, std::string_view password, std::span<const std::uint8_t> salt) {
  auto md5_hex = [](std::span<const std::uint8_t> data) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(data.data(), data.size(), digest, &length, EVP_md5(), nullptr) != 1)
      throw ClientError("OpenSSL could not compute an MD5 digest (is MD5 disabled, as in FIPS mode?)");
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < length; ++i) {
      out += hex[digest[i] >> 4];
      out += hex[digest[i] & 15];
    }
    return out;
  };
  std::vector<std::uint8_t> inner(password.begin(), password.end());
  inner.insert(inner.end(), user.begin(), user.end());
  std::string first = md5_hex(inner);
  std::vector<std::uint8_t> outer(first.begin(), first.end());
  outer.insert(outer.end(), salt.begin(), salt.end());
  return "md5" + md5_hex(outer);
}

/// A SHA-256 digest.
using Digest = std::array<std::uint8_t, 32>;

/// HMAC-SHA-256 of `data` under `key`.
Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data) {
  Digest out{};
  unsigned int length = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
            data.size(), out.data(), &length))
    throw ClientError("OpenSSL could not compute an HMAC-SHA-256");
  return out;
}

/// SHA-256 of `data`.
Digest sha256(std::span<const std::uint8_t> data) {
  Digest out{};
  SHA256(data.data(), data.size(), out.data());
  return out;
}

/// A SCRAM-SHA-256 exchange, from the client's side:
///
///     ScramClient scram(password);                  // or with channel binding data, for -PLUS
///     send scram.client_first_message()              (in SASLInitialResponse)
///     send scram.client_final_message(server_first)  (in SASLResponse)
///     scram.verify_server_final(server_final)        (throws AuthenticationError if the server cannot prove it
///                                                     knows the password)
///
class ScramClient {
public:
  /// What the exchange uses besides the password.
  struct Options {
    std::string username;  ///< PostgreSQL ignores it and keel sends it empty
    std::string nonce;     ///< empty: 18 random bytes, base64 (tests give their own)
    std::optional<std::vector<std::uint8_t>> channel_binding;  ///< tls-server-end-point data, for SCRAM-SHA-256-PLUS
    bool client_supports_binding = false;                      ///< "y" when the client could bind but the server can't
  };

  /// An exchange for `password`, with the default options: a random nonce, no channel binding.
  explicit ScramClient(std::string password) : ScramClient(std::move(password), Options{}) {}
  /// An exchange for `password` (prepared with SASLprep), as `options` say.
  ScramClient(std::string password, Options options)
      : password_(saslprep_password(password)), options_(std::move(options)) {
    if (options_.nonce.empty()) {
      std::array<std::uint8_t, 18> random{};
      if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1)
        throw ClientError("OpenSSL could not produce random bytes for the SCRAM nonce");
      options_.nonce = base64_encode(random);
    }
    if (options_.channel_binding)
      gs2_header_ = "p=tls-server-end-point,,";
    else
      gs2_header_ = options_.client_supports_binding ? "y,," : "n,,";
    client_first_bare_ = "n=" + escape_name(options_.username) + ",r=" + options_.nonce;
  }

  /// The SASL mechanism: SCRAM-SHA-256-PLUS with channel binding, else SCRAM-SHA-256.
  std::string_view mechanism() const noexcept {
    return options_.channel_binding ? "SCRAM-SHA-256-PLUS" : "SCRAM-SHA-256";
  }

  /// The client-first-message, for SASLInitialResponse.
  std::string client_first_message() const { return gs2_header_ + client_first_bare_; }

  /// Reads "r=<nonce>,s=<salt>,i=<iterations>" and answers with the proof.
  std::string client_final_message(std::string_view server_first) {
    server_first_ = std::string(server_first);
    std::string_view nonce, salt_text, iterations_text;
    for (std::string_view part : split(server_first)) {
      if (part.starts_with("r="))
        nonce = part.substr(2);
      else if (part.starts_with("s="))
        salt_text = part.substr(2);
      else if (part.starts_with("i="))
        iterations_text = part.substr(2);
      else if (part.starts_with("m="))
        throw AuthenticationError("SCRAM: the server requires an extension keel does not know");
    }
    if (nonce.empty() || salt_text.empty() || iterations_text.empty())
      throw AuthenticationError("SCRAM: the server-first-message lacks its nonce, salt or iteration count: " +
                                std::string(server_first));
    if (!nonce.starts_with(options_.nonce) || nonce.size() == options_.nonce.size())
      throw AuthenticationError("SCRAM: the server's nonce does not extend the client's");
    const auto salt = base64_decode(salt_text);
    if (!salt || salt->empty()) throw AuthenticationError("SCRAM: the server's salt is not base64");
    int iterations = 0;
    for (char c : iterations_text) {
      if (c < '0' || c > '9' || iterations > 100'000'000) throw AuthenticationError("SCRAM: a bad iteration count");
      iterations = iterations * 10 + (c - '0');
    }
    if (iterations < 1) throw AuthenticationError("SCRAM: a bad iteration count");

    // SaltedPassword := Hi(Normalize(password), salt, i), with PBKDF2-HMAC-SHA-256; Normalize is SASLprep,
    // applied when the client was made.
    Digest salted{};
    if (PKCS5_PBKDF2_HMAC(password_.data(), static_cast<int>(password_.size()), salt->data(),
                          static_cast<int>(salt->size()), iterations, EVP_sha256(), static_cast<int>(salted.size()),
                          salted.data()) != 1)
      throw ClientError("OpenSSL could not compute PBKDF2-HMAC-SHA-256");
    salted_password_ = salted;

    std::vector<std::uint8_t> binding(gs2_header_.begin(), gs2_header_.end());
    if (options_.channel_binding)
      binding.insert(binding.end(), options_.channel_binding->begin(), options_.channel_binding->end());
    const std::string without_proof = "c=" + base64_encode(binding) + ",r=" + std::string(nonce);
    auth_message_ = client_first_bare_ + "," + server_first_ + "," + without_proof;

    const Digest client_key = hmac_sha256(salted, "Client Key");
    const Digest stored_key = sha256(client_key);
    const Digest client_signature = hmac_sha256(stored_key, auth_message_);
    Digest proof{};
    for (std::size_t i = 0; i < proof.size(); ++i) proof[i] = client_key[i] ^ client_signature[i];
    return without_proof + ",p=" + base64_encode(proof);
  }

  /// Checks "v=<server signature>"; "e=<error>" or a wrong signature throws.
  void verify_server_final(std::string_view server_final) const {
    if (!salted_password_) throw MisuseError("SCRAM: verify_server_final before client_final_message");
    if (server_final.starts_with("e="))
      throw AuthenticationError("SCRAM: the server refused the exchange: " + std::string(server_final.substr(2)));
    std::string_view signature;
    for (std::string_view part : split(server_final))
      if (part.starts_with("v=")) signature = part.substr(2);
    const Digest server_key = hmac_sha256(*salted_password_, "Server Key");
    const Digest expected = hmac_sha256(server_key, auth_message_);
    const auto given = base64_decode(signature);
    if (!given || given->size() != expected.size() || !std::equal(expected.begin(), expected.end(), given->begin()))
      throw AuthenticationError(
          "SCRAM: the server's signature is wrong; it does not know the password, so keel "
          "stops talking to it");
  }

private:
  static std::vector<std::string_view> split(std::string_view text) {
    std::vector<std::string_view> parts;
    while (!text.empty()) {
      const std::size_t comma = text.find(',');
      parts.push_back(text.substr(0, comma));
      if (comma == std::string_view::npos) break;
      text.remove_prefix(comma + 1);
    }
    return parts;
  }
  // saslname: ',' and '=' are written =2C and =3D.
  static std::string escape_name(std::string_view name) {
    std::string out;
    for (char c : name) {
      if (c == ',')
        out += "=2C";
      else if (c == '=')
        out += "=3D";
      else
        out += c;
    }
    return out;
  }

  std::string password_;
  Options options_;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string auth_message_;
  std::optional<Digest> salted_password_;
};

}  // namespace keel::pg::protocol
