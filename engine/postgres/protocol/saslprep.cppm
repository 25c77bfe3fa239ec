// SASLprep (RFC 4013) of a SCRAM password, from ICU's stringprep profile for it. SCRAM hashes the prepared
// password (RFC 5802's Normalize); the server prepares a password the same way when it stores its verifier, so a
// client that skips this step fails to log in with a password such as "pass\u00ADword" or a full-width one.
module;
#include <unicode/uchar.h>
#include <unicode/usprep.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>
#include <unicode/utypes.h>
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
export module keel.postgres.protocol:saslprep;

namespace keel::pg::protocol::saslprep_detail {

// Opened once and never closed: the profile is read-only after opening (usprep_prepare takes it as const), and a
// connection made while static objects are destroyed still finds it.
const UStringPrepProfile* saslprep_profile() {
  static const UStringPrepProfile* const profile = [] {
    UErrorCode status = U_ZERO_ERROR;
    UStringPrepProfile* opened = usprep_openByType(USPREP_RFC4013_SASLPREP, &status);
    return U_SUCCESS(status) ? opened : nullptr;
  }();
  return profile;
}

// RFC 3454's table C.1.2 (non-ASCII spaces, mapped to SPACE) and B.1 (mapped to nothing), as SASLprep maps.
bool is_non_ascii_space(UChar32 c) {
  return c == 0x00A0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200B) || c == 0x202F || c == 0x205F || c == 0x3000;
}
bool maps_to_nothing(UChar32 c) {
  return c == 0x00AD || c == 0x034F || c == 0x1806 || (c >= 0x180B && c <= 0x180D) || (c >= 0x200B && c <= 0x200D) ||
         c == 0x2060 || (c >= 0xFE00 && c <= 0xFE0F) || c == 0xFEFF;
}

// What PostgreSQL's pg_saslprep refuses beyond what ICU's profile does. It checks the prohibited characters and
// the directions on the mapped text before NFKC, where RFC 4013 checks after it; the two differ for U+0340 and
// U+0341 (prohibited, which NFKC turns into allowed accents) and for characters whose direction NFKC changes
// (U+FE70, an Arabic form, becomes a space and a mark). The server then stores the typed bytes, so keel must
// hash those too.
bool refused_before_normalizing(const std::vector<UChar32>& mapped) {
  if (mapped.empty()) return true;  // nothing left: PostgreSQL refuses an empty password
  bool right_to_left = false, left_to_right = false;
  auto is_right_to_left = [](UChar32 c) {
    const auto direction = u_charDirection(c);
    return direction == U_RIGHT_TO_LEFT || direction == U_RIGHT_TO_LEFT_ARABIC;
  };
  for (const UChar32 c : mapped) {
    if (c == 0x0340 || c == 0x0341) return true;
    right_to_left = right_to_left || is_right_to_left(c);
    left_to_right = left_to_right || u_charDirection(c) == U_LEFT_TO_RIGHT;
  }
  return right_to_left && (left_to_right || !is_right_to_left(mapped.front()) || !is_right_to_left(mapped.back()));
}

// The code points of UTF-8 text after SASLprep's mapping step; nullopt when the text is not UTF-8.
std::optional<std::vector<UChar32>> mapped_code_points(std::string_view text) {
  std::vector<UChar32> mapped;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(text.data());
  const auto length = static_cast<int32_t>(text.size());
  for (int32_t at = 0; at < length;) {
    UChar32 c;
    U8_NEXT(bytes, at, length, c);
    if (c < 0) return std::nullopt;
    if (is_non_ascii_space(c))
      mapped.push_back(0x20);
    else if (!maps_to_nothing(c))
      mapped.push_back(c);
  }
  return mapped;
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

}  // namespace keel::pg::protocol::saslprep_detail

export namespace keel::pg::protocol {

/// The password that SCRAM hashes: SASLprep's result, or the password unchanged where SASLprep refuses it (not
/// UTF-8, a prohibited or unassigned character, mixed directions, nothing left after mapping). libpq and the
/// server fall back the same way, and keel refuses what PostgreSQL's own SASLprep refuses, so both hash the same
/// bytes. ASCII passes unchanged, as in libpq.
std::string saslprep_password(std::string_view password) {
  std::string unchanged(password);
  if (saslprep_detail::is_ascii(password)) return unchanged;
  const auto mapped = saslprep_detail::mapped_code_points(password);
  if (!mapped || saslprep_detail::refused_before_normalizing(*mapped)) return unchanged;  // not UTF-8, or refused
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
