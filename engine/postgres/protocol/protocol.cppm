// keel.postgres.protocol: the PostgreSQL v3 wire protocol as pure functions over bytes, with no I/O, as
// rust-postgres's protocol crate is apart from its client. The transport and the client build on it.
//
// The library is this one module unit: each concept keeps its own file (a .inc beside this one), included
// below in an order where each comes after the ones it uses. One unit, not one per concept, so that an
// importer reads the standard library and Asio once per library rather than once per concept.
module;
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <unicode/uchar.h>
#include <unicode/usprep.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>
#include <unicode/utypes.h>
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <ranges>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>
export module keel.postgres.protocol;
export import keel.core;  // its values and errors (AuthenticationError, ...) with it

#include "frontend.inc"
#include "backend.inc"
#include "saslprep.inc"
#include "authentication.inc"
#include "sql_text.inc"
