// SASLprep (RFC 4013) of a SCRAM password, from ICU's stringprep profile for it. SCRAM hashes the prepared
// password (RFC 5802's Normalize); the server prepares a password the same way when it stores its verifier, so a
// client that skips this step fails to log in with a password such as "pass\u00ADword" or a full-width one.
module;
#include <unicode/usprep.h>
#include <unicode/ustring.h>
#include <unicode/utypes.h>
#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
export module keel.postgres.protocol:saslprep;

namespace keel::pg::protocol::saslprep_detail {

struct ProfileCloser {
  void operator()(UStringPrepProfile* profile) const noexcept { usprep_close(profile); }
};

// Opened once: the profile is read-only after opening, and usprep_prepare takes it as const.
const UStringPrepProfile* saslprep_profile() {
  static const std::unique_ptr<UStringPrepProfile, ProfileCloser> profile = [] {
    UErrorCode status = U_ZERO_ERROR;
    UStringPrepProfile* opened = usprep_openByType(USPREP_RFC4013_SASLPREP, &status);
    return std::unique_ptr<UStringPrepProfile, ProfileCloser>(U_SUCCESS(status) ? opened : nullptr);
  }();
  return profile.get();
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace keel::pg::protocol::saslprep_detail

export namespace keel::pg::protocol {

/// The password that SCRAM hashes: SASLprep's result, or the password unchanged where SASLprep refuses it (not
/// UTF-8, a prohibited or unassigned character, mixed directions, nothing left after mapping). libpq and the
/// server fall back the same way, so the two always hash the same bytes. ASCII passes unchanged, as in libpq.
std::string saslprep_password(std::string_view password) {
  std::string unchanged(password);
  if (saslprep_detail::is_ascii(password)) return unchanged;
  const UStringPrepProfile* profile = saslprep_detail::saslprep_profile();
  if (profile == nullptr) return unchanged;

  UErrorCode status = U_ZERO_ERROR;
  std::u16string utf16(password.size(), u'\0');  // UTF-16 never needs more units than UTF-8 has bytes
  int32_t utf16_length = 0;
  u_strFromUTF8(utf16.data(), static_cast<int32_t>(utf16.size()), &utf16_length, password.data(),
                static_cast<int32_t>(password.size()), &status);
  if (U_FAILURE(status)) return unchanged;  // not UTF-8

  // NFKC can lengthen a string (U+FDFA becomes 18 characters); ask again with the size ICU reports.
  std::u16string prepared(static_cast<std::size_t>(utf16_length) * 4 + 16, u'\0');
  for (int attempt = 0; attempt < 2; ++attempt) {
    status = U_ZERO_ERROR;
    UParseError where{};
    const int32_t length = usprep_prepare(profile, utf16.data(), utf16_length, prepared.data(),
                                          static_cast<int32_t>(prepared.size()), USPREP_DEFAULT, &where, &status);
    if (status == U_BUFFER_OVERFLOW_ERROR) {
      prepared.assign(static_cast<std::size_t>(length), u'\0');
      continue;
    }
    if (U_FAILURE(status) || length == 0) return unchanged;  // refused, or an empty password
    prepared.resize(static_cast<std::size_t>(length));
    break;
  }
  if (U_FAILURE(status)) return unchanged;

  std::string utf8(prepared.size() * 3, '\0');
  int32_t utf8_length = 0;
  status = U_ZERO_ERROR;
  u_strToUTF8(utf8.data(), static_cast<int32_t>(utf8.size()), &utf8_length, prepared.data(),
              static_cast<int32_t>(prepared.size()), &status);
  if (U_FAILURE(status)) return unchanged;
  utf8.resize(static_cast<std::size_t>(utf8_length));
  return utf8;
}

}  // namespace keel::pg::protocol
